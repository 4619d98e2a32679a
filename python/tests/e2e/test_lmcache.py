"""End to end: real prefill KV through LMCache's own classes into a real kvstashd and back.

Two paths, both with LMCache's real code (nothing of LMCache is mocked):

* MP mode: the ``--l2-adapter`` JSON is parsed by LMCache's MP-server argument parser and
  built by its adapter registry: the ``native_plugin`` factory wraps
  ``kvstash_client.lmcache.KVStashNativeConnector`` in LMCache's ``NativeConnectorL2Adapter``;
  chunks go through the adapter's store, lookup-and-lock and load tasks.
* Remote backend: LMCache's ``RemoteBackend`` with ``remote_storage_plugins: ["kvstash"]``
  loads ``KVStashRemoteConnector`` through its plugin loader; chunks go through
  ``batched_submit_put_task``, ``batched_contains`` and ``batched_get_blocking``, in both
  value layouts (LMCache metadata header or bytes only).

The KV is the tiny Llama model's prefill of real prompts, cut into LMCache's KV_2LTD chunks
([2, layers, tokens, kv_heads*head_dim]); the last chunk of each prompt is partial. Every
chunk read back must equal the stored one byte for byte, and greedy decoding from the
reloaded KV must give the same tokens and bit-identical logits as after a fresh prefill.
Stopping kvstashd mid-run must give misses and failed stores, never an exception.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# Skipped where LMCache is not installed (CI's light venv); KVSTASH_E2E_STRICT=1 makes a
# missing LMCache an error instead, so an e2e run cannot pass by skipping.
if os.environ.get("KVSTASH_E2E_STRICT") != "1":
    pytest.importorskip("lmcache", reason="LMCache is installed by scripts/e2e")

import torch  # noqa: E402
from lmcache.utils import CacheEngineKey  # noqa: E402
from lmcache.v1.config import LMCacheEngineConfig  # noqa: E402
from lmcache.v1.distributed.api import ObjectKey  # noqa: E402
from lmcache.v1.distributed.l2_adapters.config import (  # noqa: E402
    add_l2_adapters_args,
    parse_args_to_l2_adapters_config,
)
from lmcache.v1.distributed.l2_adapters.factory import (  # noqa: E402
    create_l2_adapter_from_registry,
)
from lmcache.v1.distributed.l2_adapters.native_connector_l2_adapter import (  # noqa: E402
    NativeConnectorL2Adapter,
)
from lmcache.v1.distributed.l2_adapters.native_plugin_l2_adapter import (  # noqa: E402
    NativePluginL2AdapterConfig,
)
from lmcache.v1.memory_management import MemoryFormat, MemoryObj  # noqa: E402
from lmcache.v1.metadata import LMCacheMetadata  # noqa: E402
from lmcache.v1.platform.event_notifier import consume_fd  # noqa: E402
from lmcache.v1.storage_backend.connector import CreateConnector  # noqa: E402
from lmcache.v1.storage_backend.local_cpu_backend import LocalCPUBackend  # noqa: E402
from lmcache.v1.storage_backend.remote_backend import RemoteBackend  # noqa: E402
from tiny_model import (  # noqa: E402
    LayerKV,
    TinyLlamaSpec,
    build_tiny_llama,
    encode,
    greedy_decode,
    load_tiny_llama,
    prefill_kv,
    reference_decode,
)

from kvstash_client.lmcache import (  # noqa: E402
    KVStashNativeConnector,
    KVStashRemoteConnector,
    RemoteOptions,
)

CHUNK = 16  # tokens per LMCache chunk
MODEL = "kvstash-tiny-llama"
DECODE_STEPS = 8
WAIT_S = 30.0
SPEC = TinyLlamaSpec()
PROMPTS = (
    "the quick brown fox jumps over the lazy dog while a cache of keys and values waits",
    "blocks are written once and read back on a prefix hit instead of recomputing prefill "
    "storage tiers flash dram network host device layer head token page batch model rank "
    "alpha beta gamma delta epsilon zeta",
    "one two three four five six seven eight nine ten omega psi chi phi upsilon tau sigma rho "
    "pi omicron xi nu mu lambda kappa iota theta eta zeta epsilon delta gamma beta alpha the end "
    "of a long prompt that spans several chunks of sixteen tokens each",
)


# ---------------------------------------------------------------------------------------
# The model, its prompts and their KV in LMCache's chunk layout.
# ---------------------------------------------------------------------------------------


@dataclass
class PromptKV:
    """A prompt's ids, the prefill KV of all ids but the last, and that KV as chunks."""

    ids: list[int]
    chunks: list[torch.Tensor]  # KV_2LTD chunks, [2, L, t, H], contiguous
    hashes: list[bytes]  # chained prefix hash of each chunk

    @property
    def cached(self) -> int:
        """Number of tokens whose KV is cached (all but the last)."""
        return len(self.ids) - 1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Any]:
    """The tiny model and tokenizer, built once for this module."""
    torch.set_num_threads(1)
    path = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), SPEC)
    return load_tiny_llama(path)


