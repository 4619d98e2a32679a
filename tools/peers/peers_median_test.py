#!/usr/bin/env python3
"""Test of scripts/peers-median: medians, met counts and the table over synthetic runs."""
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = sys.argv[1]


def run_doc(load, ratios):
    targets = []
    for (block, op), ratio in ratios.items():
        targets.append({"block_bytes": block, "kvstash": "kvstash/ucx-sm/dram",
                        "peer": "redis/unix/dram", "op": op, "goal": 3.0,
                        "gbps_ratio": ratio, "kvstash_gbps": ratio, "peer_gbps": 1.0,
                        "target": ">=3x"})
    return {"conditions": {"machine": {"load1_start": load}}, "targets": targets}


with tempfile.TemporaryDirectory() as d:
    runs = [run_doc(0.5, {(1 << 20, "get"): 1.1, (131072, "put"): 9.0}),
            run_doc(0.7, {(1 << 20, "get"): 3.5, (131072, "put"): 2.0}),
            run_doc(0.9, {(1 << 20, "get"): 3.7, (131072, "put"): 2.5})]
    paths = []
    for i, doc in enumerate(runs):
        p = os.path.join(d, f"peers.{i}.json")
        with open(p, "w") as f:
            json.dump(doc, f)
        paths.append(p)
    prefix = os.path.join(d, "median")
    out = subprocess.run([sys.executable, SCRIPT, prefix] + paths, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    j = json.load(open(prefix + ".json"))
    rows = {(r["block_bytes"], r["op"]): r for r in j["comparisons"]}
    get = rows[(1 << 20, "get")]
    assert get["ratios"] == [1.1, 3.5, 3.7], get
    assert get["median_ratio"] == 3.5 and get["met"] and get["met_runs"] == 2, get
    put = rows[(131072, "put")]
    assert put["median_ratio"] == 2.5 and not put["met"] and put["met_runs"] == 1, put
    md = open(prefix + ".md").read()
    assert "| 1 MiB | kvstash/ucx-sm/dram vs redis/unix/dram | get | 1.10 / 3.50 / 3.70 | 3.50x" in md, md
    assert "not met (1 of 3 runs)" in md, md
    assert "0.5, 0.7, 0.9" in md, md
    # No comparisons at all is an error, not an empty table.
    empty = os.path.join(d, "empty.json")
    with open(empty, "w") as f:
        json.dump({"targets": []}, f)
    bad = subprocess.run([sys.executable, SCRIPT, prefix, empty], capture_output=True, text=True)
    assert bad.returncode == 1, bad
print("ok")
