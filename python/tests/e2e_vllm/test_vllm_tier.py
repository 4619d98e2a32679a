"""KvstashTierManager (kvstash_client.vllm_tier) against a real kvstashd, driven as vLLM does.

The tier is built by vLLM's own SecondaryTierFactory from a tier config dict, with a real
TieringOffloadingSpec (from a hand-made OffloadingConfig: no engine) and a numpy-backed
memoryview shaped like the primary tier's (slots x chunk bytes). The tests call it the way
TieringOffloadingManager does: submit_store/submit_load with TransferJobs, get_finished_jobs
polled until the job ids come back, lookup() repeated across on_schedule_end() while it says
RETRY. Bytes are compared exactly and kvstashd's own counters are read from its /metrics.
The last test runs vLLM's real TieringOffloadingManager (scheduler side, shared-memory primary
tier) with this tier and reloads chunks after a "restart" (a new manager with empty primary).

The full engine is not started: vLLM 0.32.0's OffloadingConnector worker cannot run on the
CPU platform (see the module docstring of kvstash_client.vllm_tier, "Limits").

Run: cd python/tests && PYTHONPATH=.. python -m pytest -q e2e_vllm/test_vllm_tier.py
"""

from __future__ import annotations

import hashlib
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

pytest.importorskip("vllm")

from vllm.v1.kv_offload.base import (  # noqa: E402
    LookupResult,
    OffloadKey,
    ReqContext,
    ScheduleEndContext,
    make_offload_key,
)
from vllm.v1.kv_offload.config import (  # noqa: E402
    OffloadingCacheConfig,
    OffloadingConfig,
    OffloadingGroupConfig,
    OffloadingModelConfig,
    OffloadingParallelConfig,
)
from vllm.v1.kv_offload.tiering.base import JobResult, TransferJob  # noqa: E402
from vllm.v1.kv_offload.tiering.factory import SecondaryTierFactory  # noqa: E402
from vllm.v1.kv_offload.tiering.spec import TieringOffloadingSpec  # noqa: E402

from kvstash_client.vllm_tier import KvstashTierManager  # noqa: E402

CHUNK_BYTES = 16384  # one primary slot: a multiple of the page size, as vLLM aligns it
NUM_SLOTS = 16
WAIT_S = 20.0
MakeTier = Callable[..., KvstashTierManager]
STEP = ScheduleEndContext(new_req_ids=(), preempted_req_ids=())


# ---- helpers ----


def make_spec(
    secondary_tiers: list[dict] | None = None, model: str = "tiny-llama", num_slots: int = NUM_SLOTS
) -> TieringOffloadingSpec:
    """A real TieringOffloadingSpec for a one-group model whose chunk is CHUNK_BYTES."""
    config = OffloadingConfig(
        groups=(
            OffloadingGroupConfig(
                tokens_per_block=32,
                layer_names=tuple(f"model.layers.{i}.self_attn.attn" for i in range(4)),
                group_id=0,
            ),
        ),
        worker_kv_bytes_per_block=CHUNK_BYTES,
        enable_kv_cache_events=False,
        extra_config={
            "cpu_bytes_to_use": num_slots * CHUNK_BYTES,
            "secondary_tiers": secondary_tiers or [],
        },
        engine_id=f"kvstash-test-{uuid.uuid4().hex[:12]}",
        model=OffloadingModelConfig(name=model, dtype="float32"),
        cache=OffloadingCacheConfig(tokens_per_hash=32, blocks_per_chunk=1),
        parallel=OffloadingParallelConfig(
            rank=0,
            world_size=1,
            tp_size=1,
            pp_size=1,
            pcp_size=1,
            dcp_size=1,
            data_parallel_index=0,
            data_parallel_size=1,
            data_parallel_rank_local=None,
            is_parallelism_agnostic=True,
        ),
    )
    return TieringOffloadingSpec(config)


def tier_config(server: str, **options: object) -> dict:
    """The tier's entry of secondary_tiers, as a user writes it in --kv-transfer-config."""
    return {
        "type": "KvstashTierManager",
        "module_path": "kvstash_client.vllm_tier",
        "server": server,
        "timeout_ms": 2000,
        **options,
    }


def offload_keys(tag: str, n: int) -> list[OffloadKey]:
    """n distinct OffloadKeys (sha256 block hashes, group 0); each test uses its own tag."""
    return [make_offload_key(hashlib.sha256(f"{tag}/{i}".encode()).digest(), 0) for i in range(n)]


def fill_random(arr: np.ndarray, seed: int) -> None:
    arr[:] = np.random.default_rng(seed).integers(0, 256, arr.shape, dtype=np.uint8)


