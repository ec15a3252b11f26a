"""Score `eval` reports again with the metrics as they are now, in place.

    python -m benchmarks.rescore REPORT.json [...]

A report keeps every answer, so a metric fixed later (say, normalisation that missed
typographic apostrophes) applies to old runs without answering anything again: each
item, each mode's summary and the paired comparisons are recomputed and the report
notes when. The answers and each run's provenance stay as they were.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from core.evaluate import format_comparisons, format_table, load_dataset, rescore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+")
    args = parser.parse_args(argv)
    for path in map(Path, args.reports):
        report = json.loads(path.read_text(encoding="utf-8"))
        rescore(report, load_dataset(Path(report["dataset"])))
        report["rescored"] = datetime.now(UTC).isoformat(timespec="seconds")
        path.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"{path}\n{format_table(report['summary'])}\n{format_comparisons(report['comparisons'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
