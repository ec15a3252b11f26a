"""Charts for docs/ from the measured JSON in benchmarks/results/ (no benchmark is re-run).

    .venv/bin/python -m benchmarks.plots [--results benchmarks/results] [--out docs/img]

Writes scale.png (query latency, add throughput, memory and disk against the number
of chunks, log x), retrieval.png (SciFact nDCG@10 per method, with the published references) and
answer.png (time to first token and end-to-end p50 per mode) and quality.png (answer
containment and F1 per mode with 95% intervals, from the `core eval` runs
eval_covidqa_modes.json and eval_cuad_modes.json) and comparisons.png (the same runs'
paired differences, rag - plain and hybrid - rag, with their intervals and the line of
no difference); a chart whose JSON is missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, ROOT


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _machine_footer(data: dict[str, Any]) -> str:
    """The machine, date and load a benchmark's figures came from."""
    load = data["load_avg_1min"]
    return (f"{data['machine']['cpu']}, {data['machine']['cores']} cores; {data['date'][:10]}; "
            f"load {load['start']} -> {load['end']}")


def _save(fig, footer: str, path: Path) -> Path:
    """The footer in small grey type, then the PNG."""
    import matplotlib.pyplot as plt

    fig.text(0.01, 0.01, footer, fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_scale(data: dict[str, Any], out: Path) -> Path:
    import matplotlib.pyplot as plt

    rows = data["sizes"]
    sizes = [r["size"] for r in rows]
    fig, (lat, thr, mem) = plt.subplots(1, 3, figsize=(14, 4))
    for key, label, color in (("query_k10", "query", "C0"), ("query_k10_filtered", "query + doc_id $in filter", "C3"),
                              ("query_k10_one_document", "query in one document", "C2")):
        if not all(key in r for r in rows):  # results from before that query was measured
            continue
        lat.plot(sizes, [r[key]["p50_ms"] for r in rows], "-", color=color, marker="o", label=f"{label} p50")
        lat.plot(sizes, [r[key]["p95_ms"] for r in rows], "--", color=color, marker="^", alpha=0.6,
                 label=f"{label} p95")
    lat.set(xscale="log", yscale="log", xlabel="chunks in the collection", ylabel="ms (k=10)",
            title="Chroma query latency")
    lat.legend(fontsize=8)
    lat.grid(True, which="both", alpha=0.3)
    thr.plot(sizes, [r["add"]["vectors_per_s"] for r in rows], marker="o", label="whole build")
    thr.plot(sizes, [r["add"]["last_10pct_vectors_per_s"] for r in rows], "--", marker="^", label="last 10% of it")
    thr.set(xscale="log", xlabel="chunks in the collection", ylabel="vectors/s (collection.add)",
            title="Chroma add throughput", ylim=(0, None))
    thr.legend(fontsize=8)
    thr.grid(True, which="both", alpha=0.3)
    mem.plot(sizes, [r["rss_mb"]["after"] for r in rows], marker="o", label="RSS after queries")
    mem.plot(sizes, [r["rss_mb"]["peak_during_add"] for r in rows], "--", marker="^", label="peak RSS while adding")
    mem.plot(sizes, [r["disk_mb"] for r in rows], marker="s", label="on disk")
    mem.set(xscale="log", yscale="log", xlabel="chunks in the collection", ylabel="MB", title="Memory and disk")
    mem.legend(fontsize=8)
    mem.grid(True, which="both", alpha=0.3)
    fig.suptitle("Scale: synthetic random 384-d unit vectors", fontsize=10)
    return _save(fig, _machine_footer(data), out / "scale.png")


def plot_retrieval(data: dict[str, Any], out: Path) -> Path:
    import matplotlib.pyplot as plt

    fusion = data.get("settings", {}).get("fusion", "rrf")  # runs before DOCENT_FUSION fused by rank
    labels = {"dense": "dense\n(MiniLM)", "bm25": "BM25", "fused": f"fused\n({fusion})",
              "fused+rerank": "fused +\nrerank"}
    methods = list(data["methods"])
    values = [data["methods"][m]["ndcg@10"] for m in methods]
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar([labels.get(m, m) for m in methods], values, color=["#6a9fd4", "#e0a050", "#4caf50", "#9c6ad4"])
    ax.bar_label(bars, fmt="%.3f")
    for method, ref in data["reference_ndcg@10"].items():
        if method in methods:
            i = methods.index(method)
            ax.hlines(ref, i - 0.4, i + 0.4, colors="black", linestyles="dashed")
            ax.annotate(f"reference {ref}", (i, ref), textcoords="offset points", xytext=(0, -12), ha="center",
                        fontsize=7)
    ax.set(ylabel="nDCG@10", title="BEIR SciFact (300 test queries)", ylim=(0.5, max(values) + 0.05))
    return _save(fig, _machine_footer(data), out / "retrieval.png")


def plot_answer(data: dict[str, Any], out: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    modes = list(data["modes"])
    first = [data["modes"][m]["first_token"]["p50_ms"] / 1000 for m in modes]
    total = [data["modes"][m]["end_to_end"]["p50_ms"] / 1000 for m in modes]
    x = np.arange(len(modes))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, first, 0.4, label="first token p50")
    ax.bar(x + 0.2, total, 0.4, label="end-to-end p50")
    ax.set_xticks(x, modes)
    ax.set(ylabel="seconds", title=f"Answer latency per mode ({data['settings']['n']} COVID-QA questions)")
    ax.legend()
    return _save(fig, _machine_footer(data), out / "answer.png")


QUALITY_RUNS = {"COVID-QA": "eval_covidqa_modes", "CUAD": "eval_cuad_modes"}


def plot_quality(runs: dict[str, dict[str, Any]], out: Path) -> Path:
    """One panel per data set: containment and F1 per mode, error bars = 95% bootstrap intervals."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    top = max(st["ci95"][1] for data in runs.values() for s in data["summary"].values()
              for metric, st in s.items() if metric in ("containment", "f1"))
    for ax, (title, data) in zip(axes[0], runs.items()):
        modes = list(data["summary"])
        x = np.arange(len(modes))
        for offset, metric in ((-0.2, "containment"), (0.2, "f1")):
            stats = [data["summary"][m][metric] for m in modes]
            means = np.array([st["mean"] for st in stats])
            errors = np.array([[st["mean"] - st["ci95"][0] for st in stats],
                               [st["ci95"][1] - st["mean"] for st in stats]])
            ax.bar(x + offset, means, 0.4, yerr=errors, capsize=3, label=metric)
        n = data["summary"]["rag"]["containment"]["n"]
        ax.set_xticks(x, modes)
        ax.set(title=f"{title}: {n} answerable questions", ylabel="mean (95% interval)", ylim=(0, top + 0.05))
        ax.legend()
    footer = "core eval per data set (modes merged from their runs: each file's \"runs\"); plain = a dense top-4 RAG"
    return _save(fig, footer, out / "quality.png")


COMPARED = (("rag", "plain"), ("hybrid", "rag"))
COMPARED_METRICS = ("containment", "f1", "em")


def plot_comparisons(runs: dict[str, dict[str, Any]], out: Path) -> Path:
    """One panel per compared pair: each data set's paired difference per metric as a
    point with its 95% interval; an interval that crosses the zero line is no win."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(COMPARED), figsize=(6 * len(COMPARED), 3.6), squeeze=False)
    colors = dict(zip(runs, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, (mode, against) in zip(axes[0], COMPARED):
        labels = []
        for row, metric in enumerate(COMPARED_METRICS):
            labels.append(metric)
            for k, (title, data) in enumerate(runs.items()):
                pair = next((c for c in data.get("comparisons", []) if (c["mode"], c["against"]) == (mode, against)),
                            None)
                if not pair or metric not in pair:
                    continue
                d = pair[metric]
                y = row + (k - (len(runs) - 1) / 2) * 0.25
                low, high = d["difference"] - d["ci95"][0], d["ci95"][1] - d["difference"]
                ax.errorbar(d["difference"], y, xerr=[[low], [high]], fmt="o", capsize=3, color=colors[title],
                            label=title if row == 0 else None)
        ax.axvline(0, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set(title=f"{mode} - {against}, same questions", xlabel="difference of means (95% paired interval)")
        ax.legend(loc="best", fontsize=8)
    footer = "core eval `comparisons`: questions resampled with both modes' scores together (1,000 rounds)"
    return _save(fig, footer, out / "comparisons.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=RESULTS_DIR, type=Path)
    parser.add_argument("--out", default=ROOT / "docs" / "img", type=Path)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    args.out.mkdir(parents=True, exist_ok=True)
    for name, plot in (("scale", plot_scale), ("retrieval", plot_retrieval), ("answer", plot_answer)):
        data = _load(args.results, name)
        if data is None or (name == "scale" and not data.get("sizes")):
            print(f"skipped {name}.png: no {args.results / (name + '.json')}", file=sys.stderr)
            continue
        print(f"wrote {plot(data, args.out)}")
    runs = {title: data for title, name in QUALITY_RUNS.items() if (data := _load(args.results, name))}
    if runs:
        print(f"wrote {plot_quality(runs, args.out)}")
    else:
        print("skipped quality.png: no eval_*_modes.json", file=sys.stderr)
    compared = {title: data for title, data in runs.items() if data.get("comparisons")}
    if compared:
        print(f"wrote {plot_comparisons(compared, args.out)}")
    else:
        print("skipped comparisons.png: no eval_*_modes.json with comparisons", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
