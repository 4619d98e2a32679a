#!/usr/bin/env python3
"""Plots the vLLM benchmarks' results (bench/vllm/ttft.py, bench/vllm/reuse_sweep.py).

    bench/vllm/plot.py [--ttft out/bench-vllm/ttft.json] [--reuse out/bench-vllm/reuse.json]
                       [--out-dir /tmp]          (scripts/bench-vllm: --out-dir docs/img)

Writes vllm-ttft.png (median TTFT vs prefix length: recompute, connector miss + store, reload
from kvstash; speedup of reload over recompute on a second axis) and vllm-reuse.png (mean
TTFT with and without the connector, and flash bytes written, vs the fraction r of requests
that continue an earlier conversation). A missing input file skips its plot. Needs matplotlib.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def subtitle(cond: dict[str, Any]) -> str:
    """One line of conditions: model shape, dtype, block size, vLLM version, CPUs."""
    m, e, env = cond["model"], cond["engine"], cond["environment"]
    return (f"{m['preset']} model: {m['num_layers']} layers, hidden {m['hidden_size']}, "
            f"{m['num_heads']} heads / {m['num_kv_heads']} KV, {e['dtype']}, "
            f"block {e['block_size']}; vLLM {env['vllm']} on CPU ({env['cpus']} vCPUs)")


def plot_ttft(doc: dict[str, Any], out: Path) -> None:
    """TTFT (log scale) vs prefix length, one line per phase; speedup on the right axis."""
    pts = doc["points"]
    x = [p["prefix_tokens"] for p in pts]
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, label, style in (("recompute", "recompute (no connector)", "o-"),
                              ("store", "connector, miss + store", "s--"),
                              ("reload", "reload from kvstash", "^-")):
        if all(key in p for p in pts):
            ax.plot(x, [p[key]["median_s"] for p in pts], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(x, [str(v) for v in x])
    ax.set_xlabel("prefix tokens (prompt = prefix + %d new)" % doc["conditions"]["tail_tokens"])
    ax.set_ylabel(f"TTFT, s (median of {doc['conditions']['runs']})")
    ax.grid(True, which="both", alpha=0.3)
    if all("speedup" in p for p in pts):
        ax2 = ax.twinx()
        ax2.plot(x, [p["speedup"] for p in pts], "k:", marker="x", label="speedup (right)")
        ax2.set_ylabel("recompute / reload")
        ax2.set_ylim(0, max(p["speedup"] for p in pts) * 1.25)
        for xi, p in zip(x, pts):
            ax2.annotate(f"{p['speedup']:.1f}x", (xi, p["speedup"]), textcoords="offset points",
                         xytext=(0, 6), ha="center", fontsize=8)
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")
    else:
        ax.legend(fontsize=8, loc="upper left")
    ax.set_title("vLLM time to first token: reload from kvstash vs recompute\n"
                 + subtitle(doc["conditions"]), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def plot_reuse(doc: dict[str, Any], out: Path) -> None:
    """Mean TTFT with/without the connector vs r; flash MiB written (bars, right axis)."""
    pts = doc["points"]
    r = [p["ratio"] for p in pts]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(r, [p["without"]["mean_ttft_s"] * 1e3 for p in pts], "o-", label="without connector")
    have_with = all("with" in p for p in pts)
    if have_with:
        ax.plot(r, [p["with"]["mean_ttft_s"] * 1e3 for p in pts], "^-",
                label="with kvstash connector")
        ax2 = ax.twinx()
        ax2.bar(r, [p["flash_bytes_written"] / 2**20 for p in pts], width=0.08, alpha=0.25,
                color="gray", label="flash MiB written (right)")
        ax2.set_ylabel("flash MiB written (kvstashd counter)")
        lines, lines2 = ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper right")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    else:
        ax.legend(fontsize=8)
    be = doc.get("break_even_ratio")
    if be is not None:
        ax.axvline(be, color="green", linestyle=":", alpha=0.7)
        ax.annotate(f"storing pays from r <= {be:.2f} (first r measured with loads)",
                    (be, ax.get_ylim()[1]), fontsize=8,
                    xytext=(4, -12), textcoords="offset points", color="green")
    w = doc["conditions"]["workload"]
    ax.set_xlabel("fraction r of requests continuing an earlier conversation")
    ax.set_ylabel(f"mean TTFT, ms ({w['requests']} requests per r)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"vLLM with and without kvstash: new conversations {w['first_turn_tokens']} "
                 f"tokens, turns +{w['answer_tokens']}+{w['turn_tokens']}, "
                 f">= {w['min_requests_between_turns']} requests between turns\n"
                 + subtitle(doc["conditions"]), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ttft", type=Path, default=Path("out/bench-vllm/ttft.json"))
    p.add_argument("--reuse", type=Path, default=Path("out/bench-vllm/reuse.json"))
    p.add_argument("--out-dir", type=Path, default=Path("/tmp"))
    args = p.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    done = 0
    for src, fn, name in ((args.ttft, plot_ttft, "vllm-ttft.png"),
                          (args.reuse, plot_reuse, "vllm-reuse.png")):
        if src.is_file():
            fn(json.loads(src.read_text()), args.out_dir / name)
            done += 1
        else:
            print(f"plot: {src} missing, {name} skipped", file=sys.stderr)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