@pytest.fixture(scope="module")
def prompts(tiny: tuple[torch.nn.Module, Any]) -> list[PromptKV]:
    """Every prompt's KV, chunked; at least one prompt needs three or more chunks."""
    model, tokenizer = tiny
    out = []
    for text in PROMPTS:
        ids = encode(tokenizer, text)
        kv = prefill_kv(model, ids[:-1])
        full = layers_to_2ltd(kv)
        chunks = [full[:, :, s : s + CHUNK].contiguous() for s in range(0, full.shape[2], CHUNK)]
        out.append(PromptKV(ids, chunks, chain_hashes(ids[:-1])))
    assert max(len(p.chunks) for p in out) >= 3
    assert any(p.cached % CHUNK for p in out), "want a partial last chunk"
    return out


def layers_to_2ltd(kv: list[LayerKV]) -> torch.Tensor:
    """Per-layer (K, V) [kv_heads, T, head_dim] -> LMCache KV_2LTD [2, L, T, kv_heads*head_dim]."""

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.permute(1, 0, 2).reshape(t.shape[1], -1)

    return torch.stack(
        [torch.stack([flat(k) for k, _ in kv]), torch.stack([flat(v) for _, v in kv])]
    ).contiguous()


def ltd_to_layers(full: torch.Tensor) -> list[LayerKV]:
    """Inverse of layers_to_2ltd."""
    tokens = full.shape[2]

    def unflat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(tokens, SPEC.num_kv_heads, SPEC.head_dim).permute(1, 0, 2).contiguous()

    return [(unflat(full[0, layer]), unflat(full[1, layer])) for layer in range(full.shape[1])]


def chain_hashes(ids: list[int]) -> list[bytes]:
    """Prefix-chained SHA-256 per chunk: chunk i's hash covers every token up to its end."""
    hashes, prev = [], b""
    for s in range(0, len(ids), CHUNK):
        h = hashlib.sha256(prev + str(ids[s : s + CHUNK]).encode()).digest()
        hashes.append(h)
        prev = h
    return hashes


def assert_decode_matches(
    model: torch.nn.Module, prompt: PromptKV, chunks: list[torch.Tensor]
) -> None:
    """Reloaded chunks equal the stored ones byte for byte, and decoding from them is
    identical (tokens and logits) to decoding after a fresh prefill."""
    assert len(chunks) == len(prompt.chunks)
    for i, (got, want) in enumerate(zip(chunks, prompt.chunks, strict=True)):
        assert got.shape == want.shape, f"chunk {i}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype
        assert bytes(got.contiguous().view(torch.uint8).flatten().numpy()) == bytes(
            want.view(torch.uint8).flatten().numpy()
        ), f"chunk {i}: bytes differ"
    kv = ltd_to_layers(torch.cat(chunks, dim=2))
    tokens, logits = greedy_decode(model, kv, prompt.ids[-1:], DECODE_STEPS)
    ref_tokens, ref_logits = reference_decode(model, prompt.ids, prompt.cached, DECODE_STEPS)
    assert tokens == ref_tokens
    assert torch.equal(logits, ref_logits), "logits differ from a fresh prefill"


# ---------------------------------------------------------------------------------------
# LMCache objects shared by both paths.
# ---------------------------------------------------------------------------------------


