"""Merge `eval` reports of one question set into one file, each run's provenance kept.

    python -m benchmarks.merge A.json B.json [...] --note "..." --json OUT.json

On two shared cores the modes of one comparison run as separate processes (rag and the
plain baseline in one, hybrid in another, the closed-book modes in a third). The merged
file holds every item and every mode's summary, and under "runs" each process's commit,
date, machine, versions and seconds, keyed by the modes it ran, so that a reader sees
which code produced which row. Reports of different question sets or knowledge bases
are refused; a mode in two reports is refused (which one counts would be a choice).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.evaluate import comparisons, format_comparisons


class MergeError(ValueError):
    pass


def _same(dataset: str) -> tuple[str, ...]:
    """A question set's path as a comparable key: absolute or relative to the repository."""
    return Path(dataset).parts[-3:]


def merge(reports: list[dict[str, Any]], note: str = "") -> dict[str, Any]:
    """One report from several of the same dataset and knowledge base."""
    first = reports[0]
    merged: dict[str, Any] = {"summary": {}, "items": [], "dataset": first["dataset"], "kb": first["kb"],
                              "baseline_kb": first.get("baseline_kb"), "settings": first["settings"],
                              "adapters": {}, "runs": {}, "note": note}
    for report in reports:
        if (_same(report["dataset"]), report["kb"]) != (_same(first["dataset"]), first["kb"]):
            raise MergeError(f"{report['dataset']} on {report['kb']} is not {first['dataset']} on {first['kb']}")
        modes = list(report["summary"])
        twice = set(modes) & set(merged["summary"])
        if twice:
            raise MergeError(f"mode(s) {', '.join(sorted(twice))} in more than one report")
        merged["summary"].update(report["summary"])
        merged["items"].extend(report["items"])
        merged["adapters"].update(report.get("adapters") or {})
        merged["runs"][",".join(modes)] = report.get("run") or report.get("runs")
        if report.get("baseline_kb") and "plain" in modes:
            merged["baseline_kb"] = report["baseline_kb"]
    # modes from different runs compared question by question (each run's own holds only its modes)
    merged["comparisons"] = comparisons(merged["items"])
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--note", default="")
    parser.add_argument("--json", dest="out", required=True)
    args = parser.parse_args(argv)
    merged = merge([json.loads(Path(p).read_text(encoding="utf-8")) for p in args.reports], args.note)
    Path(args.out).write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{', '.join(merged['summary'])}: {len(merged['items'])} items -> {args.out}")
    print(format_comparisons(merged["comparisons"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
