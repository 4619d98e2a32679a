"""AsyncStore against a real kvstashd: LMCache's native connector contract, without LMCache.

The contract (lmcache native_plugin L2 adapter): submit_batch_* return a future id at once;
event_fd() becomes readable when completions are ready; drain_completions() returns
(future_id, ok, error, per-key bools). A keys/memoryviews length mismatch is reported as a
failed completion (ok False, every key False), not as an exception at submit.

Needs only numpy and pytest; the `kvstashd` fixture (conftest.py) starts the server.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterable

import numpy as np
import pytest

from kvstash_client import AsyncStore

Completion = tuple[int, bool, str, list[bool] | None]

WAIT_S = 20.0


def _block(seed: int, size: int = 8192) -> np.ndarray:
    """Deterministic bytes for key number seed."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def _keys(prefix: str, n: int) -> list[str]:
    """n distinct keys under prefix (each test uses its own prefix: keys are write-once)."""
    return [f"{prefix}/{i:04d}" for i in range(n)]


def _wait_readable(fd: int, timeout_s: float) -> bool:
    """Whether fd becomes readable within timeout_s."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(int(timeout_s * 1000)))


def wait_for(
    store: AsyncStore, ids: Iterable[int], timeout_s: float = WAIT_S
) -> dict[int, Completion]:
    """Drains until every id in ids completed, waiting on the eventfd; fails on a timeout,
    on a completion seen twice and on a completion nobody submitted."""
    pending = set(ids)
    done: dict[int, Completion] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        left = deadline - time.monotonic()
        assert left > 0, f"no completion for {sorted(pending)[:5]} within {timeout_s}s"
        if not _wait_readable(store.event_fd(), min(left, 1.0)):
            continue
        for c in store.drain_completions():
            fid, ok, err, bools = c
            assert fid not in done, f"completion {fid} delivered twice"
            assert fid in pending, f"completion {fid} was never submitted (or already seen)"
            pending.discard(fid)
            done[fid] = (fid, ok, err, bools)
    return done


def run_one(store: AsyncStore, fid: int) -> Completion:
    """The completion of fid."""
    return wait_for(store, [fid])[fid]


@pytest.fixture
def store(kvstashd):  # type: ignore[no-untyped-def]
    """An AsyncStore with two workers on the test's kvstashd, closed afterwards."""
    s = AsyncStore(kvstashd.address, num_workers=2, timeout_ms=5000)
    yield s
    s.close()


def test_eventfd_readable_only_after_completion(store: AsyncStore) -> None:
    fd = store.event_fd()
    assert isinstance(fd, int) and fd >= 0
    assert store.drain_completions() == []
    assert not _wait_readable(fd, 0.05), "eventfd readable with nothing submitted"
    fid = store.submit_batch_exists(["evfd/none"])
    assert _wait_readable(fd, WAIT_S), "eventfd never became readable"
    completions = store.drain_completions()
    assert [c[0] for c in completions] == [fid]
    assert not _wait_readable(fd, 0.05), "eventfd still readable after the drain"


def test_set_get_roundtrip_hit_and_miss(store: AsyncStore) -> None:
    keys = _keys("rt", 8)
    blocks = [_block(i) for i in range(8)]
    fid, ok, err, stored = run_one(
        store, store.submit_batch_set(keys, [memoryview(b) for b in blocks])
    )
    assert ok, err
    assert stored == [True] * 8

    out = [np.zeros(8192, dtype=np.uint8) for _ in range(9)]
    get_keys = keys + ["rt/absent"]
    _, ok, err, hits = run_one(
        store, store.submit_batch_get(get_keys, [memoryview(o) for o in out])
    )
    assert hits == [True] * 8 + [False]
    for i in range(8):
        assert np.array_equal(out[i], blocks[i]), f"block {i} read back wrong"
    assert not out[8].any(), "a miss wrote into its buffer"
    assert isinstance(err, str)


def test_get_into_wrong_size_buffer_is_not_a_hit(store: AsyncStore) -> None:
    block = _block(99)
    _, ok, err, _ = run_one(store, store.submit_batch_set(["size/k"], [memoryview(block)]))
    assert ok, err
    small = np.zeros(4096, dtype=np.uint8)
    large = np.zeros(16384, dtype=np.uint8)
    _, _, _, hits = run_one(
        store, store.submit_batch_get(["size/k", "size/k"], [memoryview(small), memoryview(large)])
    )
    assert hits == [False, False]