def lmcache_metadata() -> LMCacheMetadata:
    """LMCacheMetadata of the tiny model: float32, (layers, 2, chunk, kv_heads, head_dim)."""
    return LMCacheMetadata(
        model_name=MODEL,
        world_size=1,
        local_world_size=1,
        worker_id=0,
        local_worker_id=0,
        kv_dtype=torch.float32,
        kv_shape=(SPEC.num_layers, 2, CHUNK, SPEC.num_kv_heads, SPEC.head_dim),
        chunk_size=CHUNK,
    )


def engine_config(
    server: str, save_chunk_meta: bool = True, timeout_ms: int = 2000, deployment: str = ""
) -> Any:
    """An LMCacheEngineConfig whose only remote tier is the kvstash plugin."""
    return LMCacheEngineConfig.from_defaults(
        chunk_size=CHUNK,
        local_cpu=False,
        max_local_cpu_size=0.1,
        remote_serde="naive",
        blocking_timeout_secs=10,
        remote_storage_plugins=["kvstash"],
        extra_config={
            "remote_storage_plugin.kvstash.module_path": "kvstash_client.lmcache",
            "remote_storage_plugin.kvstash.class_name": "KVStashRemoteConnector",
            "kvstash.server": server,
            "kvstash.timeout_ms": timeout_ms,
            "kvstash.connect_timeout_ms": 500,
            "kvstash.save_chunk_meta": save_chunk_meta,
            "kvstash.deployment": deployment,
            "save_chunk_meta": save_chunk_meta,
        },
    )


def fill(backend: LocalCPUBackend, chunk: torch.Tensor) -> MemoryObj:
    """A MemoryObj from backend holding chunk's bytes."""
    obj = backend.allocate([chunk.shape], [chunk.dtype], MemoryFormat.KV_2LTD)
    assert obj is not None, "local CPU backend out of memory"
    assert obj.get_size() == chunk.numel() * chunk.element_size()
    obj.raw_data.view(torch.uint8)[: obj.get_size()].copy_(chunk.view(torch.uint8).flatten())
    return obj


def empty_like(backend: LocalCPUBackend, chunk: torch.Tensor) -> MemoryObj:
    """A MemoryObj from backend of chunk's shape, filled with 0xA5 (never a valid KV match)."""
    obj = backend.allocate([chunk.shape], [chunk.dtype], MemoryFormat.KV_2LTD)
    assert obj is not None
    obj.raw_data.view(torch.uint8)[: obj.get_size()].fill_(0xA5)
    return obj


def as_chunk(obj: MemoryObj, like: torch.Tensor) -> torch.Tensor:
    """A copy of obj's bytes viewed with like's dtype and the object's shape."""
    shape = obj.get_shape()
    assert obj.get_shapes() == [shape], "per-group and legacy shapes disagree"
    assert obj.get_num_tokens() == like.shape[2]
    raw = obj.raw_data.view(torch.uint8)[: obj.get_size()].clone()
    return raw.view(like.dtype).reshape(shape)


@pytest.fixture
def cpu_backend() -> Iterator[LocalCPUBackend]:
    """LMCache's LocalCPUBackend on CPU (the memory LMCache gives its connectors)."""
    config = engine_config("127.0.0.1:1")
    yield LocalCPUBackend(config, lmcache_metadata(), dst_device="cpu")


# ---------------------------------------------------------------------------------------
# MP mode: the native_plugin L2 adapter over KVStashNativeConnector.
# ---------------------------------------------------------------------------------------


def native_plugin_json(server: str, timeout_ms: int = 5000, key_prefix: str = "") -> str:
    """The --l2-adapter JSON of docs/INTEGRATIONS.md for server."""
    params: dict[str, Any] = {"server": server, "num_workers": 2, "timeout_ms": timeout_ms}
    if key_prefix:
        params["key_prefix"] = key_prefix
    return json.dumps(
        {
            "type": "native_plugin",
            "module_path": "kvstash_client.lmcache",
            "class_name": "KVStashNativeConnector",
            "adapter_params": params,
        }
    )


