#!/usr/bin/env python3
"""Mooncake Store's Python client, measured with the same workload as client_bench.py.

Same shape as our Python side: `count` blocks of `block_size` bytes, `batch` keys per call,
one call in flight, zero-copy (batch_put_from / batch_get_into) from one registered buffer of
`batch` blocks, put then get in each round, GB/s per round (medians are the caller's).

Mooncake is not a dependency of kvstash: run this with the python of a separate virtualenv that
has it (`pip install mooncake-transfer-engine-non-cuda numpy`; the plain
`mooncake-transfer-engine` wheel is built against CUDA and needs libcuda.so.1 to import). The
`mooncake_master` binary is taken from $MOONCAKE_VENV/bin, else from PATH, else from beside
this python.

One host, no RDMA, protocol "tcp", everything on loopback ports picked free; `mooncake_master`
with its embedded HTTP metadata server, and one of two topologies:
  embedded    one MooncakeDistributedStore in this process (setup()), which mounts the global
              segment (the memory the objects live in) and does the puts and gets; the buffer is
              a numpy array registered with register_buffer.
  standalone  a `mooncake_client` process mounts the global segment (the analogue of a kvstashd
              beside its clients); this process attaches with setup_dummy() and moves data from
              a buffer taken from the shared pool (alloc_from_mem_pool + register_buffer).
MC_STORE_MEMCPY=1 lets the client that owns the segment replace a transfer to it with a
memcpy; it is read from the environment (inherited by mooncake_client), so `--memcpy both`
runs each setting in its own child process.

    $MOONCAKE_VENV/bin/python bench/python/mooncake_side.py --rounds 3 --batch 16 \
        --memcpy both --topology both
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from sizes import parse_size  # bench/python/sizes.py, beside this script

SEGMENT_BYTES = 2 << 30       # global segment mounted by the client (where objects live)
LOCAL_BUFFER_BYTES = 64 << 20  # client's own staging buffer (unused by the zero-copy calls)


def find_binary(name: str = "mooncake_master") -> str:
    venv = os.environ.get("MOONCAKE_VENV")
    candidates = [Path(venv) / "bin" / name] if venv else []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(Path(sys.executable).parent / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise FileNotFoundError(f"{name} not found: set MOONCAKE_VENV or put it on PATH")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{proc.args[0]} did not listen on {port}")


def mooncake_version() -> str:
    for dist in ("mooncake-transfer-engine-non-cuda", "mooncake-transfer-engine"):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def mooncake_bench(block_size: int, count: int, batch: int, rounds: int,
                   warmup: bool = True, topology: str = "embedded") -> dict:
    """Put then get `count` blocks per round through one MooncakeDistributedStore.

    Returns {"put_gbps": [...], "get_gbps": [...], "conditions": {...}}, one value per round.
    The MC_STORE_MEMCPY setting is whatever this process's environment holds.
    """
    from mooncake.store import MooncakeDistributedStore  # the Mooncake venv only

    if count % batch:
        raise ValueError("count must be a multiple of batch")
    if topology not in ("embedded", "standalone"):
        raise ValueError(f"unknown topology {topology!r}")
    calls = count // batch
    rpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    client_port = free_port()
    master_bin = find_binary("mooncake_master")
    client_cmd: list[str] = []
    master_cmd = [
        master_bin, "--rpc_address=127.0.0.1", f"--rpc_port={rpc_port}",
        "--enable_http_metadata_server=true", "--http_metadata_server_host=127.0.0.1",
        f"--http_metadata_server_port={http_port}",
        "--metrics_host=127.0.0.1", f"--metrics_port={metrics_port}", "--logtostderr",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "master.log", "w")
        master = subprocess.Popen(master_cmd, stdout=log, stderr=subprocess.STDOUT)
        client = None
        store = None
        try:
            wait_port(rpc_port, master)
            wait_port(http_port, master)
            store = MooncakeDistributedStore()
            nbytes = block_size * batch
            if topology == "embedded":
                rc = store.setup("127.0.0.1", f"http://127.0.0.1:{http_port}/metadata",
                                 SEGMENT_BYTES, LOCAL_BUFFER_BYTES, "tcp", "",
                                 f"127.0.0.1:{rpc_port}")
                if rc != 0:
                    raise RuntimeError(f"setup failed: {rc}")
                buf = np.empty(nbytes, dtype=np.uint8)
            else:
                client_cmd = [
                    find_binary("mooncake_client"), "--host=127.0.0.1",
                    f"--port={client_port}", f"--global_segment_size={SEGMENT_BYTES}",
                    f"--master_server_address=127.0.0.1:{rpc_port}",
                    f"--metadata_server=http://127.0.0.1:{http_port}/metadata",
                    "--protocol=tcp", "--threads=2", "--logtostderr",
                ]
                client = subprocess.Popen(client_cmd, stdout=log, stderr=subprocess.STDOUT)
                wait_port(client_port, client)
                pool = max(nbytes, 64 << 20)
                rc = store.setup_dummy(pool, LOCAL_BUFFER_BYTES, f"127.0.0.1:{client_port}")
                if rc != 0:
                    raise RuntimeError(f"setup_dummy failed: {rc}")
                base = store.alloc_from_mem_pool(nbytes)
                if not base:
                    raise RuntimeError("alloc_from_mem_pool failed")
                buf = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(base))
            buf[:] = np.random.default_rng(7).integers(0, 256, nbytes, dtype=np.uint8)
            ref = buf.copy()
            rc = store.register_buffer(buf.ctypes.data, buf.nbytes)
            if rc != 0:
                raise RuntimeError(f"register_buffer failed: {rc}")
            ptrs = [buf.ctypes.data + i * block_size for i in range(batch)]
            sizes = [block_size] * batch

            def keys_for(tag: str) -> list[list[str]]:
                return [[f"mcbench-{tag}-{c}-{i}" for i in range(batch)] for c in range(calls)]

            def put_all(keys: list[list[str]]) -> None:
                for ks in keys:
                    res = store.batch_put_from(ks, ptrs, sizes)
                    if any(r != 0 for r in res):
                        raise RuntimeError(f"put failed: {res[:4]}")

            def remove_all(keys: list[list[str]]) -> None:
                # force: a get leaves a lease on each object that would otherwise block removal
                res = store.batch_remove([k for ks in keys for k in ks], True)
                if any(r != 0 for r in res):
                    raise RuntimeError(f"remove failed: {res[:4]}")

            if warmup:  # fault in the segment pages once (kvstashd prefaults its arena)
                for w in range(2):
                    keys = keys_for(f"warm{w}")
                    put_all(keys)
                    remove_all(keys)

            put_gbps: list[float] = []
            get_gbps: list[float] = []
            for r in range(rounds):
                keys = keys_for(f"{r}-put")
                start = time.perf_counter()
                put_all(keys)
                put_gbps.append(count * block_size / (time.perf_counter() - start) / 1e9)
                remove_all(keys)

                keys = keys_for(f"{r}-get")
                put_all(keys)
                buf[:] = 0
                start = time.perf_counter()
                for ks in keys:
                    res = store.batch_get_into(ks, ptrs, sizes)
                    if any(r != block_size for r in res):
                        raise RuntimeError(f"get failed: {res[:4]}")
                get_gbps.append(count * block_size / (time.perf_counter() - start) / 1e9)
                if not np.array_equal(buf, ref):  # every key holds a copy of ref's block
                    raise RuntimeError("get returned wrong bytes")
                buf[:] = ref
                remove_all(keys)
            store.unregister_buffer(buf.ctypes.data)
        finally:
            if store is not None:
                store.close()
            if client is not None:
                stop(client)
            stop(master)
            log.close()

    memcpy = os.environ.get("MC_STORE_MEMCPY", "")
    return {
        "put_gbps": put_gbps,
        "get_gbps": get_gbps,
        "conditions": {
            "mooncake": mooncake_version(),
            "python": sys.version.split()[0],
            "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
            "protocol": "tcp",
            "topology": topology + (
                ": mooncake_master (embedded HTTP metadata) + one in-process client (setup) "
                "that mounts the global segment" if topology == "embedded" else
                ": mooncake_master (embedded HTTP metadata) + mooncake_client process that "
                "mounts the global segment + this process attached with setup_dummy"),
            "MC_STORE_MEMCPY": memcpy or "unset (0)",
            "global_segment_size": SEGMENT_BYTES,
            "local_buffer_size": LOCAL_BUFFER_BYTES,
            "replica_num": 1,
            "block_size": block_size, "count": count, "batch": batch, "queue_depth": 1,
            "rounds": rounds,
            "memory": ("numpy buffer" if topology == "embedded" else
                       "alloc_from_mem_pool (shared with mooncake_client)")
                      + " + register_buffer; batch_put_from / batch_get_into",
            "warmup": "2 untimed put+remove passes of count blocks" if warmup else "none",
            "store_per_run": "one setup() for all rounds",
            "checksums": False,
            "get_verified": "bytes compared after each timed get (outside the timing)",
            "master_cmd": " ".join([Path(master_bin).name] + master_cmd[1:]),
            "client_cmd": " ".join(["mooncake_client"] + client_cmd[1:]) if client_cmd else None,
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--block-size", default="1MiB")
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--memcpy", choices=["env", "0", "1", "both"], default="env",
                   help="MC_STORE_MEMCPY: as in the environment, 0, 1, or each in a child")
    p.add_argument("--topology", choices=["embedded", "standalone", "both"],
                   default="embedded")
    p.add_argument("--no-warmup", action="store_true")
    args = p.parse_args()
    block = parse_size(args.block_size)

    if args.memcpy != "both" and args.topology != "both":
        if args.memcpy != "env":
            os.environ["MC_STORE_MEMCPY"] = args.memcpy  # before the client reads it
        result = mooncake_bench(block, args.count, args.batch, args.rounds,
                                warmup=not args.no_warmup, topology=args.topology)
        print(json.dumps(result, indent=2))
        return 0

    results = {}
    topologies = ["embedded", "standalone"] if args.topology == "both" else [args.topology]
    settings = ["0", "1"] if args.memcpy == "both" else [args.memcpy]
    for topology in topologies:
        for setting in settings:
            out = subprocess.run(
                [sys.executable, __file__, "--block-size", args.block_size,
                 "--count", str(args.count), "--batch", str(args.batch),
                 "--rounds", str(args.rounds), "--memcpy", setting, "--topology", topology]
                + (["--no-warmup"] if args.no_warmup else []),
                check=True, stdout=subprocess.PIPE, text=True).stdout
            results[f"{topology} MC_STORE_MEMCPY={setting}"] = json.loads(out)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