def test_set_existing_key_reports_stored_and_keeps_first_value(store: AsyncStore) -> None:
    first, second = _block(1), _block(2)
    assert run_one(store, store.submit_batch_set(["wo/k"], [memoryview(first)]))[3] == [True]
    _, ok, err, stored = run_one(store, store.submit_batch_set(["wo/k"], [memoryview(second)]))
    assert ok, err
    assert stored == [True], "an already present key must be reported as stored"
    out = np.zeros_like(first)
    assert run_one(store, store.submit_batch_get(["wo/k"], [memoryview(out)]))[3] == [True]
    assert np.array_equal(out, first), "write-once: the first value must survive"


def test_exists_and_delete_per_key(store: AsyncStore) -> None:
    keys = _keys("ed", 4)
    run_one(store, store.submit_batch_set(keys[:2], [memoryview(_block(i)) for i in range(2)]))
    _, ok, err, present = run_one(store, store.submit_batch_exists(keys))
    assert ok, err
    assert present == [True, True, False, False]

    _, ok, err, deleted = run_one(store, store.submit_batch_delete([keys[0], keys[2]]))
    assert deleted == [True, False]
    _, _, _, present = run_one(store, store.submit_batch_exists(keys))
    assert present == [False, True, False, False]


def test_many_concurrent_submissions_from_threads(store: AsyncStore) -> None:
    threads, per_thread, keys_per_batch = 4, 16, 4
    ids: list[int] = []
    ids_lock = threading.Lock()
    expected: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def submitter(t: int) -> None:
        try:
            for b in range(per_thread):
                keys = [f"conc/{t}/{b}/{j}" for j in range(keys_per_batch)]
                blocks = [_block(hash(k) & 0xFFFF, 4096) for k in keys]
                fid = store.submit_batch_set(keys, [memoryview(x) for x in blocks])
                with ids_lock:
                    ids.append(fid)
                    expected.update(zip(keys, blocks, strict=True))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    workers = [threading.Thread(target=submitter, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert len(set(ids)) == threads * per_thread, "future ids must be unique"
    done = wait_for(store, ids)
    assert all(c[1] and c[3] == [True] * keys_per_batch for c in done.values())

    keys = sorted(expected)
    out = [np.zeros(4096, dtype=np.uint8) for _ in keys]
    get_ids = [
        store.submit_batch_get(keys[i : i + 8], [memoryview(o) for o in out[i : i + 8]])
        for i in range(0, len(keys), 8)
    ]
    for c in wait_for(store, get_ids).values():
        assert c[3] == [True] * len(c[3])
    for k, o in zip(keys, out, strict=True):
        assert np.array_equal(o, expected[k]), f"{k} read back wrong"


def test_length_mismatch_is_a_failed_completion(store: AsyncStore) -> None:
    bufs = [memoryview(np.zeros(64, dtype=np.uint8))]
    for submit in (store.submit_batch_get, store.submit_batch_set):
        fid = submit(["mm/a", "mm/b"], bufs)  # documented: no ValueError at submit
        _, ok, err, bools = run_one(store, fid)
        assert not ok
        assert err, "a failed completion names its cause"
        assert not any(bools or [])
    _, _, _, present = run_one(store, store.submit_batch_exists(["mm/a", "mm/b"]))
    assert present == [False, False], "a rejected batch must not have stored anything"


def test_empty_batches_complete(store: AsyncStore) -> None:
    ids = [
        store.submit_batch_get([], []),
        store.submit_batch_set([], []),
        store.submit_batch_exists([]),
        store.submit_batch_delete([]),
    ]
    for c in wait_for(store, ids).values():
        assert c[3] in (None, [])


def test_close_is_idempotent_and_later_submissions_fail(kvstashd) -> None:  # type: ignore[no-untyped-def]
    s = AsyncStore(kvstashd.address, num_workers=2)
    fid = s.submit_batch_set(["close/k"], [memoryview(_block(5))])
    s.close()  # waits for what runs; what did not run fails
    s.close()
    later = s.submit_batch_exists(["close/k"])
    done = wait_for(s, [fid, later])
    assert not done[later][1], "a submission after close must fail"
    s.close()


def test_unreachable_server_raises_connection_error() -> None:
    with pytest.raises(ConnectionError):
        AsyncStore("127.0.0.1:1", connect_timeout_ms=300)


def test_eventfd_is_nonblocking_and_survives_drains(store: AsyncStore) -> None:
    # Many drains with nothing pending must neither block nor raise.
    for _ in range(100):
        assert store.drain_completions() == []
    assert os.get_blocking(store.event_fd()) is False