def make_l2_adapter(
    server: str, timeout_ms: int = 5000, key_prefix: str = ""
) -> NativeConnectorL2Adapter:
    """The MP server's own path: ``--l2-adapter <JSON>`` parsed by LMCache's argument
    parser, then built by its adapter registry (the native_plugin factory)."""
    parser = add_l2_adapters_args(argparse.ArgumentParser())
    args = parser.parse_args(["--l2-adapter", native_plugin_json(server, timeout_ms, key_prefix)])
    (config,) = parse_args_to_l2_adapters_config(args).adapters
    assert isinstance(config, NativePluginL2AdapterConfig)
    adapter = create_l2_adapter_from_registry(config)
    assert isinstance(adapter, NativeConnectorL2Adapter)
    assert isinstance(adapter._client, KVStashNativeConnector)
    return adapter


def wait_result(fd: int, query: Any, timeout_s: float = WAIT_S) -> Any:
    """Polls LMCache's event fd until query() returns a result."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = query()
        if result is not None:
            return result
        if poller.poll(200):
            consume_fd(fd)
    raise AssertionError("the L2 adapter gave no result in time")


def l2_store(
    adapter: NativeConnectorL2Adapter, keys: list[ObjectKey], objs: list[MemoryObj]
) -> Any:
    """Stores through the adapter; returns its L2StoreResult."""
    tid = adapter.submit_store_task(keys, objs)
    return wait_result(
        adapter.get_store_event_fd(), lambda: adapter.pop_completed_store_tasks().get(tid)
    )


def l2_lookup(adapter: NativeConnectorL2Adapter, keys: list[ObjectKey]) -> list[bool]:
    """Lookup-and-lock through the adapter (then unlock); per-key presence."""
    tid = adapter.submit_lookup_and_lock_task(keys, {})
    bitmap = wait_result(
        adapter.get_lookup_and_lock_event_fd(), lambda: adapter.query_lookup_and_lock_result(tid)
    )
    adapter.submit_unlock(keys)
    return [bitmap.test(i) for i in range(len(keys))]


def l2_load(
    adapter: NativeConnectorL2Adapter, keys: list[ObjectKey], objs: list[MemoryObj]
) -> list[bool]:
    """Loads through the adapter into objs; per-key success."""
    tid = adapter.submit_load_task(keys, objs)
    bitmap = wait_result(adapter.get_load_event_fd(), lambda: adapter.query_load_result(tid))
    return [bitmap.test(i) for i in range(len(keys))]


def object_keys(prompt: PromptKV) -> list[ObjectKey]:
    """ObjectKeys of a prompt's chunks."""
    return [ObjectKey(chunk_hash=h, model_name=MODEL, kv_rank=0) for h in prompt.hashes]


def test_native_plugin_roundtrip_and_decode(kvstashd, tiny, prompts, cpu_backend) -> None:  # type: ignore[no-untyped-def]
    model, _ = tiny
    adapter = make_l2_adapter(kvstashd.address)
    try:
        for prompt in prompts:
            keys = object_keys(prompt)
            assert l2_lookup(adapter, keys) == [False] * len(keys)
            objs = [fill(cpu_backend, c) for c in prompt.chunks]
            result = l2_store(adapter, keys, objs)
            assert result.is_successful()
            assert result.bytes_transferred() == sum(o.get_size() for o in objs)
            assert l2_lookup(adapter, keys) == [True] * len(keys)

            out = [empty_like(cpu_backend, c) for c in prompt.chunks]
            assert l2_load(adapter, keys, out) == [True] * len(keys)
            assert_decode_matches(
                model, prompt, [as_chunk(o, c) for o, c in zip(out, prompt.chunks, strict=True)]
            )
            for o in objs + out:
                o.ref_count_down()
        # Storing the same keys again is a success (write-once: already present).
        again = [fill(cpu_backend, c) for c in prompts[0].chunks]
        assert l2_store(adapter, object_keys(prompts[0]), again).is_successful()
        for o in again:
            o.ref_count_down()
    finally:
        adapter.close()