def job(
    job_id: int, keys: Sequence[OffloadKey], slots: Sequence[int], promotion: bool
) -> TransferJob:
    return TransferJob(
        job_id=job_id,
        keys=list(keys),
        chunk_ids=np.array(slots, dtype=np.int32),
        is_promotion=promotion,
        req_context=ReqContext(req_id=f"req-{job_id}"),
    )


def wait_jobs(
    tier: KvstashTierManager, ids: Iterable[int], timeout_s: float = WAIT_S
) -> dict[int, JobResult]:
    """Polls get_finished_jobs() until every id came back; fails on a timeout, a result seen
    twice or one nobody submitted."""
    pending = set(ids)
    done: dict[int, JobResult] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        assert time.monotonic() < deadline, f"jobs {sorted(pending)} unfinished in {timeout_s}s"
        for result in tier.get_finished_jobs():
            assert result.job_id in pending, f"unexpected or repeated result {result}"
            pending.discard(result.job_id)
            done[result.job_id] = result
        time.sleep(0.002)
    return done


def settle_lookups(
    tier: KvstashTierManager, keys: Sequence[OffloadKey], ctx: ReqContext
) -> list[LookupResult]:
    """lookup() every key once per scheduler step until none says RETRY; returns the first
    step's answers, then the settled ones, as [first..., settled...]."""
    first = [tier.lookup(k, ctx) for k in keys]
    answers = first
    deadline = time.monotonic() + WAIT_S
    while LookupResult.RETRY in answers:
        assert time.monotonic() < deadline, "lookups did not settle"
        tier.on_schedule_end(STEP)
        time.sleep(0.005)
        answers = [tier.lookup(k, ctx) for k in keys]
    return first + answers


@pytest.fixture
def primary() -> np.ndarray:
    """The primary tier's memory: NUM_SLOTS slots of CHUNK_BYTES, random bytes."""
    arr = np.zeros((NUM_SLOTS, CHUNK_BYTES), dtype=np.uint8)
    fill_random(arr, 1)
    return arr


@pytest.fixture
def make_tier(kvstashd: Any, primary: np.ndarray) -> Iterator[MakeTier]:
    """Builds tiers through vLLM's factory on the test's kvstashd; shuts them down after."""
    tiers: list[KvstashTierManager] = []

    def build(**options: object) -> KvstashTierManager:
        config = tier_config(kvstashd.address, **options)
        spec = make_spec([config])
        tier = SecondaryTierFactory.create_secondary_tier(config, memoryview(primary), spec)
        assert isinstance(tier, KvstashTierManager)
        tiers.append(tier)
        return tier

    yield build
    for tier in tiers:
        tier.shutdown()


# ---- tests ----


def test_store_wipe_lookup_load_roundtrip(
    kvstashd: Any, primary: np.ndarray, make_tier: MakeTier
) -> None:
    tier = make_tier()
    keys = offload_keys("roundtrip", 4)
    original = primary.copy()

    tier.submit_store(job(1, keys, [0, 1, 2, 3], False))
    done = wait_jobs(tier, [1])
    assert done[1].success and done[1].transfer_bytes == 4 * CHUNK_BYTES
    assert kvstashd.metric("kvstash_server_keys_committed_total") == 4
    assert tier.object_key(keys[0]).startswith("vllm-tier/")
    assert len(tier.object_key(keys[0])) <= 256

    primary[:] = 0
    ctx = ReqContext(req_id="reader")
    absent = offload_keys("roundtrip-absent", 1)
    answers = settle_lookups(tier, keys + absent, ctx)
    assert answers[:5] == [LookupResult.RETRY] * 5  # nothing is answered without a query
    assert answers[5:] == [LookupResult.HIT] * 4 + [LookupResult.MISS]

    tier.submit_load(job(2, keys, [15, 14, 13, 12], True))
    done = wait_jobs(tier, [2])
    assert done[2].success and done[2].successful_keys is None
    for src, dst in zip([0, 1, 2, 3], [15, 14, 13, 12]):
        assert np.array_equal(primary[dst], original[src]), f"slot {dst} != original {src}"
    assert not primary[:12].any(), "a load wrote outside its slots"
    assert kvstashd.metric("kvstash_server_get_hits_total") == 4

    # Write-once: storing again is a success that moves nothing.
    tier.submit_store(job(3, keys, [15, 14, 13, 12], False))
    assert wait_jobs(tier, [3])[3].success
    assert kvstashd.metric("kvstash_server_keys_committed_total") == 4
    stats = tier.stats()
    assert stats["store_chunks_stored"] == 4 and stats["store_chunks_already_present"] == 4
    assert stats["load_chunks_hit"] == 4 and stats["bytes_read"] == 4 * CHUNK_BYTES
    assert stats["errors"] == 0
    tier.on_request_finished(ctx)
    assert not tier.has_pending_work()


