#!/usr/bin/env bash
# End-to-end test of kvstashd and the kvstash CLI (ctest: kvstash_cli_test, label integration).
#
#   kvstash_cli_test.sh PATH/TO/kvstashd PATH/TO/kvstash
#
# Starts kvstashd on free 127.0.0.1 ports with a small DRAM arena and a temporary flash path,
# waits until it serves, drives every CLI command and checks outputs and exit codes (a get miss
# exits 3, bench --json has gbps and p99_us), scrapes /metrics and /healthz, then sends SIGTERM
# and requires exit code 0 within 10 s. Needs python3 (free ports, JSON and HTTP checks).
set -euo pipefail

KVSTASHD=$(realpath "$1")
CLI=$(realpath "$2")
WORK=$(mktemp -d /tmp/kvstash_cli_test.XXXXXX)
DAEMON_PID=""
FAILURES=0

cleanup() {
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  if [[ $FAILURES -ne 0 && -f "$WORK/kvstashd.log" ]]; then
    echo "---- kvstashd log ----"; cat "$WORK/kvstashd.log"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }

# expect_rc WANT DESCRIPTION -- CMD...: runs CMD, checks its exit code, keeps stdout/stderr.
expect_rc() {
  local want=$1 what=$2; shift 3
  local rc=0
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [[ $rc -eq $want ]]; then pass "$what (exit $rc)"; else
    fail "$what: exit $rc, want $want; stderr: $(cat "$WORK/err")"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

http_get() {  # URL -> body on stdout; non-zero exit on HTTP error
  python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}

PORT=$(free_port)
MPORT=$(free_port)
while [[ "$MPORT" == "$PORT" ]]; do MPORT=$(free_port); done
SERVER="127.0.0.1:$PORT"
kv() { "$CLI" --server "$SERVER" --timeout-ms 5000 "$@"; }

# ---- bad configuration is refused with a clear message and exit code 2 ----------------------
expect_rc 2 "kvstashd rejects a bad size" -- "$KVSTASHD" --dram lots
grep -q "bad size 'lots'" "$WORK/err" || fail "bad size message: $(cat "$WORK/err")"
expect_rc 2 "kvstashd rejects a bad listen address" -- "$KVSTASHD" --listen nowhere
expect_rc 0 "kvstashd --help" -- "$KVSTASHD" --help
grep -q -- "--flash-size" "$WORK/out" || fail "--help lacks --flash-size"
expect_rc 0 "model with a custom GQA shape" -- "$CLI" model --layers 8 --kv-heads 4 --head-dim 64 --dtype-bytes 4 --prefill-tps 1500 --json
grep -q '"kv_bytes_per_token":16384' "$WORK/out" || fail "custom shape bytes per token: $(cat "$WORK/out")"
expect_rc 2 "model: shape overrides need a GQA preset" -- "$CLI" model --model deepseek-v3 --layers 8

# ---- start ---------------------------------------------------------------------------------
cd "$WORK"
TOKEN_A="tenant-a-token-0123456789"
cat >"$WORK/tenants.toml" <<TOML
[[tenant]]
name = "team-a"
namespace = 1
token = "$TOKEN_A"
dram = "16MiB"
TOML
"$KVSTASHD" --config "$WORK/tenants.toml" --listen "$SERVER" --dram 64MiB --region-size 8MiB --flash "$WORK/var/kvstash.flash" \
  --flash-size 128MiB --workers 1 --lease-ms 2000 --metrics-listen "127.0.0.1:$MPORT" \
  >"$WORK/kvstashd.log" 2>&1 &
DAEMON_PID=$!

ready=0
for _ in $(seq 1 100); do
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then break; fi
  if http_get "http://127.0.0.1:$MPORT/healthz" >/dev/null 2>&1 && kv stat >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.1
done
if [[ $ready -ne 1 ]]; then fail "kvstashd did not become ready"; exit 1; fi
pass "kvstashd ready on $SERVER, metrics on $MPORT"
grep -q "listening on $SERVER" "$WORK/kvstashd.log" || fail "startup line lacks the address"
grep -q "dram=64MiB" "$WORK/kvstashd.log" || fail "startup line lacks dram=64MiB"
[[ -d "$WORK/var" ]] || fail "kvstashd did not create the flash directory"

# ---- put / get / exists / delete -------------------------------------------------------------
head -c 1048576 /dev/urandom >"$WORK/block.bin"
expect_rc 0 "put from a file" -- kv put blob "$WORK/block.bin"
expect_rc 0 "get to a file" -- kv get blob "$WORK/copy.bin"
cmp -s "$WORK/block.bin" "$WORK/copy.bin" && pass "round trip is byte-exact" || fail "round trip differs"
for transfer in rma message; do
  rm -f "$WORK/copy.bin"
  expect_rc 0 "put --transfer $transfer" -- kv --transfer "$transfer" put "blob-$transfer" "$WORK/block.bin"
  expect_rc 0 "get --transfer $transfer" -- kv --transfer "$transfer" get "blob-$transfer" "$WORK/copy.bin"
  cmp -s "$WORK/block.bin" "$WORK/copy.bin" && pass "--transfer $transfer is byte-exact" \
    || fail "--transfer $transfer differs"
done
expect_rc 2 "an unknown --transfer is refused" -- kv --transfer carrier-pigeon get blob "$WORK/copy.bin"
printf 'hello kvstash' >"$WORK/small"
expect_rc 0 "put from stdin" -- sh -c "'$CLI' --server $SERVER put greeting - <'$WORK/small'"
expect_rc 0 "get to stdout" -- kv get greeting
[[ "$(cat "$WORK/out")" == "hello kvstash" ]] && pass "stdout content" || fail "stdout: $(cat "$WORK/out")"
expect_rc 1 "put of an existing key fails" -- sh -c "'$CLI' --server $SERVER put greeting - <'$WORK/small'"
grep -q "AlreadyExists" "$WORK/err" || fail "AlreadyExists message: $(cat "$WORK/err")"
expect_rc 3 "get miss exits 3" -- kv get no-such-key
grep -q "not found" "$WORK/err" || fail "miss message: $(cat "$WORK/err")"
expect_rc 0 "exists, all present" -- kv exists blob greeting
grep -q $'^blob\tyes$' "$WORK/out" || fail "exists output: $(cat "$WORK/out")"
expect_rc 3 "exists, one absent" -- kv exists blob no-such-key
grep -q $'^no-such-key\tno$' "$WORK/out" || fail "exists output: $(cat "$WORK/out")"
expect_rc 0 "delete" -- kv delete greeting
grep -q $'^greeting\tdeleted$' "$WORK/out" || fail "delete output: $(cat "$WORK/out")"
expect_rc 3 "get after delete exits 3" -- kv get greeting
expect_rc 3 "delete of an absent key exits 3" -- kv delete greeting
expect_rc 1 "connect to a dead port fails" -- "$CLI" --server "127.0.0.1:$(free_port)" --timeout-ms 1000 stat
expect_rc 2 "unknown command is a usage error" -- kv frobnicate

# ---- tenants: a namespace needs its token; the CLI says "permission denied" ----------------
printf 'tenant bytes' >"$WORK/tenant"
expect_rc 0 "tenant put with its token" -- sh -c "'$CLI' --server $SERVER --namespace 1 --token $TOKEN_A put tkey - <'$WORK/tenant'"
expect_rc 0 "tenant get with its token" -- kv --namespace 1 --token "$TOKEN_A" get tkey
[[ "$(cat "$WORK/out")" == "tenant bytes" ]] && pass "tenant content" || fail "tenant content: $(cat "$WORK/out")"
expect_rc 1 "tenant get with a wrong token is refused" -- kv --namespace 1 --token wrong-token-wrong get tkey
grep -qi "permission denied" "$WORK/err" && pass "wrong token: permission denied" || fail "wrong token message: $(cat "$WORK/err")"
expect_rc 1 "exists in a namespace without a tenant is refused" -- kv --namespace 2 --token "$TOKEN_A" exists tkey
grep -qi "permission denied" "$WORK/err" || fail "unknown namespace message: $(cat "$WORK/err")"
expect_rc 1 "delete without a token is refused" -- kv --namespace 1 delete tkey
grep -qi "permission denied" "$WORK/err" || fail "no token message: $(cat "$WORK/err")"
expect_rc 3 "the default namespace does not see the tenant's key" -- kv exists tkey
expect_rc 0 "stat counts auth failures" -- kv stat --json
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["server.auth_failures"] == 3, s["server.auth_failures"]' "$WORK/out" \
  && pass "server.auth_failures == 3" || fail "auth_failures: $(cat "$WORK/out")"

# ---- stat --json -----------------------------------------------------------------------------
expect_rc 0 "stat --json" -- kv stat --json
python3 - "$WORK/out" <<'PY' && pass "stat --json has the lifecycle, tier, discard, checksum, lease, admission counters" || fail "stat --json content: $(cat "$WORK/out")"
import json, sys
text = open(sys.argv[1]).read()
assert text.count("\n") == 1, "not one line"
stats = json.loads(text)
assert isinstance(stats, dict) and stats, "not a non-empty object"
assert all(isinstance(v, int) for v in stats.values()), "non-integer counter"
for needle in ["blocks_committed", "blocks_allocated", "hits_dram", "hits_flash", "discard",
               "checksum", "lease", "admission"]:
    assert any(needle in k for k in stats), "no counter named *%s*" % needle
commits = [v for k, v in stats.items() if k.startswith("store.") and k.endswith("commits")]
assert commits and commits[0] >= 2, "store commits counter: %r" % commits
live = stats["store.blocks_committed"] + stats["store.blocks_persisted"]
assert live >= 2 and stats["store.index_entries"] >= live, "index_entries %d, live blocks %d" % (
    stats["store.index_entries"], live)
assert stats["store.index_key_bytes"] > 0 and stats["store.index_memory_bytes"] > 0, stats
PY
expect_rc 0 "stat table" -- kv stat
grep -q "store.hits_dram" "$WORK/out" || fail "stat table lacks store.hits_dram"

# ---- bench --json ------------------------------------------------------------------------------
check_bench() {
  python3 - "$WORK/out" "$1" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
for k in ["gbps", "ops_per_s", "p50_us", "p99_us", "p999_us", "block_size", "batch", "count",
          "queue_depth", "transport", "machine", "memcpy_gbps"]:
    assert k in r, "missing " + k
assert r["op"] == sys.argv[2] and r["gbps"] > 0 and r["p99_us"] >= r["p50_us"] > 0, r
assert r["errors"] == 0 and r["misses"] == 0 and r["corrupt"] == 0, r
assert r["block_size"] == 65536 and r["count"] == 64 and r["queue_depth"] == 2, r
assert r["machine"]["nproc"] >= 1, r
PY
}
expect_rc 0 "bench put --json" -- kv bench --op put --block-size 64KiB --count 64 --batch 4 --queue-depth 2 --json
check_bench put && pass "bench put JSON" || fail "bench put JSON: $(cat "$WORK/out")"
expect_rc 0 "bench get --json" -- kv bench --op get --block-size 64KiB --count 64 --batch 4 --queue-depth 2 --json
check_bench get && pass "bench get JSON" || fail "bench get JSON: $(cat "$WORK/out")"
expect_rc 0 "bench get --tier flash --json" -- kv bench --op get --tier flash --block-size 64KiB --count 64 --batch 4 --queue-depth 2 --json
check_bench get && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["hits_flash"] == 64, r' "$WORK/out" \
  && pass "bench get --tier flash: every block served from flash" || fail "bench flash JSON: $(cat "$WORK/out")"
expect_rc 1 "bench rejects a bad block size" -- kv bench --block-size 12XB
expect_rc 1 "bench get refuses a working set larger than DRAM" -- kv bench --op get --block-size 1MiB --count 200
grep -q "exceeds the DRAM tier" "$WORK/err" || fail "DRAM fit message: $(cat "$WORK/err")"

# ---- metrics ---------------------------------------------------------------------------------
if http_get "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics"; then
  for line in "kvstash_up 1" "# TYPE kvstash_blocks gauge" 'kvstash_blocks{state="committed"}' \
              'kvstash_hits_total{tier="dram"}' 'kvstash_server_requests_total{op="get"}' \
              'kvstash_capacity_bytes{tier="flash"} 134217728' \
              "# TYPE kvstash_index_entries gauge" \
              "# TYPE kvstash_uptime_seconds gauge"; do
    grep -qF "$line" "$WORK/metrics" || fail "/metrics lacks: $line"
  done
  awk '$1 == "kvstash_index_entries" && $2 > 0 {found = 1} END {exit !found}' "$WORK/metrics" ||
    fail "/metrics: kvstash_index_entries is not positive"
  pass "/metrics served"
else
  fail "GET /metrics failed"
fi
[[ "$(http_get "http://127.0.0.1:$MPORT/healthz")" == "ok" ]] && pass "/healthz" || fail "/healthz"

# ---- clean shutdown on SIGTERM ---------------------------------------------------------------
kill -TERM "$DAEMON_PID"
rc=0
for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DAEMON_PID" 2>/dev/null; then
  fail "kvstashd still running 10 s after SIGTERM"
else
  wait "$DAEMON_PID" || rc=$?
  [[ $rc -eq 0 ]] && pass "SIGTERM -> exit 0" || fail "kvstashd exited $rc after SIGTERM"
  grep -q "shutting down" "$WORK/kvstashd.log" || fail "no shutdown log line"
fi
DAEMON_PID=""

if [[ $FAILURES -ne 0 ]]; then echo "$FAILURES check(s) failed"; exit 1; fi
echo "all checks passed"