def test_native_plugin_misses_after_kvstashd_stops(kvstashd, prompts, cpu_backend) -> None:  # type: ignore[no-untyped-def]
    adapter = make_l2_adapter(kvstashd.address, timeout_ms=1000)
    prompt = prompts[1]
    keys = object_keys(prompt)
    objs = [fill(cpu_backend, c) for c in prompt.chunks]
    try:
        assert l2_store(adapter, keys, objs).is_successful()
        kvstashd.stop()
        started = time.monotonic()
        assert l2_lookup(adapter, keys) == [False] * len(keys)
        out = [empty_like(cpu_backend, c) for c in prompt.chunks]
        assert l2_load(adapter, keys, out) == [False] * len(keys)
        assert not l2_store(adapter, keys, objs).is_successful()
        assert time.monotonic() - started < 25, "a stopped store must not stall the adapter"
        assert adapter.report_status()["is_healthy"]
    finally:
        adapter.close()


# ---------------------------------------------------------------------------------------
# Remote backend: RemoteBackend + the plugin loader + KVStashRemoteConnector.
# ---------------------------------------------------------------------------------------


@pytest.fixture
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop on its own thread, as LMCache runs its storage loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


def make_remote_backend(
    config: Any, loop: asyncio.AbstractEventLoop
) -> tuple[RemoteBackend, LocalCPUBackend]:
    """LMCache's RemoteBackend for plugin "kvstash" over its own LocalCPUBackend."""
    metadata = lmcache_metadata()
    local = LocalCPUBackend(config, metadata, dst_device="cpu")
    backend = RemoteBackend(config, metadata, loop, local, "cpu", plugin_name="kvstash")
    assert backend.connection is not None, "the plugin loader did not create the connector"
    assert isinstance(backend.connection._connector, KVStashRemoteConnector)
    return backend, local


def engine_keys(prompt: PromptKV) -> list[CacheEngineKey]:
    """CacheEngineKeys of a prompt's chunks (LMCache's non-MP key type)."""
    return [
        CacheEngineKey(MODEL, 1, 0, int.from_bytes(h[:8], "little"), torch.float32)
        for h in prompt.hashes
    ]


def connector_of(backend: RemoteBackend) -> KVStashRemoteConnector:
    """Our connector inside LMCache's instrumentation wrapper."""
    return backend.connection._connector  # type: ignore[union-attr]


def put_and_wait(backend: RemoteBackend, keys: list[CacheEngineKey], objs: list[MemoryObj]) -> None:
    """batched_submit_put_task, then waits until kvstash has every key (or fails)."""
    backend.batched_submit_put_task(keys, objs)
    deadline = time.monotonic() + WAIT_S
    while backend.batched_contains(keys) != len(keys):
        assert time.monotonic() < deadline, "puts did not land in kvstash"
        time.sleep(0.02)


@pytest.mark.parametrize("save_chunk_meta", [True, False], ids=["meta-header", "bytes-only"])
def test_remote_connector_roundtrip_and_decode(
    kvstashd, tiny, prompts, event_loop_thread, save_chunk_meta
) -> None:  # type: ignore[no-untyped-def]
    model, _ = tiny
    config = engine_config(kvstashd.address, save_chunk_meta=save_chunk_meta)
    backend, local = make_remote_backend(config, event_loop_thread)
    connector = connector_of(backend)
    assert connector.save_chunk_meta is save_chunk_meta
    hooked: dict[str, int] = {}
    connector.set_metrics_hook(
        lambda name, delta: hooked.__setitem__(name, hooked.get(name, 0) + delta)
    )
    try:
        for prompt in prompts:
            keys = engine_keys(prompt)
            assert backend.batched_contains(keys) == 0
            objs = [fill(local, c) for c in prompt.chunks]
            put_and_wait(backend, keys, objs)
            for o in objs:
                o.ref_count_down()
            got = backend.batched_get_blocking(keys)
            assert all(g is not None for g in got), "a stored chunk was missed"
            chunks = [as_chunk(g, c) for g, c in zip(got, prompt.chunks, strict=True)]
            assert_decode_matches(model, prompt, chunks)
            for g in got:
                g.ref_count_down()
            one = backend.get_blocking(keys[0])
            assert one is not None and torch.equal(
                as_chunk(one, prompt.chunks[0]), prompt.chunks[0]
            )
            one.ref_count_down()
        # A key never stored is a plain miss.
        missing = CacheEngineKey(MODEL, 1, 0, 12345, torch.float32)
        assert backend.get_blocking(missing) is None
        stats = connector.stats()
        chunks_total = sum(len(p.chunks) for p in prompts)
        assert stats["lmcache.put_stored"] == chunks_total
        gets = chunks_total + len(prompts)  # every chunk once, plus each first chunk alone
        assert stats["lmcache.get_hits"] == gets
        assert stats["lmcache.get_misses"] >= 1
        assert stats["lmcache.get_errors"] == 0 and stats["lmcache.put_errors"] == 0
        assert hooked["put_stored"] == chunks_total and hooked["get_hits"] == gets
        assert any(k.startswith("client.") or k.startswith("server.") for k in stats)
    finally:
        asyncio.run_coroutine_threadsafe(backend.connection.close(), event_loop_thread).result(10)


