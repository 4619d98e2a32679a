"""End-to-end: kvstash as SGLang's HiCache L3 storage, through SGLang's real classes.

What is real here: SGLang's backend factory and its dynamic loader, HiCacheStorageConfig,
the device KV pool (MHATokenToKVPool / MLATokenToKVPool on CPU), the host pool
(MHATokenToKVPoolHost / MLATokenToKVPoolHost, whose get_page_buffer_meta gives the
zero-copy addresses), SGLang's page hash chain (get_hash_str), a kvstashd process, and the
KV of real prompts computed by a tiny Llama model. What is not: the GPU, the scheduler and
the device<->host copy kernels (CUDA only); the tests write KV into the host pool directly.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

warnings.filterwarnings("ignore", category=UserWarning)

from sglang.srt.mem_cache.hicache_storage import HiCacheStorageConfig  # noqa: E402
from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool, MLATokenToKVPool  # noqa: E402
from sglang.srt.mem_cache.pool_host.mha import MHATokenToKVPoolHost  # noqa: E402
from sglang.srt.mem_cache.pool_host.mla import MLATokenToKVPoolHost  # noqa: E402
from sglang.srt.mem_cache.storage.backend_factory import StorageBackendFactory  # noqa: E402
from sglang.srt.mem_cache.utils import get_hash_str  # noqa: E402

from kvstash_client.sglang import (  # noqa: E402
    MAX_KEY_BYTES,
    KvstashHiCacheStorage,
)
from kvstash_client._ratelimit import RateLimitedLog

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

SPEC = TinyLlamaSpec()
PAGE = 4
MODEL_NAME = "tiny-llama-e2e"
PROMPTS = [
    "the quick brown fox jumps over the lazy dog while a cache of keys and values waits in "
    "memory for the next request",
    "alpha beta gamma delta epsilon zeta eta theta blocks are written once and read back on "
    "a prefix hit instead of recomputing prefill",
]
LAYOUTS = ["page_first", "page_first_direct", "page_head", "layer_first"]


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """(model, tokenizer) of the tiny Llama, built once per module."""
    path = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), SPEC)
    return load_tiny_llama(path)


def make_mha_host_pool(layout: str, page_size: int = PAGE, size: int = 512) -> Any:
    """SGLang's real MHA device pool on CPU and the host pool built from it."""
    device_pool = MHATokenToKVPool(
        size=size, page_size=page_size, dtype=torch.float32, head_num=SPEC.num_kv_heads,
        head_dim=SPEC.head_dim, layer_num=SPEC.num_layers, device="cpu",
        enable_memory_saver=False, start_layer=0, end_layer=SPEC.num_layers - 1,
    )
    info = device_pool.get_device_pool_infos()[0].buffer_info
    return MHATokenToKVPoolHost(
        info, 2.0, 0, page_size, layout, pin_memory=False, device="cpu",
        device_capacity_tokens=device_pool.size, start_layer=device_pool.start_layer,
        end_layer=device_pool.end_layer,
    )


def make_mla_host_pool(layout: str = "page_first", size: int = 256) -> Any:
    """SGLang's real MLA device pool on CPU and its host pool."""
    device_pool = MLATokenToKVPool(
        size=size, page_size=PAGE, dtype=torch.float32, kv_lora_rank=64,
        qk_rope_head_dim=16, layer_num=3, device="cpu", enable_memory_saver=False,
        start_layer=0, end_layer=2,
    )
    info = device_pool.get_device_pool_infos()[0].buffer_info
    return MLATokenToKVPoolHost(
        info, 2.0, 0, PAGE, layout, pin_memory=False, device="cpu",
        device_capacity_tokens=device_pool.size, start_layer=0, end_layer=2,
        target_layer_num=3,
    )


def storage_config(
    server: str, *, model: str = MODEL_NAME, tp_rank: int = 0, tp_size: int = 1,
    mla: bool = False, metrics: bool = False, **extra: Any,
) -> HiCacheStorageConfig:
    """The HiCacheStorageConfig SGLang builds for --hicache-storage-backend dynamic."""
    extra_config = {
        "backend_name": "kvstash",
        "module_path": "kvstash_client.sglang",
        "class_name": "KvstashHiCacheStorage",
        "interface_v1": 1,
        "server": server,
        "timeout_ms": 500,
        "connect_timeout_ms": 500,
        **extra,
    }
    return HiCacheStorageConfig(
        tp_rank=tp_rank, tp_size=tp_size, pp_rank=0, pp_size=1, attn_cp_rank=0,
        attn_cp_size=1, is_mla_model=mla, enable_storage_metrics=metrics,
        is_page_first_layout=False, model_name=model, extra_config=extra_config,
    )


