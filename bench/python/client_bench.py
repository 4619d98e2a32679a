#!/usr/bin/env python3
"""Python client vs C++ client throughput, in the same run, against the same kvstashd.

Both sides do the same work: `count` blocks of `block_size` bytes, `batch` keys per call,
one call in flight, from memory obtained with allocate_buffer (C++: Client::AllocateBuffer),
with end-to-end checksums on. The C++ side is `kvstash bench --json`, which also measures
memcpy on this machine (the physical limit of a same-host copy). Rounds alternate the two
clients; the medians and their ratio are printed, with the conditions.

    bench/python/client_bench.py --kvstash-bin build-test/tools --rounds 3
    (needs the package: scripts/python-test installs it into .venv)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kvstash_client import Store, last_error
from sizes import parse_size  # bench/python/sizes.py, beside this script

REPO = Path(__file__).resolve().parents[2]


def cpp_bench(bin_dir: Path, server: str, op: str, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [str(bin_dir / "kvstash"), "--server", server, "bench", "--op", op,
         "--block-size", args.block_size, "--count", str(args.count),
         "--batch", str(args.batch), "--json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def python_bench(server: str, op: str, args: argparse.Namespace, tag: str) -> float:
    """GB/s of `count` blocks through Store.batch_put_from / batch_get_into."""
    block, batch = parse_size(args.block_size), args.batch
    with Store(server) as store:
        buf = store.allocate_buffer(block * batch)
        view = np.frombuffer(buf, dtype=np.uint8)
        view[:] = np.random.default_rng(7).integers(0, 256, view.size, dtype=np.uint8)
        ptrs = [buf.ptr + i * block for i in range(batch)]
        sizes = [block] * batch
        calls = args.count // batch
        keys = [[f"pybench-{tag}-{c}-{i}" for i in range(batch)] for c in range(calls)]

        def put_all() -> None:
            for c in range(calls):
                res = store.batch_put_from(keys[c], ptrs, sizes)
                if any(r != 0 for r in res):
                    raise RuntimeError(f"put failed: {res[:4]} {last_error()}")

        if op == "get":
            put_all()
        start = time.perf_counter()
        if op == "put":
            put_all()
        else:
            for c in range(calls):
                res = store.batch_get_into(keys[c], ptrs, sizes)
                if any(r != block for r in res):
                    raise RuntimeError(f"get failed: {res[:4]} {last_error()}")
        elapsed = time.perf_counter() - start
        store.batch_remove([k for ks in keys for k in ks])
        return calls * batch * block / elapsed / 1e9


def start_kvstashd(bin_dir: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = 7000 + os.getpid() % 2000
    server = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(bin_dir / "kvstashd"), "--listen", server, "--dram", "2GiB",
         "--flash", str(workdir / "bench.flash"), "--flash-size", "256MiB",
         "--metrics-listen", ""],
        stdout=(workdir / "kvstashd.log").open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60  # a 2 GiB arena takes a while to fault in
    while True:
        try:
            Store(server, connect_timeout_ms=500).close()
            return proc, server
        except ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kvstash-bin", type=Path, default=REPO / "build-test" / "tools")
    p.add_argument("--server", help="use this kvstashd instead of starting one")
    p.add_argument("--block-size", default="1MiB")
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ucx-tls", help="UCX_TLS for the server and both clients, e.g. tcp")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.ucx_tls:
        os.environ["UCX_TLS"] = args.ucx_tls  # read by UCX when each context is created

    with tempfile.TemporaryDirectory() as tmp:
        proc, server = (None, args.server) if args.server else start_kvstashd(
            args.kvstash_bin, Path(tmp))
        try:
            results: dict[str, dict[str, list[float]]] = {}
            memcpy: list[float] = []
            for r in range(args.rounds):
                for op in ("put", "get"):
                    c = cpp_bench(args.kvstash_bin, server, op, args)
                    memcpy.append(c["memcpy_gbps"])
                    py = python_bench(server, op, args, f"{r}")
                    results.setdefault(op, {"cpp": [], "python": []})
                    results[op]["cpp"].append(c["gbps"])
                    results[op]["python"].append(py)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait()

    summary = {
        "conditions": {
            "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
            "python": sys.version.split()[0], "server": server, "block_size": args.block_size,
            "count": args.count, "batch": args.batch, "queue_depth": 1, "rounds": args.rounds,
            "memory": "allocate_buffer (shared with a same-host server)", "checksums": True,
            "ucx_tls": os.environ.get("UCX_TLS", "(default: shared memory on one host)"),
        },
        "memcpy_gbps_median": statistics.median(memcpy),
        "ops": {},
    }
    for op, r in results.items():
        cpp, py = statistics.median(r["cpp"]), statistics.median(r["python"])
        summary["ops"][op] = {"cpp_gbps": r["cpp"], "python_gbps": r["python"],
                              "cpp_median": cpp, "python_median": py,
                              "python_over_cpp": py / cpp,
                              "python_over_memcpy": py / summary["memcpy_gbps_median"]}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(json.dumps(summary["conditions"]))
        print(f"memcpy (same run): {summary['memcpy_gbps_median']:.1f} GB/s")
        for op, s in summary["ops"].items():
            print(f"{op}: C++ {s['cpp_median']:.2f} GB/s, Python {s['python_median']:.2f} GB/s,"
                  f" Python/C++ {s['python_over_cpp']:.2f}x,"
                  f" Python/memcpy {s['python_over_memcpy']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