def test_remote_connector_layouts_do_not_mix(kvstashd, prompts, event_loop_thread) -> None:  # type: ignore[no-untyped-def]
    """A chunk written with the metadata header is a miss for a bytes-only reader and for
    another deployment tag."""
    with_meta, local = make_remote_backend(engine_config(kvstashd.address, True), event_loop_thread)
    bytes_only, _ = make_remote_backend(engine_config(kvstashd.address, False), event_loop_thread)
    prompt = prompts[0]
    keys = engine_keys(prompt)[:1]
    obj = fill(local, prompt.chunks[0])
    put_and_wait(with_meta, keys, [obj])
    obj.ref_count_down()
    assert bytes_only.batched_contains(keys) == 0
    assert bytes_only.get_blocking(keys[0]) is None
    other, _ = make_remote_backend(
        engine_config(kvstashd.address, True, deployment="other-weights"), event_loop_thread
    )
    assert other.batched_contains(keys) == 0, "another deployment tag must not share chunks"
    assert with_meta.batched_contains(keys) == 1
    for b in (with_meta, bytes_only, other):
        asyncio.run_coroutine_threadsafe(b.connection.close(), event_loop_thread).result(10)


def test_remote_connector_misses_after_kvstashd_stops(kvstashd, prompts, event_loop_thread) -> None:  # type: ignore[no-untyped-def]
    config = engine_config(kvstashd.address, timeout_ms=1000)
    backend, local = make_remote_backend(config, event_loop_thread)
    prompt = prompts[2]
    keys = engine_keys(prompt)
    objs = [fill(local, c) for c in prompt.chunks]
    put_and_wait(backend, keys, objs)
    kvstashd.stop()
    started = time.monotonic()
    assert backend.batched_contains(keys) == 0
    assert not backend.contains(keys[0])
    assert backend.get_blocking(keys[0]) is None
    assert backend.batched_get_blocking(keys) == [None] * len(keys)
    backend.batched_submit_put_task(
        engine_keys(prompts[0]), [fill(local, c) for c in prompts[0].chunks]
    )
    connector = connector_of(backend)
    deadline = time.monotonic() + WAIT_S
    while connector.stats()["lmcache.put_errors"] < len(prompts[0].chunks):
        assert time.monotonic() < deadline, "puts to a stopped kvstashd were not counted as failed"
        time.sleep(0.05)
    assert time.monotonic() - started < 30, "a stopped store must not stall the engine"
    stats = connector.stats()
    assert stats["lmcache.get_errors"] >= 1 and stats["lmcache.exists_errors"] >= 1
    assert backend.put_failed_count == 0, "failures must not surface as exceptions to LMCache"
    asyncio.run_coroutine_threadsafe(backend.connection.close(), event_loop_thread).result(10)


