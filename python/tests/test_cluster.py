"""kvstash_client over a cluster: a real etcd and three real kvstashd nodes on loopback
(conftest's cluster fixtures), addressed as "etcd://HOST:PORT/pytest" and as a static
"nodes://n0=...,n1=...,n2=..." list. Every test runs under a watchdog and bounds its waits.
"""

from __future__ import annotations

import faulthandler
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import (
    CLUSTER_NAME,
    CLUSTER_TTL_S,
    KvstashCluster,
    free_port,
    node_names,
    up_node_names,
    wait_until,
)

from kvstash_client import AsyncStore, ErrorCode, Store
from kvstash_client._options import ConnectorOptions

TEST_LIMIT_S = 120  # the watchdog: a test still running after this aborts the run
CALL_LIMIT_S = 1.5  # the most one call may take while a node is dead
BLOCK = 4096
MiB = 1 << 20


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """Aborts the run (with every thread's traceback) if a test outlives TEST_LIMIT_S: a call
    stuck in C++ would not see a Python-level timeout."""
    faulthandler.dump_traceback_later(TEST_LIMIT_S, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def keys_of(n: int) -> list[str]:
    """n keys no other test uses (blocks are write-once)."""
    run = uuid.uuid4().hex[:12]
    return [f"{run}/blk{i}" for i in range(n)]


def value_of(key: str, size: int = BLOCK) -> bytes:
    seed = int.from_bytes(key.encode()[-8:].rjust(8, b"\0"), "little")
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def owners(cluster: KvstashCluster, keys: list[str]) -> dict[str, str]:
    """The node each key is stored on, asked of each node directly (one Store per node)."""
    found: dict[str, str] = {}
    for node in cluster.nodes:
        with Store(node.address, timeout_ms=2000) as direct:
            for key, present in zip(keys, direct.batch_is_exist(keys)):
                if present == 1:
                    assert key not in found, f"{key} on {found[key]} and {node.name}"
                    found[key] = node.name
    return found


@pytest.mark.parametrize("kind", ["etcd", "nodes"])
def test_put_get_exist_remove_spread_over_all_nodes(cluster: KvstashCluster, kind: str) -> None:
    keys = keys_of(60)
    with Store(cluster.address(kind), timeout_ms=2000) as store:
        assert store.server == cluster.address(kind)
        for key in keys:
            assert store.put(key, value_of(key)) == 0
        for key in keys:
            assert store.get(key) == value_of(key)
            assert store.is_exist(key) == 1
        assert store.is_exist(keys[0] + "/absent") == 0
        assert store.get(keys[0] + "/absent") == b""
        assert store.put(keys[0], b"other") == ErrorCode.ALREADY_EXISTS  # write-once
        where = owners(cluster, keys)
        assert set(where) == set(keys)  # each key on exactly one node
        assert set(where.values()) == {"n0", "n1", "n2"}  # and every node holds some
        assert store.remove(keys[0]) == 0
        assert store.get(keys[0]) == b""
        assert store.is_exist(keys[0]) == 0
        assert store.remove(keys[0]) == ErrorCode.NOT_FOUND


def test_etcd_and_static_list_place_keys_alike(cluster: KvstashCluster) -> None:
    keys = keys_of(30)
    with Store(cluster.etcd_address, timeout_ms=2000) as by_etcd:
        assert by_etcd.batch_put(keys, [value_of(k) for k in keys]) == [0] * len(keys)
    with Store(cluster.static_address, timeout_ms=2000) as by_list:
        assert [by_list.get(k) for k in keys] == [value_of(k) for k in keys]


@pytest.mark.parametrize("kind", ["etcd", "nodes"])
def test_batch_calls(cluster: KvstashCluster, kind: str) -> None:
    keys = keys_of(48)
    values = [value_of(k, BLOCK + i) for i, k in enumerate(keys)]
    with Store(cluster.address(kind), timeout_ms=2000) as store:
        assert store.batch_put(keys, values) == [0] * len(keys)
        assert store.batch_put(keys[:2], values[:2]) == [ErrorCode.ALREADY_EXISTS] * 2
        dests = [bytearray(len(v)) for v in values]
        assert store.batch_get(keys, dests) == [len(v) for v in values]
        assert [bytes(d) for d in dests] == values
        absent = [k + "/absent" for k in keys[:3]]
        assert store.batch_is_exist(keys + absent) == [1] * len(keys) + [0] * 3
        assert store.batch_get(absent, [bytearray(BLOCK)] * 3) == [ErrorCode.NOT_FOUND] * 3
        assert store.batch_remove(keys[:10]) == [0] * 10
        assert store.batch_remove(keys[:2]) == [ErrorCode.NOT_FOUND] * 2
        assert store.batch_is_exist(keys[:12]) == [0] * 10 + [1] * 2


@pytest.mark.parametrize("kind", ["etcd", "nodes"])
def test_batch_get_into_allocated_and_registered_buffers(
    cluster: KvstashCluster, kind: str
) -> None:
    keys = keys_of(24)
    values = [value_of(k) for k in keys]
    total = BLOCK * len(keys)
    with Store(cluster.address(kind), timeout_ms=2000) as store:
        source = store.allocate_buffer(total)
        assert source.size == total and source.ptr % 4096 == 0  # page-aligned host memory
        memoryview(source)[:] = b"".join(values)
        ptrs = [source.ptr + i * BLOCK for i in range(len(keys))]
        assert store.batch_put_from(keys, ptrs, [BLOCK] * len(keys)) == [0] * len(keys)

        dest = store.allocate_buffer(total)
        ptrs = [dest.ptr + i * BLOCK for i in range(len(keys))]
        assert store.batch_get_into(keys, ptrs, [BLOCK] * len(keys)) == [BLOCK] * len(keys)
        assert bytes(memoryview(dest)) == b"".join(values)

        pool = np.zeros(total, dtype=np.uint8)
        assert store.register_buffer(pool) == 0  # recorded: no registration spans nodes
        assert store.register_buffer(pool) == ErrorCode.ALREADY_EXISTS
        base = pool.ctypes.data
        ptrs = [base + i * BLOCK for i in range(len(keys))]
        assert store.batch_get_into(keys, ptrs, [BLOCK] * len(keys)) == [BLOCK] * len(keys)
        assert pool.tobytes() == b"".join(values)
        assert store.get_into(keys[3], base, BLOCK) == BLOCK
        assert store.unregister_buffer(pool) == 0
        assert store.unregister_buffer(pool) == ErrorCode.INVALID_ARGUMENT
    # The Buffers outlive the closed Store and stay readable.
    assert bytes(memoryview(dest)[:BLOCK]) == values[0]


@pytest.mark.parametrize("kind", ["etcd", "nodes"])
def test_longest_prefix_across_nodes(cluster: KvstashCluster, kind: str) -> None:
    keys = keys_of(12)
    with Store(cluster.address(kind), timeout_ms=2000) as store:
        assert store.batch_put(keys, [value_of(k) for k in keys]) == [0] * len(keys)
        assert len(set(owners(cluster, keys).values())) >= 2  # the chain crosses nodes
        assert store.longest_prefix(keys) == len(keys)
        assert store.remove(keys[7]) == 0
        assert store.longest_prefix(keys) == 7
        assert store.longest_prefix([keys[0] + "/absent", *keys]) == 0
        assert store.longest_prefix([]) == 0


def test_nodes_lists_the_up_nodes(cluster: KvstashCluster) -> None:
    addresses = {n.name: n.address for n in cluster.nodes}
    with Store(cluster.etcd_address, timeout_ms=2000) as store:
        nodes = store.nodes()
        assert sorted(n["name"] for n in nodes) == ["n0", "n1", "n2"]
        for n in nodes:
            assert n["address"] == addresses[n["name"]]
            assert n["state"] == "up"
            assert n["boot_id"] != ""
            assert n["weight"] == 1.0
            assert n["dram_bytes"] == 256 * MiB and n["flash_bytes"] == 0
            assert isinstance(n["connected"], bool) and n["failures"] == 0
        stats = store.stats()
        assert stats["cluster.nodes"] == 3 and stats["cluster.nodes_up"] == 3
        assert "python.calls" in stats
    with Store(cluster.static_address, timeout_ms=2000) as store:
        nodes = store.nodes()
        assert {n["name"]: n["address"] for n in nodes} == addresses
        assert all(n["state"] == "up" for n in nodes)
    node = cluster.nodes[0]
    with Store(node.address, timeout_ms=2000) as single:
        [only] = single.nodes()
        assert only["name"] == only["address"] == node.address
        assert only["state"] == "up" and only["connected"] is True
        assert only["dram_bytes"] > 0 and only["failures"] == 0
    assert single.nodes() == []  # closed


def test_async_store_over_a_cluster(cluster: KvstashCluster) -> None:
    keys = keys_of(40)
    values = [value_of(k) for k in keys]
    store = AsyncStore(cluster.etcd_address, num_workers=2, timeout_ms=2000)
    try:

        def complete(future_id: int) -> tuple[bool, str, list[bool]]:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                for fid, ok, error, results in store.drain_completions():
                    assert fid == future_id
                    return ok, error, results
                time.sleep(0.01)
            pytest.fail("no completion within 10 s")

        ok, error, results = complete(store.submit_batch_set(keys, [memoryview(v) for v in values]))
        assert ok, error
        assert results == [True] * len(keys)
        dests = [bytearray(BLOCK) for _ in keys] + [bytearray(BLOCK)]
        ok, _, results = complete(store.submit_batch_get(keys + [keys[0] + "/absent"], dests))
        assert ok and results == [True] * len(keys) + [False]
        assert [bytes(d) for d in dests[:-1]] == values
        ok, _, results = complete(store.submit_batch_exists(keys[:3]))
        assert ok and results == [True] * 3
        assert "async.batches" in store.stats()
    finally:
        store.close()
    assert set(owners(cluster, keys).values()) == {"n0", "n1", "n2"}


def test_killed_node_keys_are_misses_and_it_leaves_after_its_ttl(
    lone_cluster: KvstashCluster,
) -> None:
    keys = keys_of(60)
    values = {k: value_of(k) for k in keys}
    stores = [Store(lone_cluster.address(kind), timeout_ms=1000) for kind in ("etcd", "nodes")]
    try:
        assert stores[0].batch_put(keys, list(values.values())) == [0] * len(keys)
        where = owners(lone_cluster, keys)
        victim = lone_cluster.nodes[1]
        lost = {k for k in keys if where[k] == victim.name}
        assert lost and len(lost) < len(keys)

        victim.kill()  # SIGKILL
        for store in stores:
            for _ in range(2):  # the first call finds the node dead, the next skips it
                for key in keys:
                    started = time.monotonic()
                    got = store.get(key)
                    took = time.monotonic() - started
                    assert took < CALL_LIMIT_S, f"get of {key} took {took:.2f} s"
                    assert got == (b"" if key in lost else values[key])
            started = time.monotonic()
            dests = [bytearray(BLOCK) for _ in keys]
            sizes = store.batch_get(keys, dests)
            assert time.monotonic() - started < CALL_LIMIT_S
            for key, size, dest in zip(keys, sizes, dests):
                if key in lost:
                    assert size == ErrorCode.NOT_FOUND
                else:
                    assert size == BLOCK and bytes(dest) == values[key]
            flags = store.batch_is_exist(keys)
            assert flags == [0 if k in lost else 1 for k in keys]

        # After the lease TTL etcd drops the node, and the client's view with it; the other
        # nodes' keys keep their owners (rendezvous placement) and still read back.
        by_etcd = stores[0]
        wait_until(
            f"{victim.name} leaving",
            lambda: node_names(by_etcd) == {"n0", "n2"},
            CLUSTER_TTL_S + 10,
        )
        assert up_node_names(by_etcd) == {"n0", "n2"}
        for key in keys:
            if key not in lost:
                assert by_etcd.get(key) == values[key]
    finally:
        for store in stores:
            store.close()


# ---- ConnectorOptions: the connectors' shared `server` option --------------------------


@pytest.mark.parametrize(
    "server",
    [
        "127.0.0.1:7400",
        "[::1]:7400",
        "kvstash-0.svc:7400",
        "etcd://10.0.0.2:2379/prod",
        "etcd://10.0.0.2:2379,10.0.0.3:2379",
        "nodes://a=10.0.0.7:7400,b=10.0.0.8:7400*2",
    ],
)
def test_connector_options_accept_a_server_or_a_cluster(server: str) -> None:
    assert ConnectorOptions.parse({"server": server}).server == server


@pytest.mark.parametrize("server", ["", "localhost", "etcd://", "nodes://", "http://h:1"])
def test_connector_options_refuse_other_servers(server: str) -> None:
    with pytest.raises(ValueError, match="server"):
        ConnectorOptions.parse({"server": server})


def test_unreachable_cluster_is_a_connection_error_naming_it() -> None:
    address = f"etcd://127.0.0.1:{free_port()}/{CLUSTER_NAME}"
    options = ConnectorOptions.parse({"server": address, "connect_timeout_ms": 200})
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="cluster") as raised:
        options.connect()
    assert address in str(raised.value)
    assert time.monotonic() - started < 10
    with pytest.raises(ValueError):
        Store("nodes://a=nohostport")
