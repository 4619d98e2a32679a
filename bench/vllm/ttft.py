#!/usr/bin/env python3
"""Time to first token in vLLM: prefix reloaded from kvstashd vs recomputed, per prefix length.

Three phases, one vLLM engine at a time, the same prompts in each:

1. recompute: an engine without the connector (vLLM's prefix caching on, its default, but
   every prompt is new to it: its prefix-cache hits are recorded, and are 0); each prompt
   (prefix of L tokens + `tail` new tokens) is prefilled in full.
2. store: an engine with kvstash's connector (vLLM prefix caching on, its default) serves
   prefix + another tail; every full 32-token block goes to kvstashd. Its TTFT is the miss
   path with the connector (lookup + save), the same length as the others.
3. reload: that engine is restarted (vLLM's own prefix cache is empty), then prefix + tail:
   the L prefix tokens come from kvstashd, only the tail is computed.

Each run uses fresh prompts (--runs, medians reported); each engine first serves one
unmeasured warm-up request. kvstashd's hit/byte counters and vLLM's prefix-cache counters are
recorded per point, with the engine settings.

    PYTHONPATH=python .venv-vllm/bin/python bench/vllm/ttft.py --out out/bench-vllm/ttft.json
    (scripts/bench-vllm runs it; --quick for a smoke run with a small model)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import common as c

TTFT_KVSTASH = ("kvstash_server_get_hits_total", "kvstash_server_get_misses_total",
                "kvstash_server_get_bytes_total", "kvstash_server_keys_committed_total")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", default="512,1024,2048,4096,8192",
                   help="prefix lengths in tokens, multiples of 32 (comma-separated)")
    p.add_argument("--tail", type=int, default=16, help="new tokens after the stored prefix")
    p.add_argument("--runs", type=int, default=3, help="runs per point (fresh prompts each)")
    c.add_common_args(p, kv_space=2, dram="1GiB",
                      quick_help="smoke run: model quick, lengths 512,2048, 1 run unless --runs given",
                      skip_help="recompute phase only (develop without the connector)")
    args = p.parse_args()
    if args.quick:
        args.model = "quick"
        if args.lengths == p.get_default("lengths"):
            args.lengths = "512,2048"
        if args.runs == p.get_default("runs"):
            args.runs = 1
    args.length_list = [int(x) for x in args.lengths.split(",") if x]
    if any(n % c.KV_BLOCK_TOKENS for n in args.length_list):
        p.error(f"--lengths must be multiples of {c.KV_BLOCK_TOKENS}")
    if not 0 < args.tail < c.KV_BLOCK_TOKENS:
        p.error(f"--tail must be 1..{c.KV_BLOCK_TOKENS - 1} (a partial block to compute)")
    return args


def make_prompts(args: argparse.Namespace, vocab: int) -> dict[tuple[int, int], dict[str, Any]]:
    """{(run, length): {prefix, tail_store, tail_measure}}, all drawn from one seeded stream."""
    rng = random.Random(args.seed)
    prompts = {}
    for run in range(args.runs):
        for n in args.length_list:
            prompts[(run, n)] = {"prefix": c.random_prompt(rng, vocab, n),
                                 "tail_store": c.random_prompt(rng, vocab, args.tail),
                                 "tail_measure": c.random_prompt(rng, vocab, args.tail)}
    return prompts


def warm_up(engine: c.VllmServer, vocab: int, seed: int) -> None:
    """One unmeasured request, so that first-request costs stay out of the figures."""
    c.stream_completion(engine.base_url, c.random_prompt(random.Random(seed), vocab, 256), 2)


def measure(engine: c.VllmServer, prompt: list[int], kvstashd: c.Kvstashd | None
            ) -> dict[str, Any]:
    """TTFT of one request, with the counters it moved."""
    vb = engine.metrics()
    kb = kvstashd.metrics() if kvstashd else {}
    done = c.stream_completion(engine.base_url, prompt, max_tokens=1)
    row: dict[str, Any] = {"ttft_s": done.ttft_s,
                           "vllm": c.metric_delta(vb, engine.metrics(), c.VLLM_COUNTERS)}
    if kvstashd:
        row["kvstash"] = c.metric_delta(kb, kvstashd.metrics(), TTFT_KVSTASH)
    return row


def run_phase(name: str, cfg: c.EngineConfig, args: argparse.Namespace, log_dir: Path,
              prompts: dict[tuple[int, int], dict[str, Any]], tail_key: str,
              kvstashd: c.Kvstashd | None, vocab: int) -> tuple[dict[tuple[int, int], Any],
                                                                 dict[str, Any]]:
    """Starts an engine, serves every prompt once (runs outer, lengths inner), stops it.
    Returns the per-prompt rows and the engine's facts (start time, thread binding)."""
    rows: dict[tuple[int, int], Any] = {}
    print(f"-- phase {name}: starting vLLM", flush=True)
    with c.VllmServer(cfg, args.python, log_dir / f"vllm-{name}.log") as engine:
        warm_up(engine, vocab, seed=args.seed + 1000 + len(name))
        for (run, n), p in prompts.items():
            rows[(run, n)] = measure(engine, p["prefix"] + p[tail_key], kvstashd)
            print(f"   {name:9s} run {run} prefix {n:5d}: TTFT "
                  f"{rows[(run, n)]['ttft_s'] * 1e3:9.1f} ms", flush=True)
        facts = {"start_s": round(engine.start_s, 1), "threads": engine.thread_lines()}
    return rows, facts