def test_partial_load_reports_successful_keys(
    kvstashd: Any, primary: np.ndarray, make_tier: MakeTier
) -> None:
    tier = make_tier()
    keys = offload_keys("partial", 4)
    original = primary.copy()
    tier.submit_store(job(1, [keys[0], keys[2]], [0, 2], False))
    assert wait_jobs(tier, [1])[1].success

    ctx = ReqContext(req_id="reader")
    answers = settle_lookups(tier, keys, ctx)
    assert answers[4:] == [
        LookupResult.HIT,
        LookupResult.MISS,
        LookupResult.HIT,
        LookupResult.MISS,
    ]
    primary[8:12] = 0
    tier.submit_load(job(2, keys, [8, 9, 10, 11], True))
    result = wait_jobs(tier, [2])[2]
    assert not result.success
    assert set(result.successful_keys or ()) == {keys[0], keys[2]}
    assert np.array_equal(primary[8], original[0]) and np.array_equal(primary[10], original[2])
    assert kvstashd.metric("kvstash_server_get_misses_total") == 2
    stats = tier.stats()
    assert stats["load_chunks_missed"] == 2 and stats["load_chunks_failed"] == 0

    # Nothing there at all: a failed job with no successful keys.
    tier.submit_load(job(3, offload_keys("partial-none", 2), [8, 9], True))
    result = wait_jobs(tier, [3])[3]
    assert not result.success and result.successful_keys is None


def test_failed_load_marks_its_keys_missing(
    kvstashd: Any, primary: np.ndarray, make_tier: MakeTier
) -> None:
    """A key that was seen present but failed to load turns into a MISS for the request
    (vLLM would otherwise retry a doomed promotion every step)."""
    tier = make_tier()
    key = offload_keys("vanish", 1)
    tier.submit_store(job(1, key, [0], False))
    assert wait_jobs(tier, [1])[1].success
    ctx = ReqContext(req_id="reader")
    assert settle_lookups(tier, key, ctx)[-1] is LookupResult.HIT
    kvstashd.stop()
    tier.submit_load(job(2, key, [5], True))
    assert not wait_jobs(tier, [2])[2].success
    assert tier.lookup(key[0], ctx) is LookupResult.MISS


def test_deployments_do_not_share_chunks(
    kvstashd: Any, primary: np.ndarray, make_tier: MakeTier
) -> None:
    writer = make_tier(deployment="blue")
    same = make_tier(deployment="blue", num_workers=1)
    other = make_tier(deployment="green")
    keys = offload_keys("deploy", 2)
    writer.submit_store(job(1, keys, [0, 1], False))
    assert wait_jobs(writer, [1])[1].success
    assert same.object_key(keys[0]) == writer.object_key(keys[0])
    assert other.object_key(keys[0]) != writer.object_key(keys[0])
    ctx = ReqContext(req_id="reader")
    assert settle_lookups(same, keys, ctx)[2:] == [LookupResult.HIT] * 2
    assert settle_lookups(other, keys, ctx)[2:] == [LookupResult.MISS] * 2


