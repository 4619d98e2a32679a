"""kvstash_client.Store against a real kvstashd: the Mooncake-style API end to end."""

from __future__ import annotations

import ctypes
import logging
import threading
import time

import numpy as np
import pytest

from kvstash_client import ErrorCode, Store, error_name, last_error


@pytest.fixture
def store(kvstashd):
    with Store(kvstashd.address, timeout_ms=5000) as s:
        yield s


def pattern(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def test_put_get_is_exist_remove(store: Store) -> None:
    value = pattern(100_000, 1).tobytes()
    assert store.put("k1", value) == 0
    assert store.get("k1") == value
    assert store.is_exist("k1") == 1
    assert store.is_exist(b"absent") == 0
    assert store.put("k1", b"other") == ErrorCode.ALREADY_EXISTS  # write-once
    assert store.remove("k1") == 0
    assert store.get("k1") == b""
    assert store.remove("k1") == ErrorCode.NOT_FOUND
    assert error_name(ErrorCode.NOT_FOUND) == "NotFound"


def test_get_of_a_block_larger_than_the_first_try(store: Store) -> None:
    value = pattern(3 << 20, 2).tobytes()  # over get()'s 1 MiB first attempt
    assert store.put("big", value) == 0
    assert store.get("big") == value


def test_buffer_kinds(store: Store) -> None:
    src = pattern(4096, 3)
    assert store.put("np", src) == 0
    assert store.put("ba", bytearray(src.tobytes())) == 0
    assert store.put("mv", memoryview(src.tobytes())) == 0
    for key in ("np", "ba", "mv"):
        dst = np.zeros(8192, dtype=np.uint8)
        assert store.get_into(key, dst) == 4096
        assert np.array_equal(dst[:4096], src)
    # DLPack: numpy exports __dlpack__; hide its buffer protocol to take that path.
    class DLPackOnly:
        def __init__(self, a: np.ndarray) -> None:
            self.a = a

        def __dlpack__(self, **kwargs):
            return self.a.__dlpack__(**kwargs)

    dst = np.zeros(4096, dtype=np.uint8)
    assert store.get_into("np", DLPackOnly(dst)) == 4096
    assert np.array_equal(dst, src)
    f32 = pattern(4096, 4).view(np.float32)
    assert store.put("dl", DLPackOnly(f32)) == 0
    assert store.get("dl") == f32.tobytes()
    # A strided view is refused with a reason, not an exception.
    assert store.put("strided", src[::2]) == ErrorCode.INVALID_ARGUMENT
    assert "contiguous" in last_error()
    # Read-only memory as a get destination is refused.
    assert store.get_into("np", b"\0" * 4096) == ErrorCode.INVALID_ARGUMENT


class CudaArrayInterfaceOnly:
    """Exposes a host array through __cuda_array_interface__ alone: the parsing path that
    CuPy/torch CUDA tensors take (the client classifies the pointer itself; host memory
    stays on the host path, so this runs without a GPU)."""

    def __init__(self, a: np.ndarray, readonly: bool = False, strides=None) -> None:
        self.a = a
        self.__cuda_array_interface__ = {
            "shape": a.shape, "typestr": a.dtype.str, "data": (a.ctypes.data, readonly),
            "strides": strides, "version": 3,
        }


def test_cuda_array_interface_is_parsed(store: Store) -> None:
    src = pattern(8192, 8).view(np.float32).reshape(64, 32)
    assert store.put("cai", CudaArrayInterfaceOnly(src)) == 0
    dst = np.zeros_like(src)
    assert store.get_into("cai", CudaArrayInterfaceOnly(dst)) == src.nbytes
    assert dst.tobytes() == src.tobytes()  # bytes: random bits make NaNs
    assert store.get_into("cai", CudaArrayInterfaceOnly(dst, readonly=True)) == (
        ErrorCode.INVALID_ARGUMENT)
    assert "read-only" in last_error()
    # Explicit C strides are accepted; transposed ones are refused.
    assert store.get_into("cai", CudaArrayInterfaceOnly(dst, strides=(128, 4))) == src.nbytes
    assert store.get_into("cai", CudaArrayInterfaceOnly(dst, strides=(4, 256))) == (
        ErrorCode.INVALID_ARGUMENT)


def test_zero_copy_registered_and_raw_pointers(store: Store) -> None:
    pool = np.zeros(8 << 20, dtype=np.uint8)
    assert store.register_buffer(pool) == 0
    assert store.register_buffer(pool) == ErrorCode.ALREADY_EXISTS
    page = 1 << 20
    base = pool.ctypes.data
    keys = [f"page-{i}" for i in range(8)]
    for i in range(8):
        pool[i * page:(i + 1) * page] = pattern(page, 10 + i)
    ptrs = [base + i * page for i in range(8)]
    assert store.batch_put_from(keys, ptrs, [page] * 8) == [0] * 8
    assert store.batch_is_exist(keys + ["nope"]) == [1] * 8 + [0]
    assert store.longest_prefix(keys[:3] + ["nope"] + keys[3:]) == 3
    expected = pool.copy()
    pool[:] = 0
    assert store.batch_get_into(keys + ["nope"], ptrs + [base], [page] * 9) == [page] * 8 + [
        ErrorCode.NOT_FOUND
    ]
    assert np.array_equal(pool, expected)
    # A buffer smaller than the block: an error naming the size, the rest unaffected.
    assert store.get_into("page-0", base, 100) == ErrorCode.INVALID_ARGUMENT
    assert "1048576" in last_error()
    assert store.put_from("raw", base, 4096) == 0
    assert store.get("raw") == expected[:4096].tobytes()
    assert store.unregister_buffer(pool) == 0
    assert store.unregister_buffer(base) == ErrorCode.INVALID_ARGUMENT
    assert store.unregister_buffer(-5) == ErrorCode.INVALID_ARGUMENT  # a code, not a raise
    assert store.batch_remove(keys) == [0] * 8


def test_allocate_buffer_is_shared_memory_the_buffer_protocol_sees(store: Store) -> None:
    buf = store.allocate_buffer(1 << 20)
    view = np.frombuffer(buf, dtype=np.uint8)
    assert view.size == len(buf) == buf.size == 1 << 20
    view[:] = pattern(1 << 20, 5)
    assert store.put_from("alloc", buf.ptr, buf.size) == 0
    view[:] = 0
    assert store.get_into("alloc", buf) == 1 << 20
    assert np.array_equal(view, pattern(1 << 20, 5))
    store.close()
    view[:10] = 1  # the memory outlives close() while the Buffer lives
    assert store.put("after-close", b"x") == ErrorCode.UNAVAILABLE


def test_batch_with_bad_items_fails_only_those(store: Store) -> None:
    good = pattern(1000, 6)
    res = store.batch_put(["a", 42, "c", "x" * 300], [good, good, good[::2], good])
    assert res[0] == 0
    assert res[1:] == [ErrorCode.INVALID_ARGUMENT] * 3
    assert store.batch_put_from(["a"], [1, 2], [3]) == [ErrorCode.INVALID_ARGUMENT]
    dst = [bytearray(1000), bytearray(10)]
    assert store.batch_get(["a", "a"], dst) == [1000, ErrorCode.INVALID_ARGUMENT]
    assert bytes(dst[0]) == good.tobytes()


def test_stats_counts_both_sides(store: Store, kvstashd) -> None:
    assert store.put("s", b"x" * 100) == 0
    assert store.get("s") == b"x" * 100
    assert store.get("missing") == b""
    stats = store.stats()
    assert stats["python.put_bytes"] == 100
    assert stats["python.get_bytes"] == 100
    assert stats["python.misses"] == 1
    assert store.put("s", b"y") == ErrorCode.ALREADY_EXISTS
    assert store.stats()["python.already_present"] == 1
    assert stats["server.requests_get"] == 2  # the server's own count of this client's gets
    assert stats["server.requests_commit"] == 1


def test_server_death_is_an_error_code_not_an_exception(kvstashd, caplog) -> None:
    store = Store(kvstashd.address, timeout_ms=2000)
    assert store.put("before", b"1" * 10) == 0
    kvstashd.stop()
    time.sleep(1.1)  # past the one-per-second window of earlier tests' log lines
    with caplog.at_level(logging.WARNING, logger="kvstash_client"):
        results = [store.put(f"k{i}", b"2" * 10) for i in range(20)]
        assert store.get("before") == b""
        assert store.is_exist("before") < 0
        assert store.batch_get_into(["before"], [ctypes.addressof(ctypes.create_string_buffer(10))],
                                    [10])[0] < 0
    assert all(r in (ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT) for r in results)
    # 20+ failures in well under a second: the log is rate-limited to one line.
    assert 1 <= len([r for r in caplog.records if r.name == "kvstash_client"]) <= 2
    assert store.stats()["python.errors"] >= 20


def test_unreachable_server_at_start_is_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="cannot connect to 127.0.0.1:1"):
        Store("127.0.0.1:1", connect_timeout_ms=200)
    with pytest.raises(ValueError, match="transfer"):
        Store("127.0.0.1:1", transfer="carrier-pigeon")


def test_threads_share_a_store_and_release_the_gil(store: Store) -> None:
    errors: list[str] = []

    def worker(t: int) -> None:
        for i in range(50):
            v = pattern(65536, t * 1000 + i).tobytes()
            if store.put(f"t{t}-{i}", v) != 0 or store.get(f"t{t}-{i}") != v:
                errors.append(f"t{t}-{i}: {last_error()}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
