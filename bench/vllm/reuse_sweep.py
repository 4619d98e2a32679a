#!/usr/bin/env python3
"""When does storing KV in kvstash pay in vLLM? Mean TTFT with and without the connector, and
flash bytes written, as the fraction r of requests that continue an earlier conversation grows.

Workload, per r (seeded, the same for both engines): `pool` conversations are opened first
(unmeasured "seed" requests), then `requests` measured ones, of which round(r * requests),
at seeded positions, continue the least recently served conversation (prompt = its last
prompt + the answer it got + `turn` new tokens) and the rest open a new one (`first_turn`
random tokens). Every answer is `answer` tokens (EOS ignored). Between two turns of one
conversation come at least pool - 1 other requests, and vLLM's own KV cache is capped
(--num-gpu-blocks-override) at about one max-length request, so by the next turn vLLM has
evicted it: only kvstash can supply the prefix. vLLM's prefix-cache hit counter is recorded
to show that.

Without the connector: one engine serves every r. With it: per r a fresh kvstashd (so flash
bytes written, `kvstash_flash_bytes_written_total`, start from zero) and a fresh engine.
kvstashd's DRAM tier is kept small (--dram) so that blocks leave DRAM during the run; flash
writes happen when DRAM regions are reclaimed, so what is still in DRAM at the end is not
counted. Storing pays where mean TTFT with the connector < without (break-even r is
interpolated). docs/MODEL.md prices the flash side of the same trade.

    PYTHONPATH=python .venv-vllm/bin/python bench/vllm/reuse_sweep.py \
        --out out/bench-vllm/reuse.json
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common as c

SWEEP_KVSTASH = c.KVSTASH_COUNTERS + ("kvstash_admission_decisions_total",
                                      "kvstash_dram_region_recycles_total")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratios", default="0,0.25,0.5,0.75,1", help="fractions r, comma-separated")
    p.add_argument("--requests", type=int, default=16, help="measured requests per r")
    p.add_argument("--pool", type=int, default=4, help="conversations in rotation (gap + 1)")
    p.add_argument("--first-turn", type=int, default=1024, help="tokens of a new conversation")
    p.add_argument("--turn", type=int, default=64, help="new tokens of a continuation")
    p.add_argument("--answer", type=int, default=32, help="generated tokens per request")
    p.add_argument("--engine-blocks", type=int,
                   help="vLLM KV cache blocks (default: one max-length request + 2)")
    p.add_argument("--region-size", default="8MiB", help="kvstashd region size")
    p.add_argument("--admission", help="kvstashd --admission (default: kvstashd's, reuse)")
    c.add_common_args(p, kv_space=1, dram="128MiB",  # small DRAM: blocks reach flash
                      quick_help="smoke run: model quick, r in {0, 1}, 6 requests, pool 3, "
                      "512-token turns",
                      skip_help="only the engine without the connector (develop without it)")
    args = p.parse_args()
    if args.quick:
        for name, value in (("model", "quick"), ("ratios", "0,1"), ("requests", 6),
                            ("pool", 3), ("first_turn", 512), ("dram", "8MiB"),
                            ("region_size", "1MiB")):
            if getattr(args, name) == p.get_default(name):
                setattr(args, name, value)
    args.ratio_list = [float(x) for x in args.ratios.split(",") if x]
    if args.pool < 2:
        p.error("--pool must be >= 2 (a conversation's turns need requests between them)")
    return args


@dataclass
class Conversation:
    """One conversation: the token ids of its last prompt followed by the answer to it."""

    cid: int
    history: list[int] = field(default_factory=list)
    turns: int = 0


def plan(ratio: float, args: argparse.Namespace) -> list[str]:
    """The request kinds in order: `pool` seeds, then new/continue at seeded positions."""
    rng = random.Random(f"{args.seed}-plan-{ratio}")
    cont = set(rng.sample(range(args.requests), round(ratio * args.requests)))
    return ["seed"] * args.pool + ["continue" if i in cont else "new"
                                   for i in range(args.requests)]


def max_prompt_tokens(args: argparse.Namespace) -> int:
    """The longest prompt any r can produce (every measured request continuing, round robin)."""
    turns = -(-args.requests // args.pool)
    return args.first_turn + turns * (args.answer + args.turn)


def run_workload(engine: c.VllmServer, ratio: float, args: argparse.Namespace, vocab: int,
                 kvstashd: c.Kvstashd | None) -> list[dict[str, Any]]:
    """Serves one r's workload; one row per request (kind, prompt length, TTFT, counters)."""
    rng = random.Random(f"{args.seed}-tokens-{ratio}")
    pool: deque[Conversation] = deque()
    rows: list[dict[str, Any]] = []
    next_id = 0
    for i, kind in enumerate(plan(ratio, args)):
        if kind == "continue":
            conv = pool.popleft()
            prompt = conv.history + c.random_prompt(rng, vocab, args.turn)
        else:
            conv, next_id = Conversation(next_id), next_id + 1
            prompt = c.random_prompt(rng, vocab, args.first_turn)
        vb = engine.metrics()
        kb = kvstashd.metrics() if kvstashd else {}
        done = c.stream_completion(engine.base_url, prompt, max_tokens=args.answer)
        conv.history, conv.turns = prompt + done.output_ids, conv.turns + 1
        pool.append(conv)
        row: dict[str, Any] = {
            "i": i, "kind": kind, "conversation": conv.cid, "turn": conv.turns,
            "prompt_tokens": len(prompt), "ttft_s": done.ttft_s, "output_ids": done.output_ids,
            "vllm": c.metric_delta(vb, engine.metrics(), c.VLLM_COUNTERS)}
        if kvstashd:
            row["kvstash"] = c.metric_delta(kb, kvstashd.metrics(), c.KVSTASH_COUNTERS)
        rows.append(row)
        print(f"   r={ratio:<4} {'with' if kvstashd else 'without':7s} #{i:<3} {kind:8s} "
              f"{len(prompt):5d} tokens  TTFT {done.ttft_s * 1e3:8.1f} ms", flush=True)
    return rows