def test_fingerprint_covers_model_and_chunk_size(kvstashd: Any, primary: np.ndarray) -> None:
    """Another model name or chunk size gives other keys for the same OffloadKey."""
    key = offload_keys("fp", 1)[0]
    prefixes = set()
    for model, view in [
        ("tiny-llama", memoryview(primary)),
        ("other-model", memoryview(primary)),
        ("tiny-llama", memoryview(primary.reshape(NUM_SLOTS * 2, CHUNK_BYTES // 2))),
    ]:
        config = tier_config(kvstashd.address, num_workers=1)
        tier = SecondaryTierFactory.create_secondary_tier(config, view, make_spec([config], model))
        try:
            prefixes.add(tier.object_key(key).rsplit("/", 1)[0])
        finally:
            tier.shutdown()
    assert len(prefixes) == 3


def test_kvstashd_stopped_fails_jobs_without_raising(
    kvstashd: Any, primary: np.ndarray, make_tier: MakeTier
) -> None:
    tier = make_tier(timeout_ms=1000)
    keys = offload_keys("stopped", 6)
    tier.submit_store(job(1, keys[:3], [0, 1, 2], False))
    assert wait_jobs(tier, [1])[1].success

    kvstashd.stop()
    start = time.monotonic()
    tier.submit_store(job(2, keys[3:], [3, 4, 5], False))
    tier.submit_load(job(3, keys[:3], [6, 7, 8], True))
    done = wait_jobs(tier, [2, 3], timeout_s=15)
    assert not done[2].success and not done[3].success
    assert done[3].successful_keys is None
    ctx = ReqContext(req_id="reader")
    assert settle_lookups(tier, keys[3:], ctx)[3:] == [LookupResult.MISS] * 3
    tier.submit_store(job(4, keys[3:], [3, 4, 5], False))
    tier.drain_jobs()
    assert time.monotonic() - start < 15, "a dead kvstashd held the tier too long"
    assert [r.job_id for r in tier.get_finished_jobs()] == [4]
    assert not tier.has_pending_work()
    stats = tier.stats()
    assert stats["errors"] >= 3 and stats["store_jobs_failed"] == 2
    assert stats["load_chunks_failed"] == 3


def test_drain_jobs_waits_for_every_job(
    kvstashd: Any, primary: np.ndarray, make_tier: MakeTier
) -> None:
    tier = make_tier(num_workers=2)
    ids = []
    for i in range(12):
        keys = offload_keys(f"drain-{i}", 4)
        tier.submit_store(job(i, keys, [(4 * i + j) % NUM_SLOTS for j in range(4)], False))
        ids.append(i)
    assert tier.has_pending_work()
    tier.drain_jobs()
    results = list(tier.get_finished_jobs())  # one call: every result is already queued
    assert sorted(r.job_id for r in results) == ids
    assert all(r.success for r in results)
    assert kvstashd.metric("kvstash_server_keys_committed_total") == 48
    assert not tier.has_pending_work()


def test_shutdown_fails_later_jobs(kvstashd: Any, primary: np.ndarray, make_tier: MakeTier) -> None:
    tier = make_tier()
    tier.shutdown()
    tier.submit_store(job(1, offload_keys("closed", 1), [0], False))
    assert not wait_jobs(tier, [1])[1].success
    tier.shutdown()  # idempotent


def test_constructor_errors(kvstashd: Any, primary: np.ndarray) -> None:
    spec = make_spec()
    view = memoryview(primary)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(ConnectionError, match=dead):
        SecondaryTierFactory.create_secondary_tier(
            tier_config(dead, connect_timeout_ms=200), view, spec
        )
    for bad in ({"num_workers": 0}, {"timeout_ms": "soon"}, {"bogus": 1}, {"server": "nohost"}):
        with pytest.raises(ValueError):
            SecondaryTierFactory.create_secondary_tier(
                {**tier_config(kvstashd.address), **bad}, view, spec
            )


# ---- vLLM's own TieringOffloadingManager (scheduler side) with the kvstash tier ----


def step_until(manager: Any, done: Callable[[], bool], what: str) -> None:
    """Runs scheduler steps (on_schedule_end) until done() is true."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"{what}: not done within {WAIT_S}s"
        manager.on_schedule_end(STEP)
        time.sleep(0.005)


@pytest.fixture
def managers() -> Iterator[list[Any]]:
    """TieringOffloadingManagers of the test, shut down after it."""
    made: list[Any] = []
    yield made
    for manager in made:
        manager.shutdown()


def test_tiering_manager_reloads_after_restart(kvstashd: Any, managers: list[Any]) -> None:
    config = tier_config(kvstashd.address)
    keys = offload_keys("manager", 3)

    # Engine 1: the GPU->CPU store lands in the primary tier, which cascades it to kvstash.
    first = make_spec([dict(config)]).get_manager()
    managers.append(first)
    view = np.asarray(first.primary_tier.get_kv_memoryview()).view(np.uint8)
    ctx = ReqContext(req_id="writer")
    first.on_new_request(ctx)
    stored = first.prepare_store(keys, ctx)
    assert stored is not None and stored.keys_to_store == keys
    slots = list(stored.store_spec.chunk_ids)
    for i, slot in enumerate(slots):  # the CPU worker's copy from the GPU
        fill_random(view[slot], 100 + i)
    written = {k: view[s].copy() for k, s in zip(keys, slots)}
    first.complete_store(keys, ctx)
    first.on_request_finished(ctx)
    step_until(first, lambda: not first.has_pending_work(), "cascade")
    assert kvstashd.metric("kvstash_server_keys_committed_total") == 3
    first.shutdown()
    managers.remove(first)

    # Engine 2: empty primary tier; the chunks come back from kvstash.
    second = make_spec([dict(config)]).get_manager()
    managers.append(second)
    view = np.asarray(second.primary_tier.get_kv_memoryview()).view(np.uint8)
    view[:] = 0
    ctx = ReqContext(req_id="reader")
    second.on_new_request(ctx)
    seen: list[LookupResult] = []

    def all_hit() -> bool:
        answers = [second.lookup(k, ctx) for k in keys]
        seen.extend(answers)
        return answers == [LookupResult.HIT] * 3

    step_until(second, all_hit, "promotion")
    assert LookupResult.RETRY in seen and LookupResult.HIT_PENDING in seen
    load = second.prepare_load(keys, ctx)
    for key, slot in zip(keys, load.block_ids):
        assert np.array_equal(view[slot], written[key]), "promoted chunk differs"
    second.complete_load(keys, ctx)
    second.on_request_finished(ctx)
    assert kvstashd.metric("kvstash_server_get_hits_total") == 3
