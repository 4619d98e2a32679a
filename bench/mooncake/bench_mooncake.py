#!/usr/bin/env python3
"""Mooncake Store as a peer of kvstash-peers (docs/BENCHMARKS_PEERS.md).

Starts, on 127.0.0.1 only and in a temporary directory:
  1. mooncake_master with its embedded HTTP metadata server;
  2. a storage process (this script, --segment mode) that mounts a global segment of DRAM,
     i.e. the memory Mooncake Store keeps blocks in;
then, in this process, a store client with no segment of its own (protocol "tcp") puts and
gets the same block sizes, counts and batch depth as kvstash-peers: batch_put_from /
batch_get_into between buffers registered once, timed per batched call, then one untimed get
of every block compared byte for byte with what was put. Every child is stopped on exit.

Prints nothing on stdout; writes one JSON object to --out (the runs in kvstash-peers' format,
or {"error": ...} with the exact failure). Exit code 0 when every block verified.
"""
import argparse
import ctypes
import faulthandler
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when this process dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def stop_children(children):
    """SIGTERM each child's process group, SIGKILL what is left after 5 s."""
    for c in reversed(children):
        try:
            os.killpg(c.pid, signal.SIGTERM)
            c.wait(timeout=5)
        except Exception:  # noqa: BLE001
            try:
                os.killpg(c.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(nanos):
    if not nanos:
        return {"p50_us": 0, "p99_us": 0, "p999_us": 0, "max_us": 0, "mean_us": 0, "samples": 0}
    s = sorted(nanos)

    def pct(q):  # nearest rank, as kvstash-peers
        rank = max(1, min(len(s), math.ceil(q * len(s))))
        return s[rank - 1] / 1e3

    return {"p50_us": pct(0.5), "p99_us": pct(0.99), "p999_us": pct(0.999),
            "max_us": s[-1] / 1e3, "mean_us": sum(s) / len(s) / 1e3, "samples": len(s)}


def wait_for(predicate, timeout, what, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log tail: {tail(log)}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout}s; log tail: {tail(log)}")


def tail(path, n=1500):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


def http_ok(url):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        return True
    except Exception as e:  # noqa: BLE001 - any HTTP status means the server answers
        return hasattr(e, "code")


def tcp_accepts(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def setup_store(metadata, master, segment_bytes, buffer_bytes):
    from mooncake.store import MooncakeDistributedStore
    store = MooncakeDistributedStore()
    rc = store.setup("127.0.0.1", metadata, segment_bytes, buffer_bytes, "tcp", "", master)
    if rc != 0:
        raise RuntimeError(f"MooncakeDistributedStore.setup(...) returned {rc}")
    return store


def run_segment(args):
    """--segment mode: hold a global segment until SIGTERM."""
    store = setup_store(args.metadata, args.master, args.segment_bytes, 16 << 20)
    print("SEGMENT READY", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    store.close()


def timed_batches(ids, depth, rounds, call):
    nanos, blocks = [], 0
    t0 = time.perf_counter_ns()
    for _ in range(rounds):
        for i in range(0, len(ids), depth):
            chunk = ids[i:i + depth]
            a = time.perf_counter_ns()
            call(chunk)
            nanos.append(time.perf_counter_ns() - a)
            blocks += len(chunk)
    return blocks, (time.perf_counter_ns() - t0) / 1e9, nanos


def op_json(op, depth, blocks, size, seconds, nanos):
    return {"op": op, "depth": depth, "blocks": blocks, "bytes": blocks * size,
            "seconds": seconds, "gbps": blocks * size / seconds / 1e9 if seconds else 0,
            "latency": percentiles(nanos)}


def bench_size(store, size, count, args):
    total = size * count
    src = ctypes.create_string_buffer(total)
    rng = random.Random(size)
    for i in range(count):
        ctypes.memmove(ctypes.addressof(src) + i * size, rng.randbytes(size), size)
    dst = ctypes.create_string_buffer(size * args.depth)
    for buf, n in ((src, total), (dst, size * args.depth)):
        rc = store.register_buffer(ctypes.addressof(buf), n)
        if rc != 0:
            raise RuntimeError(f"register_buffer returned {rc}")
    keys = [f"peers@mooncake@{size}@{i}" for i in range(count)]
    base, dbase = ctypes.addressof(src), ctypes.addressof(dst)

    def put(chunk):
        rcs = store.batch_put_from([keys[i] for i in chunk], [base + i * size for i in chunk],
                                   [size] * len(chunk))
        bad = [r for r in rcs if r != 0]
        if bad:
            raise RuntimeError(f"batch_put_from: {bad[0]} (block {size} B)")

    def get(chunk):
        rcs = store.batch_get_into([keys[i] for i in chunk],
                                   [dbase + k * size for k in range(len(chunk))],
                                   [size] * len(chunk))
        bad = [r for r in rcs if r != size]
        if bad:
            raise RuntimeError(f"batch_get_into returned {bad[0]}, want {size}")

    ids = list(range(count))
    ops = []
    b, s, n = timed_batches(ids, args.depth, 1, put)
    ops.append(op_json("put", args.depth, b, size, s, n))
    order = ids[:]
    random.Random(size).shuffle(order)
    b, s, n = timed_batches(order, args.depth, args.get_rounds, get)
    ops.append(op_json("get", args.depth, b, size, s, n))
    qd1 = min(args.qd1, max(20, args.qd1_bytes // size))  # as kvstash-peers
    if qd1 > 0:
        one = [order[i % len(order)] for i in range(qd1)]
        b, s, n = timed_batches(one, 1, 1, get)
        ops.append(op_json("get_qd1", 1, b, size, s, n))
    verified = mismatched = 0
    for i in range(0, count, args.depth):
        chunk = order[i:i + args.depth]
        ctypes.memset(dst, 0xA5, size * args.depth)
        get(chunk)
        for k, idx in enumerate(chunk):
            verified += 1
            # string_at copies one block (src.raw would copy the whole set every time)
            if ctypes.string_at(dbase + k * size, size) != ctypes.string_at(base + idx * size, size):
                mismatched += 1
    store.remove_all(True)
    for buf in (src, dst):
        store.unregister_buffer(ctypes.addressof(buf))
    return {"peer": "mooncake", "transport": "tcp", "tier": "dram", "block_bytes": size,
            "count": count, "ops": ops, "verified_blocks": verified,
            "mismatched_blocks": mismatched, "load1": os.getloadavg()[0],
            "note": "Mooncake Store, TransferEngine tcp, segment in a separate process"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="131072,1048576,8388608")
    p.add_argument("--counts", default="")
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--get-rounds", type=int, default=2)
    p.add_argument("--qd1", type=int, default=200)
    p.add_argument("--qd1-bytes", type=int, default=256 << 20)
    p.add_argument("--workdir", default="/tmp/kvstash-peers-mooncake")
    p.add_argument("--out", default="")
    p.add_argument("--segment", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--metadata", default="")
    p.add_argument("--master", default="")
    p.add_argument("--segment-bytes", type=int, default=0)
    args = p.parse_args()
    if args.segment:
        return run_segment(args)

    children = []

    def on_term(*_):  # kvstash-peers stopping us (its time limit): stop the servers, exit now
        stop_children(children)
        os._exit(3)

    signal.signal(signal.SIGTERM, on_term)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints where it is stuck
    sizes = [int(s) for s in args.sizes.split(",") if s]
    counts = [int(c) for c in args.counts.split(",") if c] or [max(32, (256 << 20) // s) for s in sizes]
    os.makedirs(args.workdir, exist_ok=True)
    result = {"conditions": {}, "runs": []}
    try:
        try:
            import mooncake  # noqa: F401
            from mooncake.store import MooncakeDistributedStore  # noqa: F401
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"import mooncake.store failed: {e!r}")
        import importlib.metadata as md
        for dist in ("mooncake-transfer-engine-non-cuda", "mooncake-transfer-engine"):
            try:
                result["conditions"]["package"] = f"{dist} {md.version(dist)}"
                break
            except md.PackageNotFoundError:
                continue
        master_bin = os.path.join(os.path.dirname(sys.executable), "mooncake_master")
        if not os.path.exists(master_bin):
            master_bin = "mooncake_master"
        rpc, meta, metrics = free_port(), free_port(), free_port()
        mlog = os.path.join(args.workdir, "master.log")
        master_cmd = [master_bin, f"--rpc_port={rpc}", "--rpc_address=127.0.0.1",
                      "--enable_http_metadata_server=true",
                      "--http_metadata_server_host=127.0.0.1",
                      f"--http_metadata_server_port={meta}", "--metrics_host=127.0.0.1",
                      f"--metrics_port={metrics}",
                      f"--log_dir={args.workdir}"]
        result["conditions"]["master_cmd"] = " ".join(master_cmd)
        master = subprocess.Popen(master_cmd, stdout=open(mlog, "ab"), stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=die_with_parent)
        children.append(master)
        wait_for(lambda: tcp_accepts(rpc) and tcp_accepts(meta), 20, "mooncake_master", master, mlog)
        metadata = f"http://127.0.0.1:{meta}/metadata"
        master_addr = f"127.0.0.1:{rpc}"
        seg_bytes = max(s * c for s, c in zip(sizes, counts)) * 2 + (256 << 20)
        slog = os.path.join(args.workdir, "segment.log")
        seg = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--segment",
                                "--metadata", metadata, "--master", master_addr,
                                "--segment-bytes", str(seg_bytes)],
                               stdout=open(slog, "ab"), stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=die_with_parent)
        children.append(seg)
        wait_for(lambda: "SEGMENT READY" in tail(slog, 100000), 30, "mooncake segment", seg, slog)
        # The client's local buffer stages TCP transfers: room for one batch of the largest block.
        store = setup_store(metadata, master_addr, 0, max(sizes) * args.depth + (16 << 20))
        for size, count in zip(sizes, counts):
            result["runs"].append(bench_size(store, size, count, args))
        store.close()
    except Exception as e:  # noqa: BLE001 - reported, with its exact text, in the JSON
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        stop_children(children)
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    ok = "error" not in result and result["runs"] and all(
        r["mismatched_blocks"] == 0 for r in result["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
