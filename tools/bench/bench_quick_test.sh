#!/usr/bin/env bash
# ctest bench_quick_test (label bench): the core of `scripts/bench --quick` on tiny sizes.
#
#   bench_quick_test.sh PATH/TO/kvstashd PATH/TO/kvstash SOURCE_DIR
#
# Runs scripts/bench --tiny with the built binaries (kvstashd on free 127.0.0.1 ports, temp
# flash files, every `kvstash bench` subcommand), then checks that each JSON report has its
# fields and sane values: ratios in [0, 1], bandwidths > 0, no errors or corrupt blocks, flash
# points really served from flash, reuse hit ratio 0 at r = 0 and high at r = 1.
set -euo pipefail
KVSTASHD=$(realpath "$1")
CLI=$(realpath "$2")
SRC=$(realpath "$3")
WORK=$(mktemp -d /tmp/kvstash_bench_test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

KVSTASH_BENCH_KVSTASHD="$KVSTASHD" KVSTASH_BENCH_CLI="$CLI" KVSTASH_BENCH_TMP="$WORK" \
  timeout 240 "$SRC/scripts/bench" --tiny --no-build --no-plots --out "$WORK/out"

python3 - "$WORK/out" <<'PY'
import json, os, sys
d = sys.argv[1]
failures = []
def check(cond, what):
    if not cond:
        failures.append(what)
def load(name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)
def ratio(x):
    return isinstance(x, (int, float)) and 0.0 <= x <= 1.0

lim = load("limits.json")
check(lim["memcpy"]["gbps_1_thread"] > 0, "limits: memcpy gbps > 0")
check(lim["tcp_loopback"]["gbps"] > 0, "limits: tcp gbps > 0")
check(len(lim["io"]["results"]) == 2, "limits: randread + seqwrite results")
for r in lim["io"]["results"]:
    check(r["gbps"] > 0 and r["p50_us"] > 0, f"limits: io {r['pattern']} gbps, p50 > 0")

for name in ("kv-inproc-tcp.json", "kv-daemon-tcp.json", "kv-daemon-flash.json"):
    kv = load(name)
    check(len(kv["points"]) > 0, f"{name}: points")
    for p in kv["points"]:
        tag = f"{name} {p['op']} {p['tier']} {p['block_size']}"
        check(p["gbps"] > 0 and p["p50_us"] > 0, f"{tag}: gbps, p50 > 0")
        check(p["errors"] == 0 and p["misses"] == 0 and p["corrupt"] == 0, f"{tag}: clean")
        check(p["limit_gbps"] > 0 and p["ratio_to_limit"] > 0, f"{tag}: ratio to limit")
        if p["tier"] == "flash":
            check(p["hits_flash"] > 0, f"{tag}: served from flash")

for adm in ("reuse", "all"):
    t = load(f"trace-{adm}.json")
    for k in ("block_hit_ratio", "prefix_hit_ratio", "lru_block_hit_ratio", "lru_prefix_hit_ratio"):
        check(ratio(t[k]), f"trace-{adm}: {k} in [0,1]")
    check(t["prefix_hit_ratio"] <= t["block_hit_ratio"], f"trace-{adm}: prefix <= block")
    check(t["requests"] == 150 and t["block_references"] > 0, f"trace-{adm}: requests")
    check(t["corrupt"] == 0 and t["get_errors"] == 0, f"trace-{adm}: clean")
    check(t["block_hit_ratio"] > 0, f"trace-{adm}: some hits")
    for k in ("flash_bytes_written", "discard_bytes", "capacity_blocks", "scale_factor"):
        check(k in t, f"trace-{adm}: {k}")
    check(t["latency_request"]["p50_us"] > 0, f"trace-{adm}: latency")
    r = load(f"reuse-{adm}.json")
    pts = r["points"]
    check([p["rate"] for p in pts] == [0, 0.5, 1], f"reuse-{adm}: rates")
    check(all(ratio(p["hit_ratio"]) and p["errors"] == 0 for p in pts), f"reuse-{adm}: sane")
    check(pts[0]["hit_ratio"] == 0, f"reuse-{adm}: no hits at r=0")
    check(pts[2]["hit_ratio"] > 0.5, f"reuse-{adm}: mostly hits at r=1")
    check("gpu_seconds_saved_at_model_load" in pts[2], f"reuse-{adm}: model fields")
    check(pts[2]["gpu_seconds_saved_at_model_load"] > 0, f"reuse-{adm}: hits save GPU time")

check(os.path.getsize(os.path.join(d, "summary.md")) > 0, "summary.md")
for f in failures:
    print("FAIL:", f)
print("bench_quick_test:", "FAILED" if failures else "ok", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
PY
