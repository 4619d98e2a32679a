#!/usr/bin/python3
"""Plots scripts/bench-python's results (out/bench-python) as grouped bars of GB/s.

    bench/python/plot.py [DIR] [OUT.png]      (default: out/bench-python docs/img/python-client.png)

One panel per batch size (16 and 1 keys per call); bars: the C++ client, kvstash's Python
client and Mooncake Store's Python client, over shared memory (same host) and over TCP; the
dashed line is memcpy measured in the same run. Needs python3-matplotlib (Debian).
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(d: Path, batch: int) -> tuple[list[str], dict[str, list[float]], float]:
    """Bar labels, {op: values} and memcpy GB/s for one batch size."""
    labels: list[str] = []
    vals: dict[str, list[float]] = {"put": [], "get": []}
    memcpy = []
    for tls, name in (("default", "same host"), ("tcp", "TCP")):
        k = json.loads((d / f"kvstash-{tls}-b{batch}.json").read_text())
        memcpy.append(k["memcpy_gbps_median"])
        for who, field in (("kvstash C++", "cpp_median"), ("kvstash Python", "python_median")):
            labels.append(f"{who}\n{name}")
            for op in vals:
                vals[op].append(k["ops"][op][field])
    m = json.loads((d / f"mooncake-b{batch}.json").read_text())
    for key, name in (("standalone MC_STORE_MEMCPY=1", "same host*"),
                      ("standalone MC_STORE_MEMCPY=0", "TCP")):
        labels.append(f"Mooncake Python\n{name}")
        vals["put"].append(statistics.median(m[key]["put_gbps"]))
        vals["get"].append(statistics.median(m[key]["get_gbps"]))
    return labels, vals, statistics.median(memcpy)


def main() -> int:
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "out/bench-python")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/img/python-client.png")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, batch in zip(axes, (16, 1)):
        labels, vals, memcpy = series(d, batch)
        x = range(len(labels))
        w = 0.38
        ax.bar([i - w / 2 for i in x], vals["put"], w, label="put")
        ax.bar([i + w / 2 for i in x], vals["get"], w, label="get")
        ax.axhline(memcpy, linestyle="--", color="gray", label=f"memcpy {memcpy:.0f} GB/s")
        ax.set_xticks(list(x), labels, fontsize=7)
        ax.set_title(f"1 MiB blocks, {batch} key{'s' if batch > 1 else ''} per call, 1 in flight")
        ax.set_ylabel("GB/s (median of 3)")
        ax.legend(fontsize=8)
    fig.suptitle("Python clients vs the C++ client, one 2-vCPU host "
                 "(* Mooncake: a separate store process, MC_STORE_MEMCPY=1)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