def summarize_side(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean TTFT of the measured requests (seeds left out), by kind, and vLLM's own hits."""
    measured = [r for r in rows if r["kind"] != "seed"]
    out: dict[str, Any] = {"mean_ttft_s": statistics.fmean(r["ttft_s"] for r in measured)}
    for kind in ("new", "continue"):
        sel = [r["ttft_s"] for r in measured if r["kind"] == kind]
        out[f"mean_ttft_{kind}_s"] = statistics.fmean(sel) if sel else None
    out["vllm_prefix_cache_hit_tokens"] = sum(
        v for r in measured for k, v in r["vllm"].items()
        if k.startswith("vllm:prefix_cache_hits"))
    out["vllm_external_hit_tokens"] = sum(
        v for r in measured for k, v in r["vllm"].items()
        if k.startswith("vllm:external_prefix_cache_hits"))
    return out


def break_even(points: list[dict[str, Any]]) -> float | None:
    """The smallest r where mean TTFT with the connector drops below without, counting only
    points where the connector loaded something (with nothing loaded, a difference is
    run-to-run noise). Interpolated linearly from the previous r when that one was a loss;
    None if storing never pays."""
    prev = None
    for pt in points:
        if "with" not in pt:
            return None
        diff = pt["with"]["mean_ttft_s"] - pt["without"]["mean_ttft_s"]
        if diff < 0 and pt["with"]["vllm_external_hit_tokens"] > 0:
            if prev is None or prev[1] < 0:
                return pt["ratio"]
            r0, d0 = prev
            return r0 + (pt["ratio"] - r0) * d0 / (d0 - diff)
        prev = (pt["ratio"], diff)
    return None


def main() -> int:
    args = parse_args()
    prep = c.prepare(args, max_prompt_tokens(args) + args.answer)
    log_dir, model_dir, vocab, spec, max_len = (
        prep.log_dir, prep.model_dir, prep.vocab, prep.spec, prep.max_model_len)
    blocks = args.engine_blocks or max_len // c.KV_BLOCK_TOKENS + 2
    base = c.EngineConfig(model_dir=model_dir, max_model_len=max_len, kv_space_gib=args.kv_space,
                          num_blocks=blocks)
    kcfg = c.KvstashdConfig(bin_dir=args.kvstash_bin, dram=args.dram, flash_size=args.flash_size,
                            region_size=args.region_size, admission=args.admission)
    conditions: dict[str, Any] = {
        "benchmark": "vllm-reuse-sweep", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": {"preset": args.model, **spec.describe(), "vocab": vocab},
        "engine": base.describe(), "environment": c.engine_environment(),
        "workload": {"ratios": args.ratio_list, "requests": args.requests, "pool": args.pool,
                     "min_requests_between_turns": args.pool - 1,
                     "first_turn_tokens": args.first_turn, "turn_tokens": args.turn,
                     "answer_tokens": args.answer, "seed": args.seed},
        "request": "streaming /v1/completions, token-id prompt, temperature 0, ignore_eos",
    }
    if not args.skip_connector:
        conditions["kvstashd"] = kcfg.describe()
    c.print_conditions("vLLM reuse sweep: mean TTFT and flash writes vs reuse fraction",
                       conditions)

    without: dict[float, list[dict[str, Any]]] = {}
    with_: dict[float, tuple[list[dict[str, Any]], dict[str, float]]] = {}
    facts: dict[str, Any] = {}
    print("-- without the connector: starting vLLM", flush=True)
    with c.VllmServer(base, args.python, log_dir / "vllm-reuse-without.log") as engine:
        facts["without"] = {"start_s": round(engine.start_s, 1), "threads": engine.thread_lines()}
        for ratio in args.ratio_list:
            without[ratio] = run_workload(engine, ratio, args, vocab, None)
    if not args.skip_connector:
        for ratio in args.ratio_list:
            with ExitStack() as stack:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kvstash-r-")))
                kvstashd = stack.enter_context(c.Kvstashd(kcfg, tmp))
                cfg = c.EngineConfig(**{**base.__dict__,
                                        "connector": c.connector_config(kvstashd.address)})
                conditions["engine_connector"] = cfg.describe()
                print(f"-- with the connector, r={ratio}: starting vLLM", flush=True)
                engine = stack.enter_context(
                    c.VllmServer(cfg, args.python, log_dir / f"vllm-reuse-with-{ratio}.log"))
                facts[f"with-{ratio}"] = {"start_s": round(engine.start_s, 1)}
                rows = run_workload(engine, ratio, args, vocab, kvstashd)
                kvstashd.wait_quiet()
                with_[ratio] = (rows, c.metric_delta({}, kvstashd.metrics(), SWEEP_KVSTASH))
    conditions["engine_facts"] = facts

    points = []
    for ratio in args.ratio_list:
        pt: dict[str, Any] = {"ratio": ratio, "without": summarize_side(without[ratio])}
        if ratio in with_:
            rows, kv = with_[ratio]
            pt["with"] = summarize_side(rows)
            pt["flash_bytes_written"] = kv.get("kvstash_flash_bytes_written_total", 0.0)
            pt["kvstash"] = kv
            pt["ttft_saved_s"] = sum(a["ttft_s"] - b["ttft_s"] for a, b in
                                     zip(without[ratio], rows) if a["kind"] != "seed")
            pairs = [(a, b) for a, b in zip(without[ratio], rows)]
            pt["outputs_match"] = sum(a["output_ids"] == b["output_ids"] for a, b in pairs)
            pt["requests_with"] = rows
        pt["requests_without"] = without[ratio]
        points.append(pt)

    print(f"{'r':>5} {'without ms':>11} {'with ms':>9} {'flash MiB':>10} {'vllm hits':>10}"
          f" {'kvstash hits':>13} {'same out':>9}")
    for pt in points:
        w = pt.get("with")
        hits = sum(r.get("kvstash", {}).get("kvstash_server_get_hits_total", 0)
                   for r in pt.get("requests_with", []))
        print(f"{pt['ratio']:>5} {pt['without']['mean_ttft_s'] * 1e3:>11.1f} "
              f"{(w['mean_ttft_s'] * 1e3 if w else float('nan')):>9.1f} "
              f"{pt.get('flash_bytes_written', 0) / 2**20:>10.1f} "
              f"{pt['without']['vllm_prefix_cache_hit_tokens']:>10.0f} {hits:>13.0f} "
              f"{pt.get('outputs_match', '-')!s:>9}")
    be = break_even(points)
    print("storing pays (mean TTFT with < without) from r = "
          + (f"{be:.2f}" if be is not None else "never in this range"), flush=True)
    c.write_json(args.out, {"conditions": conditions, "break_even_ratio": be, "points": points})
    return 0


if __name__ == "__main__":
    sys.exit(main())