def summarize(args: argparse.Namespace, phases: dict[str, dict[tuple[int, int], Any]],
              bytes_per_token: int) -> list[dict[str, Any]]:
    """One point per prefix length: every run's TTFT, medians, speedup, counters."""
    points = []
    for n in args.length_list:
        pt: dict[str, Any] = {"prefix_tokens": n, "prompt_tokens": n + args.tail,
                              "prefix_kv_bytes": n * bytes_per_token}
        for name, rows in phases.items():
            runs = [rows[(r, n)] for r in range(args.runs)]
            ttft = [r["ttft_s"] for r in runs]
            pt[name] = {"ttft_s": ttft, "median_s": statistics.median(ttft),
                        "vllm": [r["vllm"] for r in runs],
                        "kvstash": [r.get("kvstash") for r in runs]}
        if "recompute" in pt:
            pt["prefill_tokens_per_s"] = pt["prompt_tokens"] / pt["recompute"]["median_s"]
        if "recompute" in pt and "reload" in pt:
            pt["speedup"] = pt["recompute"]["median_s"] / pt["reload"]["median_s"]
            # Load rate if the whole reload TTFT went to moving the prefix (a lower bound).
            pt["reload_prefix_gbps_lower_bound"] = (pt["prefix_kv_bytes"]
                                                    / pt["reload"]["median_s"] / 1e9)
            hits = [k or {} for k in pt["reload"]["kvstash"]]
            pt["reload_get_hits"] = [h.get("kvstash_server_get_hits_total", 0) for h in hits]
        points.append(pt)
    return points


def print_table(points: list[dict[str, Any]]) -> None:
    print(f"{'prefix':>7} {'recompute ms':>13} {'store ms':>9} {'reload ms':>10} {'speedup':>8}"
          f" {'kvstash hits':>12}")
    for pt in points:
        def ms(k: str) -> str:
            return f"{pt[k]['median_s'] * 1e3:.1f}" if k in pt else "-"
        speed = f"{pt['speedup']:.2f}x" if "speedup" in pt else "-"
        hits = ",".join(str(int(h)) for h in pt.get("reload_get_hits", [])) or "-"
        print(f"{pt['prefix_tokens']:>7} {ms('recompute'):>13} {ms('store'):>9} "
              f"{ms('reload'):>10} {speed:>8} {hits:>12}")


def main() -> int:
    args = parse_args()
    prep = c.prepare(args, max(args.length_list) + args.tail)
    log_dir, model_dir, vocab, spec, max_len = (
        prep.log_dir, prep.model_dir, prep.vocab, prep.spec, prep.max_model_len)
    kcfg = c.KvstashdConfig(bin_dir=args.kvstash_bin, dram=args.dram, flash_size=args.flash_size)
    base = c.EngineConfig(model_dir=model_dir, max_model_len=max_len, kv_space_gib=args.kv_space)
    conditions: dict[str, Any] = {
        "benchmark": "vllm-ttft", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": {"preset": args.model, **spec.describe(), "vocab": vocab,
                  "weights": "random (tiny_model.py, fixed seed)"},
        "engine": base.describe(), "environment": c.engine_environment(),
        "runs": args.runs, "tail_tokens": args.tail, "lengths": args.length_list,
        "request": "streaming /v1/completions, token-id prompt, temperature 0, max_tokens 1",
        "phases": {
            "recompute": "no connector, prefix caching on, prompts new to the engine",
            "store": "connector, prefix caching on, prompts not yet stored (miss + save)",
            "reload": "connector, engine restarted after store, prefix in kvstashd",
        },
    }
    if not args.skip_connector:
        conditions["kvstashd"] = kcfg.describe()
    c.print_conditions("vLLM TTFT: reload from kvstash vs recompute", conditions)

    prompts = make_prompts(args, vocab)
    phases: dict[str, dict[tuple[int, int], Any]] = {}
    facts: dict[str, Any] = {}
    with ExitStack() as stack:
        phases["recompute"], facts["recompute"] = run_phase(
            "recompute", base, args, log_dir, prompts, "tail_measure", None, vocab)
        if not args.skip_connector:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kvstash-ttft-")))
            kvstashd = stack.enter_context(c.Kvstashd(kcfg, tmp))
            conn_cfg = c.EngineConfig(**{**base.__dict__,
                                         "connector": c.connector_config(kvstashd.address)})
            conditions["engine_connector"] = conn_cfg.describe()
            phases["store"], facts["store"] = run_phase(
                "store", conn_cfg, args, log_dir, prompts, "tail_store", kvstashd, vocab)
            committed = kvstashd.wait_quiet()
            facts["kvstash_keys_committed_after_store"] = committed
            phases["reload"], facts["reload"] = run_phase(
                "reload", conn_cfg, args, log_dir, prompts, "tail_measure", kvstashd, vocab)
            conditions["kvstashd_metrics_end"] = c.metric_delta({}, kvstashd.metrics(),
                                                                c.KVSTASH_COUNTERS)
    conditions["engine_facts"] = facts
    points = summarize(args, phases, spec.kv_bytes_per_token(4))
    print_table(points)
    c.write_json(args.out, {"conditions": conditions, "points": points})
    return 0


if __name__ == "__main__":
    sys.exit(main())
