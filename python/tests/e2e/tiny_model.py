"""A tiny Llama-architecture model built locally, for end-to-end KV-cache tests.

Everything is made on this machine: random weights from a fixed seed, saved as safetensors,
and a byte-level BPE tokenizer trained on fixed text with `tokenizers`. Nothing is
downloaded (HF_HUB_OFFLINE is set on import). The model is small enough to run on one CPU
core in milliseconds, yet has the shapes that matter to a KV store: several layers, grouped
query attention (4 query heads, 2 KV heads) and a real head dimension.

Typical use::

    path = build_tiny_llama(tmp_dir)
    model, tokenizer = load_tiny_llama(path)
    ids = encode(tokenizer, "the quick brown fox")
    kv = prefill_kv(model, ids)              # per layer (K, V), [kv_heads, tokens, head_dim]
    tokens, logits = greedy_decode(model, kv, ids[-1:], steps=8)
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from dataclasses import dataclass
from pathlib import Path

import torch

# Per-layer prefill KV: (K, V), each [num_kv_heads, num_tokens, head_dim] for batch 1.
LayerKV = tuple[torch.Tensor, torch.Tensor]

SEED = 1234


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Shape of the tiny model. Defaults: 4 layers, hidden 128, 4 heads, 2 KV heads (GQA).

    vocab_size is the BPE trainer's target; the fixed corpus yields about 600 tokens, and
    the model's embedding is sized to the vocabulary actually trained."""

    num_layers: int = 4
    hidden_size: int = 128
    intermediate_size: int = 256
    num_heads: int = 4
    num_kv_heads: int = 2
    vocab_size: int = 1000
    max_positions: int = 1024
    seed: int = SEED

    @property
    def head_dim(self) -> int:
        """Per-head dimension (hidden_size / num_heads)."""
        return self.hidden_size // self.num_heads


# Fixed training text for the tokenizer: enough distinct words to fill a ~1000-entry vocab.
_CORPUS_WORDS = (
    "the quick brown fox jumps over the lazy dog while a cache of keys and values waits in "
    "memory for the next request to arrive from an engine that serves many users at once "
    "blocks are written once and read back on a prefix hit instead of recomputing prefill "
    "storage tiers flash dram network host device layer head token page batch model rank "
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
    "rho sigma tau upsilon phi chi psi omega one two three four five six seven eight nine ten"
).split()


def _corpus() -> list[str]:
    """Deterministic pseudo-sentences built from the fixed word list."""
    gen = torch.Generator().manual_seed(SEED)
    lines = []
    for _ in range(2000):
        idx = torch.randint(0, len(_CORPUS_WORDS), (12,), generator=gen).tolist()
        lines.append(" ".join(_CORPUS_WORDS[i] for i in idx))
    lines.append(" ".join(_CORPUS_WORDS))
    return lines


def _build_tokenizer(spec: TinyLlamaSpec, out_dir: Path) -> None:
    """Trains a byte-level BPE tokenizer locally and saves it in transformers' format."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(str(out_dir))


def _build_model(spec: TinyLlamaSpec, vocab_size: int, out_dir: Path) -> None:
    """Creates the random-weight Llama model (fixed seed) and saves it as safetensors."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        head_dim=spec.head_dim,
        max_position_embeddings=spec.max_positions,
        bos_token_id=0,
        eos_token_id=1,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    # Default init (std 0.02) makes near-uniform logits; larger weights give peaked,
    # prompt-dependent greedy choices, so a wrong KV byte changes tokens or logits.
    with torch.no_grad():
        gen = torch.Generator().manual_seed(spec.seed)
        for param in model.parameters():
            if param.dim() >= 2:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.15)
    model.save_pretrained(str(out_dir), safe_serialization=True)


def build_tiny_llama(out_dir: str | os.PathLike[str], spec: TinyLlamaSpec | None = None) -> Path:
    """Builds the tiny model and tokenizer into out_dir (created if needed); returns its path.

    Deterministic: the same spec gives the same weights and vocabulary on every call.
    """
    spec = spec or TinyLlamaSpec()
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    _build_tokenizer(spec, path)
    from transformers import AutoTokenizer

    vocab_size = len(AutoTokenizer.from_pretrained(str(path), local_files_only=True))
    _build_model(spec, vocab_size, path)
    return path


def load_tiny_llama(path: str | os.PathLike[str]) -> tuple[torch.nn.Module, object]:
    """Loads (model in eval mode, float32, CPU; tokenizer) from a build_tiny_llama folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(path), local_files_only=True, dtype=torch.float32
    )
    model.eval()
    return model, tokenizer


def encode(tokenizer: object, text: str) -> list[int]:
    """Token ids of text (no special tokens added)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])  # type: ignore[operator]


def _cache_layers(cache: object) -> list[LayerKV]:
    """Per-layer (K, V) of a transformers cache object or legacy tuple, batch dim kept."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))  # type: ignore[attr-defined]
    return [(k, v) for k, v in cache]  # type: ignore[union-attr]


@torch.no_grad()
def prefill_kv(model: torch.nn.Module, input_ids: list[int]) -> list[LayerKV]:
    """Runs the prefill of input_ids (batch 1); returns per-layer contiguous (K, V) copies,
    each [num_kv_heads, num_tokens, head_dim] in the model's dtype."""
    ids = torch.tensor([input_ids], dtype=torch.long)
    out = model(input_ids=ids, use_cache=True)
    return [(k[0].contiguous().clone(), v[0].contiguous().clone())
            for k, v in _cache_layers(out.past_key_values)]


def make_cache(kv: list[LayerKV]) -> object:
    """A transformers DynamicCache holding kv (per layer [kv_heads, tokens, head_dim])."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer_idx, (k, v) in enumerate(kv):
        cache.update(k.unsqueeze(0).clone(), v.unsqueeze(0).clone(), layer_idx)
    return cache


@torch.no_grad()
def greedy_decode(
    model: torch.nn.Module, kv: list[LayerKV], next_ids: list[int], steps: int
) -> tuple[list[int], torch.Tensor]:
    """Greedy decoding continuing from the prefix whose KV is kv.

    next_ids are the tokens after the cached prefix (at least one: typically the prompt's
    last token, when kv covers all prompt tokens but that one). Returns (the steps generated
    token ids, the logits of every step stacked as [steps, vocab]).
    """
    if not next_ids:
        raise ValueError("greedy_decode needs at least one token after the cached prefix")
    cache = make_cache(kv)
    ids = torch.tensor([next_ids], dtype=torch.long)
    tokens: list[int] = []
    all_logits: list[torch.Tensor] = []
    for _ in range(steps):
        out = model(input_ids=ids, past_key_values=cache, use_cache=True)
        logits = out.logits[0, -1].float()
        token = int(torch.argmax(logits))
        tokens.append(token)
        all_logits.append(logits.clone())
        cache = out.past_key_values
        ids = torch.tensor([[token]], dtype=torch.long)
    return tokens, torch.stack(all_logits)


@torch.no_grad()
def reference_decode(
    model: torch.nn.Module, prompt_ids: list[int], cached_tokens: int, steps: int
) -> tuple[list[int], torch.Tensor]:
    """Greedy decoding after a fresh prefill of prompt_ids[:cached_tokens]: the baseline
    that a decode from reloaded KV must reproduce exactly."""
    kv = prefill_kv(model, prompt_ids[:cached_tokens])
    return greedy_decode(model, kv, prompt_ids[cached_tokens:], steps)