def freeze(pid: int) -> None:
    """SIGSTOPs pid and waits until every one of its threads is stopped (kill() returns
    before the stop takes effect, and a thread that was running may answer a request)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:
                continue
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"kvstashd {pid} did not stop")


def test_hung_kvstashd_gives_misses_within_the_timeout(
    kvstashd, prompts, event_loop_thread, cpu_backend
) -> None:  # type: ignore[no-untyped-def]
    """A server that stops answering (SIGSTOP) costs each call at most about its timeout."""
    backend, local = make_remote_backend(
        engine_config(kvstashd.address, timeout_ms=500), event_loop_thread
    )
    adapter = make_l2_adapter(kvstashd.address, timeout_ms=500)
    prompt = prompts[0]
    keys = engine_keys(prompt)
    objs = [fill(local, c) for c in prompt.chunks]
    put_and_wait(backend, keys, objs)
    freeze(kvstashd.proc.pid)
    try:
        started = time.monotonic()
        assert backend.get_blocking(keys[0]) is None
        assert backend.batched_contains(keys) == 0
        remote_s = time.monotonic() - started
        started = time.monotonic()
        assert l2_lookup(adapter, object_keys(prompt)) == [False] * len(keys)
        native_s = time.monotonic() - started
    finally:
        os.kill(kvstashd.proc.pid, signal.SIGCONT)
    # Two calls of 500 ms each, with room for a loaded 2-core machine; LMCache's own blocking
    # timeout (10 s here) is never reached.
    assert remote_s < 5.0, f"remote backend stalled {remote_s:.1f}s"
    assert native_s < 5.0, f"native adapter stalled {native_s:.1f}s"
    adapter.close()
    asyncio.run_coroutine_threadsafe(backend.connection.close(), event_loop_thread).result(10)


def test_remote_options_from_extra_config() -> None:
    opts = RemoteOptions.from_extra_config(
        {
            "kvstash.server": "10.0.0.1:7400",
            "kvstash.num_workers": "4",
            "kvstash.save_chunk_meta": "off",
        }
    )
    assert (opts.server, opts.num_workers, opts.save_chunk_meta) == ("10.0.0.1:7400", 4, False)
    assert RemoteOptions.from_extra_config(None).save_chunk_meta is None
    with pytest.raises(ValueError):
        RemoteOptions.from_extra_config({"kvstash.timeout_ms": "soon"})
    with pytest.raises(ValueError):
        RemoteOptions.from_extra_config({"kvstash.num_workers": 0})


def test_native_plugin_factory_reports_unreachable_kvstashd() -> None:
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:1"):
        make_l2_adapter("127.0.0.1:1")


def test_plugin_loader_reports_unreachable_kvstashd(event_loop_thread, cpu_backend) -> None:  # type: ignore[no-untyped-def]
    """Start-up against no server: the connector raises a ConnectionError naming it."""
    config = engine_config("127.0.0.1:1")
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:1"):
        CreateConnector(
            "plugin://kvstash",
            event_loop_thread,
            cpu_backend,
            config,
            lmcache_metadata(),
            plugin_name="kvstash",
        )


def test_long_object_keys_are_stored_through_the_adapter(kvstashd, prompts, cpu_backend) -> None:  # type: ignore[no-untyped-def]
    """A model name and salt that push the key over 256 bytes still round-trip."""
    adapter = make_l2_adapter(kvstashd.address)
    chunk = prompts[0].chunks[0]
    key = ObjectKey(
        chunk_hash=prompts[0].hashes[0], model_name="m" * 200, kv_rank=0, cache_salt="s" * 100
    )
    obj = fill(cpu_backend, chunk)
    out = empty_like(cpu_backend, chunk)
    try:
        assert l2_store(adapter, [key], [obj]).is_successful()
        assert l2_load(adapter, [key], [out]) == [True]
        assert torch.equal(as_chunk(out, chunk), chunk)
    finally:
        obj.ref_count_down()
        out.ref_count_down()
        adapter.close()


def test_native_plugin_key_prefix_separates_deployments(kvstashd, prompts, cpu_backend) -> None:  # type: ignore[no-untyped-def]
    a = make_l2_adapter(kvstashd.address, key_prefix="deploy-a")
    b = make_l2_adapter(kvstashd.address, key_prefix="deploy-b")
    plain = make_l2_adapter(kvstashd.address)
    keys = object_keys(prompts[1])
    objs = [fill(cpu_backend, c) for c in prompts[1].chunks]
    try:
        assert l2_store(a, keys, objs).is_successful()
        assert l2_lookup(a, keys) == [True] * len(keys)
        assert l2_lookup(b, keys) == [False] * len(keys)
        assert l2_lookup(plain, keys) == [False] * len(keys)
    finally:
        for o in objs:
            o.ref_count_down()
        for adapter in (a, b, plain):
            adapter.close()
