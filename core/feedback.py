"""Which answer a reader marked best in the compare view: saved, then summarised per mode.

One JSON line per choice in `<data>/feedback/compare.jsonl`, appended under a file lock
so several app processes can write at once.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from filelock import FileLock

from core.config import Settings


def feedback_file(settings: Settings):
    return settings.data_dir / "feedback" / "compare.jsonl"


def record_choice(settings: Settings, question: str, kb: str, answers: dict[str, dict[str, Any]], best: str) -> None:
    """Append one choice with the answers it was made between (text and sources kept)."""
    if best not in answers:
        raise ValueError(f"{best!r} is not one of the compared modes ({', '.join(answers)})")
    path = feedback_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "question": question, "kb": kb,
           "best": best, "answers": {mode: {"answer": a.get("answer"), "adapter": a.get("adapter"),
                                            "refused": a.get("refused"), "error": a.get("error")}
                                     for mode, a in answers.items()}}
    settings.locks_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.locks_dir / "feedback.lock")):
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_choices(settings: Settings) -> list[dict[str, Any]]:
    """Every saved choice; a damaged line (e.g. a crash mid-write) is skipped, not fatal."""
    path = feedback_file(settings)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "best" in row:
            rows.append(row)
    return rows


def summarize_choices(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per mode: how often it was compared, how often marked best, and the share."""
    compared: Counter[str] = Counter()
    best: Counter[str] = Counter()
    for row in rows:
        compared.update(row.get("answers", {}).keys())
        best[row["best"]] += 1
    return [{"mode": mode, "compared": compared[mode], "best": best[mode],
             "share": round(best[mode] / compared[mode], 3) if compared[mode] else 0.0}
            for mode in sorted(compared, key=lambda m: -best[m])]
