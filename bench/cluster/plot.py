"""Plots kvstash-cluster-bench output (one or more runs, concatenated) as GET GB/s per
configuration: the median bar and the min..max range, per transport.

    /usr/bin/python3 bench/cluster/plot.py bench/cluster/throughput-2026-12-02.txt \
        docs/img/cluster-throughput.png
"""

import re
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROWS = [
    (r"^1 node, plain Client:\s+GET ([\d.]+) GB/s", "1 node\nplain Client"),
    (r"^1 node\(s\), ClusterClient: GET ([\d.]+) GB/s", "1 node\nClusterClient"),
    (r"^3 node\(s\), ClusterClient: GET ([\d.]+) GB/s", "3 nodes\nClusterClient"),
]


def parse(path: str) -> dict[str, dict[str, list[float]]]:
    """{transport: {row label: [GB/s per run]}}"""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    transport = "?"
    for line in open(path, encoding="utf-8"):
        m = re.search(r"UCX_TLS=(\S+)", line)
        if line.startswith("conditions:") and m:
            transport = "TCP loopback" if m.group(1) == "tcp" else "shared memory"
        for pattern, label in ROWS:
            m = re.match(pattern, line)
            if m:
                out[transport][label].append(float(m.group(1)))
    return out


def main() -> None:
    data = parse(sys.argv[1])
    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4), sharey=False)
    axes = axes if len(data) > 1 else [axes]
    for ax, (transport, rows) in zip(axes, sorted(data.items())):
        labels = [label for _, label in ROWS if label in rows]
        med = [statistics.median(rows[label]) for label in labels]
        lo = [m - min(rows[label]) for m, label in zip(med, labels)]
        hi = [max(rows[label]) - m for m, label in zip(med, labels)]
        ax.bar(labels, med, yerr=[lo, hi], capsize=6, color=["#888", "#4a7", "#27a"])
        for i, m in enumerate(med):
            ax.text(i, m / 2, f"{m:.2f}", ha="center", color="white", fontweight="bold")
        runs = len(rows[labels[0]])
        ax.set_title(f"{transport} (median of {runs} runs; range)")
        ax.set_ylabel("GET GB/s")
    fig.suptitle(
        "1 vs 3 kvstashd on one 2-vCPU VM: 64 KiB GETs, batch 16, 2 client threads"
    )
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