def attach(config: HiCacheStorageConfig, pool: Any) -> KvstashHiCacheStorage:
    """Creates the backend the way SGLang's cache controller does."""
    backend = StorageBackendFactory.create_backend("dynamic", config, pool)
    backend.register_mem_pool_host(pool)
    assert isinstance(backend, KvstashHiCacheStorage)
    return backend


def page_hashes(token_ids: list[int], page_size: int = PAGE) -> list[str]:
    """SGLang's chained page hashes of the full pages of token_ids."""
    usable = len(token_ids) // page_size * page_size
    return list(get_hash_str(token_ids[:usable], None, page_size)) if usable else []


def _token_views(pool: Any, index: int, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The host pool's K and V rows [heads, head_dim] of one token and layer, by layout."""
    buf, p = pool.kv_buffer, pool.page_size
    if pool.layout == "layer_first":
        return buf[0, layer, index], buf[1, layer, index]
    if pool.layout == "page_first":
        return buf[0, index, layer], buf[1, index, layer]
    if pool.layout == "page_first_direct":
        return buf[0, index // p, layer, index % p], buf[1, index // p, layer, index % p]
    if pool.layout == "page_head":
        return buf[0, index // p, :, index % p, layer], buf[1, index // p, :, index % p, layer]
    raise ValueError(pool.layout)


def write_kv(pool: Any, indices: torch.Tensor, kv: list[LayerKV]) -> None:
    """Writes prefill KV (per layer [kv_heads, tokens, dim]) into the pool, token by token."""
    for layer, (k, v) in enumerate(kv):
        for t, index in enumerate(indices.tolist()):
            k_row, v_row = _token_views(pool, index, layer)
            k_row.copy_(k[:, t])
            v_row.copy_(v[:, t])


def read_kv(pool: Any, indices: torch.Tensor) -> list[LayerKV]:
    """The KV of tokens at indices, read back from the pool in prefill_kv's shape."""
    out: list[LayerKV] = []
    for layer in range(SPEC.num_layers):
        rows = [_token_views(pool, i, layer) for i in indices.tolist()]
        k = torch.stack([r[0] for r in rows], dim=1).contiguous()
        v = torch.stack([r[1] for r in rows], dim=1).contiguous()
        out.append((k, v))
    return out


def page_bytes(pool: Any, indices: torch.Tensor) -> list[bytes]:
    """Raw bytes of each page at indices, through get_page_buffer_meta's view of memory."""
    ptrs, sizes = pool.get_page_buffer_meta(indices)
    flat = pool.kv_buffer.view(-1).view(torch.uint8)
    base = pool.kv_buffer.data_ptr()
    return [bytes(flat[p - base: p - base + s].numpy()) for p, s in zip(ptrs, sizes)]


def assert_kv_bytes_equal(got: list[LayerKV], want: list[LayerKV]) -> None:
    """Fails if a single byte of K or V differs."""
    assert len(got) == len(want)
    for layer, ((gk, gv), (wk, wv)) in enumerate(zip(got, want)):
        for name, g, w in (("K", gk, wk), ("V", gv, wv)):
            assert g.shape == w.shape, f"layer {layer} {name} shape"
            diff = (g.view(torch.uint8) != w.view(torch.uint8)).sum().item()
            assert diff == 0, f"layer {layer} {name}: {diff} bytes differ"


@pytest.fixture
def server(kvstashd: Any) -> Iterator[Any]:
    """A kvstashd of this test (conftest's fixture: started on loopback, stopped by PID)."""
    yield kvstashd


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("layout", LAYOUTS)
def test_prefill_kv_round_trip_and_decode(tiny: tuple[Any, Any], server: Any, layout: str) -> None:
    """Store the prefill KV of real prompts, drop it, reload it through a second backend
    (a new connection, as after a restart of the engine), and decode from it: the bytes,
    the greedy tokens and the logits equal those of a fresh prefill."""
    model, tokenizer = tiny
    pool = make_mha_host_pool(layout)
    writer = attach(storage_config(server.address), pool)
    total_pages = 0
    for prompt in PROMPTS:
        ids = encode(tokenizer, prompt)
        cached = (len(ids) - 1) // PAGE * PAGE  # leave one token to feed the decoder
        hashes = page_hashes(ids[:cached])
        kv = prefill_kv(model, ids[:cached])
        total_pages += len(hashes)

        indices = pool.alloc(cached)
        write_kv(pool, indices, kv)
        stored_pages = page_bytes(pool, indices)
        assert writer.batch_set_v1(hashes, indices) == [True] * len(hashes)
        assert writer.batch_set_v1(hashes, indices) == [True] * len(hashes)  # already there
        pool.kv_buffer.zero_()
        pool.free(indices)

        reader = attach(storage_config(server.address), pool)
        assert reader.batch_exists(hashes) == len(hashes)
        unknown = page_hashes(list(range(900, 900 + PAGE)))
        assert reader.batch_exists(hashes + unknown) == len(hashes)
        pad = pool.alloc(PAGE)  # land the reload on other host slots than the write
        new_indices = pool.alloc(cached)
        assert not torch.equal(new_indices, indices)
        assert reader.batch_get_v1(hashes, new_indices) == [True] * len(hashes)
        assert page_bytes(pool, new_indices) == stored_pages
        reloaded = read_kv(pool, new_indices)
        assert_kv_bytes_equal(reloaded, kv)

        tokens, logits = greedy_decode(model, reloaded, ids[cached:], steps=8)
        want_tokens, want_logits = reference_decode(model, ids, cached, steps=8)
        assert tokens == want_tokens
        assert torch.equal(logits, want_logits)
        stats = reader.stats()
        assert stats["hicache.get_pages_hit"] == len(hashes)
        assert stats["hicache.errors"] == 0
        pool.free(new_indices)
        pool.free(pad)
        reader.close()
    stats = writer.stats()
    assert stats["hicache.set_pages_stored"] == total_pages
    assert stats["hicache.set_pages_already_present"] == total_pages
    writer.close()


def test_partial_prefix_and_corrupt_page_detected(tiny: tuple[Any, Any], server: Any) -> None:
    """Only the leading stored pages count as hits; a reload whose bytes were changed
    in the pool after loading is caught by the byte comparison (the check can fail)."""
    model, tokenizer = tiny
    pool = make_mha_host_pool("page_first")
    backend = attach(storage_config(server.address), pool)
    ids = encode(tokenizer, PROMPTS[0])
    cached = (len(ids) - 1) // PAGE * PAGE
    hashes = page_hashes(ids[:cached])
    kv = prefill_kv(model, ids[:cached])
    indices = pool.alloc(cached)
    write_kv(pool, indices, kv)
    half = len(hashes) // 2
    assert backend.batch_set_v1(hashes[:half], indices[: half * PAGE]) == [True] * half
    assert backend.batch_exists(hashes) == half

    pool.kv_buffer.zero_()
    result = backend.batch_get_v1(hashes, indices)
    assert result == [True] * half + [False] * (len(hashes) - half)
    got = read_kv(pool, indices[: half * PAGE])
    want = [(k[:, : half * PAGE], v[:, : half * PAGE]) for k, v in kv]
    assert_kv_bytes_equal(got, want)
    _token_views(pool, int(indices[1]), 2)[1].view(torch.uint8)[0, 0] ^= 1  # flip one bit
    with pytest.raises(AssertionError, match="layer 2 V: 1 bytes differ"):
        assert_kv_bytes_equal(read_kv(pool, indices[: half * PAGE]), want)
    backend.close()


# ---------------------------------------------------------------- isolation by fingerprint


@pytest.mark.parametrize(
    "other",
    [
        {"model": "another-model"},
        {"tp_rank": 0, "tp_size": 2},
        {"deployment": "blue"},
        {"page_size": 8},
        {"layout": "page_head"},
    ],
    ids=["model", "tp", "deployment", "page_size", "layout"],
)
def test_other_deployment_misses(
    tiny: tuple[Any, Any], server: Any, other: dict[str, Any]
) -> None:
    """A deployment whose fingerprint differs finds nothing and leaves the pool untouched."""
    model, tokenizer = tiny
    pool = make_mha_host_pool("page_first")
    backend = attach(storage_config(server.address), pool)
    ids = encode(tokenizer, PROMPTS[1])
    ids = ids[: len(ids) // (2 * PAGE) * (2 * PAGE)]  # whole pages at page sizes 4 and 8
    hashes = page_hashes(ids)
    indices = pool.alloc(len(ids))
    write_kv(pool, indices, prefill_kv(model, ids))
    assert backend.batch_set_v1(hashes, indices) == [True] * len(hashes)

    page_size = other.pop("page_size", PAGE)
    layout = other.pop("layout", "page_first")
    other_pool = make_mha_host_pool(layout, page_size=page_size)
    other_backend = attach(storage_config(server.address, **other), other_pool)
    other_hashes = page_hashes(ids, page_size)
    assert other_backend.batch_exists(other_hashes) == 0
    other_indices = other_pool.alloc(len(other_hashes) * page_size)
    other_pool.kv_buffer.fill_(7.0)
    before = other_pool.kv_buffer.clone()
    assert other_backend.batch_get_v1(other_hashes, other_indices) == [False] * len(other_hashes)
    assert torch.equal(other_pool.kv_buffer, before)
    assert backend.batch_exists(hashes) == len(hashes)  # the first deployment still hits
    assert set(backend.object_keys(hashes[0])).isdisjoint(other_backend.object_keys(hashes[0]))
    backend.close()
    other_backend.close()


def test_mla_pages_are_shared_by_all_ranks(server: Any) -> None:
    """MLA: rank 0 of a TP-2 deployment writes one object per page; rank 1 reads it."""
    pools = [make_mla_host_pool(), make_mla_host_pool()]
    ranks = [attach(storage_config(server.address, tp_rank=r, tp_size=2, mla=True), pools[r])
             for r in range(2)]
    hashes = page_hashes(list(range(100, 100 + 6 * PAGE)))
    indices = [pool.alloc(6 * PAGE) for pool in pools]
    gen = torch.Generator().manual_seed(7)
    pools[0].kv_buffer.copy_(torch.randn(pools[0].kv_buffer.shape, generator=gen))
    want = page_bytes(pools[0], indices[0])
    assert len(ranks[0].object_keys(hashes[0])) == 1
    assert ranks[0].object_keys(hashes[0]) == ranks[1].object_keys(hashes[0])
    assert ranks[0].batch_set_v1(hashes, indices[0]) == [True] * 6
    assert ranks[1].batch_exists(hashes) == 6
    assert ranks[1].batch_get_v1(hashes, indices[1]) == [True] * 6
    assert page_bytes(pools[1], indices[1]) == want
    for backend in ranks:
        backend.close()


# ---------------------------------------------------------------- failures


def test_stopped_server_gives_misses_not_exceptions(
    tiny: tuple[Any, Any], server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """After kvstashd dies every call answers a miss or a failed write within the Store
    timeout, the failures are counted, and the log gets at most one line per interval."""
    model, tokenizer = tiny
    pool = make_mha_host_pool("page_first")
    backend = attach(storage_config(server.address, log_interval_s=3600.0), pool)
    ids = encode(tokenizer, PROMPTS[0])[: 5 * PAGE]
    hashes = page_hashes(ids)
    indices = pool.alloc(len(ids))
    write_kv(pool, indices, prefill_kv(model, ids))
    assert backend.batch_set_v1(hashes[:3], indices[: 3 * PAGE]) == [True] * 3
    server.stop()

    caplog.set_level(logging.WARNING, logger="kvstash_client.sglang")
    start = time.monotonic()
    for _ in range(3):
        assert backend.batch_exists(hashes) == 0
        assert backend.batch_get_v1(hashes, indices) == [False] * len(hashes)
        assert backend.batch_set_v1(hashes, indices) == [False] * len(hashes)
        assert backend.get(hashes[0], pool.get_dummy_flat_data_page()) is None
        assert backend.set(hashes[0], pool.get_dummy_flat_data_page()) is False
    elapsed = time.monotonic() - start
    assert elapsed < 15 * 2.0, f"calls on a dead server took {elapsed:.1f}s"
    stats = backend.stats()
    assert stats["hicache.errors"] >= 9
    assert stats["hicache.set_pages_failed"] >= 3 * len(hashes)
    lines = [r for r in caplog.records if r.name == "kvstash_client.sglang"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    backend.close()


def wait_until_stopped(pid: int, timeout_s: float = 5.0) -> None:
    """Waits until every thread of pid is stopped (SIGSTOP is delivered asynchronously:
    a busy-polling thread can still answer a request right after kill() returns)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = [Path(t, "stat").read_text().rsplit(")", 1)[1].split()[0]
                  for t in Path(f"/proc/{pid}/task").iterdir()]
        if all(state in "tT" for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"kvstashd {pid} did not stop")


def test_hung_server_does_not_stall_the_engine(server: Any) -> None:
    """A kvstashd that stops answering (SIGSTOP) costs each call at most about the Store
    timeout (500 ms here), and the calls answer misses."""
    pool = make_mha_host_pool("page_first", size=64)
    backend = attach(storage_config(server.address), pool)
    hashes = page_hashes(list(range(2 * PAGE)))
    indices = pool.alloc(2 * PAGE)
    assert backend.batch_set_v1(hashes, indices) == [True, True]
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        wait_until_stopped(server.proc.pid)
        calls = {
            "exists": (lambda: backend.batch_exists(hashes), 0),
            "get": (lambda: backend.batch_get_v1(hashes, indices), [False, False]),
            "set": (lambda: backend.batch_set_v1(page_hashes(list(range(50, 50 + PAGE))),
                                                 indices[:PAGE]), [False]),
        }
        for name, (call, miss) in calls.items():
            start = time.monotonic()
            assert call() == miss, name
            elapsed = time.monotonic() - start
            assert elapsed < 3.0, f"{name} on a hung server took {elapsed:.2f}s"
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert backend.stats()["hicache.errors"] >= 3
    backend.close()


def test_unreachable_server_at_startup_is_a_clear_error(tmp_path: Path) -> None:
    """The factory raises a ConnectionError that names the server and the option."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    pool = make_mha_host_pool("page_first", size=64)
    with pytest.raises(ConnectionError, match=f"cannot reach kvstashd at {address}.*\"server\""):
        StorageBackendFactory.create_backend("dynamic", storage_config(address), pool)


def test_bad_option_is_a_clear_error(server: Any) -> None:
    pool = make_mha_host_pool("page_first", size=64)
    with pytest.raises(ValueError, match="transfer must be"):
        StorageBackendFactory.create_backend(
            "dynamic", storage_config(server.address, transfer="carrier-pigeon"), pool
        )


def test_rate_limited_log_counts_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("kvstash-test-ratelimit")
    caplog.set_level(logging.WARNING, logger=log.name)
    limiter = RateLimitedLog(log, interval_s=0.2)
    assert limiter.warn("first") is True
    assert not any(limiter.warn("again") for _ in range(50))
    time.sleep(0.25)
    assert limiter.warn("later") is True
    messages = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert messages == ["first", "later (50 similar messages suppressed)"]


# ---------------------------------------------------------------- keys, metrics, legacy


def test_keys_fit_and_long_page_hashes_work(server: Any) -> None:
    pool = make_mha_host_pool("page_first", size=64)
    backend = attach(storage_config(server.address, model="m" * 300), pool)
    long_hash = "x" * 400
    keys = backend.object_keys(long_hash) + backend.object_keys("a" * 64)
    assert all(1 <= len(k.encode()) <= MAX_KEY_BYTES for k in keys)
    indices = pool.alloc(PAGE)
    pool.kv_buffer.fill_(3.0)
    assert backend.batch_set_v1([long_hash], indices) == [True]
    assert backend.batch_exists([long_hash]) == 1
    assert backend.batch_exists(["y" * 400]) == 0
    backend.close()


def test_storage_metrics_hook(server: Any) -> None:
    """get_stats() gives SGLang's StorageMetrics for transfers since the last call."""
    from sglang.srt.observability.metrics_collector import StorageMetrics

    pool = make_mha_host_pool("page_first", size=64)
    backend = attach(storage_config(server.address, metrics=True), pool)
    hashes = page_hashes(list(range(3 * PAGE)))
    indices = pool.alloc(3 * PAGE)
    assert backend.batch_set_v1(hashes, indices) == [True] * 3
    assert backend.batch_get_v1(hashes, indices) == [True] * 3
    metrics = backend.get_stats()
    assert isinstance(metrics, StorageMetrics)
    assert metrics.backup_pgs == [3] and metrics.prefetch_pgs == [3]
    assert all(bw > 0 for bw in metrics.backup_bandwidth + metrics.prefetch_bandwidth)
    assert backend.get_stats().prefetch_pgs == []  # drained
    stats = backend.stats()
    assert stats["hicache.bytes_written"] == stats["hicache.bytes_read"] > 0
    assert stats["server.keys_committed"] >= 6
    backend.close()


def test_legacy_copying_interface(server: Any) -> None:
    """set/get/batch_get of flat pages, the path SGLang uses without interface_v1."""
    pool = make_mha_host_pool("page_first", size=64)
    backend = attach(storage_config(server.address), pool)
    page = torch.arange(pool.get_dummy_flat_data_page().numel(), dtype=torch.float32)
    assert backend.set("page-a", page) is True
    assert backend.batch_set(["page-a", "page-b"], [page, page + 1]) is True
    out = backend.batch_get(["page-a", "page-b", "page-c"],
                            [torch.zeros_like(page) for _ in range(3)])
    assert torch.equal(out[0], page) and torch.equal(out[1], page + 1) and out[2] is None
    backend.close()
