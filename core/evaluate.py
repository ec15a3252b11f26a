"""Evaluation: run questions through the answer modes and score them.

Dataset lines: {"id", "question", "answers": [...], "answerable": true|false (optional),
"source": file (optional), "page": n (optional)}. Per mode we report answer containment
(a gold answer inside the normalised answer), SQuAD token F1 and exact match, retrieval
hit@k (a gold answer inside the retrieved passages), source hit@k, refusal accuracy on
unanswerable items, false refusals on answerable ones, and p50/p95 seconds. Every
metric carries a 95% bootstrap interval; per-item records let anyone rescore.

Two modes' intervals can overlap although one mode wins on most of the questions where
they differ, and can fail to overlap by chance less often than they seem to: a claim that
one mode is above another rests on `compare` instead, the paired difference over the same
questions with its own bootstrap interval (and, against the baseline, the ratio).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.text import normalize_answer


class DatasetError(Exception):
    pass


@dataclass
class Item:
    id: str
    question: str
    answers: list[str]
    answerable: bool = True
    source: str | None = None
    page: int | None = None


def load_dataset(path: Path) -> list[Item]:
    """Read a JSONL dataset; every bad line is reported with its number, none is skipped silently."""
    items, errors = [], []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not str(row.get("question", "")).strip():
                raise ValueError("needs a non-empty 'question'")
            answers = row.get("answers", [])
            if isinstance(answers, str):
                answers = [answers]
            answerable = bool(row.get("answerable", True))
            if answerable and not answers:
                raise ValueError("an answerable item needs 'answers'")
            items.append(Item(str(row.get("id", n)), str(row["question"]), [str(a) for a in answers], answerable,
                              row.get("source"), int(row["page"]) if row.get("page") is not None else None))
        except (json.JSONDecodeError, ValueError, TypeError) as exc:
            errors.append(f"line {n}: {exc}")
    if errors:
        raise DatasetError(f"{path}: {len(errors)} bad line(s): " + "; ".join(errors[:20]))
    if not items:
        raise DatasetError(f"{path}: no questions")
    return items


# --- metrics --------------------------------------------------------------------------

def contains(answer: str, golds: Iterable[str]) -> float:
    text = normalize_answer(answer)
    return float(any(normalize_answer(g) and normalize_answer(g) in text for g in golds))


def token_f1(answer: str, golds: Iterable[str]) -> float:
    best = 0.0
    pred = normalize_answer(answer).split()
    for gold in golds:
        ref = normalize_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def exact_match(answer: str, golds: Iterable[str]) -> float:
    return float(any(normalize_answer(answer) == normalize_answer(g) for g in golds))


def score_item(item: Item, record: dict[str, Any]) -> dict[str, float | None]:
    """Metrics for one answered item (None where a metric does not apply)."""
    refused = record["refused"]
    text = "" if refused else record["answer"]
    passages = " ".join(s["text"] for s in record["sources"])
    scores: dict[str, float | None] = {"containment": None, "f1": None, "em": None, "hit": None,
                                       "source_hit": None, "refusal_correct": None, "false_refusal": None}
    if item.answerable:
        scores.update(containment=contains(text, item.answers), f1=token_f1(text, item.answers),
                      em=exact_match(text, item.answers), false_refusal=float(refused))
        if record["mode"] not in ("base", "finetuned"):  # retrieval metrics need retrieved passages
            scores["hit"] = contains(passages, item.answers)
            if item.source:
                scores["source_hit"] = float(any(s["source"] == item.source and
                                                 (item.page is None or s["page"] == item.page)
                                                 for s in record["sources"]))
    else:
        scores["refusal_correct"] = float(refused)
    return scores


def bootstrap(values: list[float], rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean."""
    if not values:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(rounds))
    return (means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    import numpy as np

    return float(np.percentile(values, 100 * q))  # linear interpolation, like pandas


METRICS = ("containment", "f1", "em", "hit", "source_hit", "refusal_correct", "false_refusal")


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"n": len(records)}
    for metric in METRICS:
        values = [r["scores"][metric] for r in records if r["scores"][metric] is not None]
        if values:
            low, high = bootstrap(values)
            summary[metric] = {"mean": round(statistics.fmean(values), 4), "ci95": [round(low, 4), round(high, 4)],
                               "n": len(values)}
    seconds = [r["seconds"] for r in records]
    summary["p50_s"] = round(percentile(seconds, 0.5), 3)
    summary["p95_s"] = round(percentile(seconds, 0.95), 3)
    first = [r["timings"].get("first_token") for r in records if r["timings"].get("first_token")]
    if first:
        summary["p50_first_token_s"] = round(percentile(first, 0.5), 3)
    return summary


# (mode, the mode it is measured against): the targets and the fine-tuning's gain
COMPARISONS = (("rag", "plain"), ("hybrid", "rag"), ("hybrid", "plain"), ("finetuned", "base"))
PAIRED_METRICS = ("containment", "f1", "em", "refusal_correct")


def paired_bootstrap(pairs: list[tuple[float, float]], rounds: int = 1000,
                     seed: int = 0) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """95% percentile intervals of mean(a) - mean(b) and of mean(a) / mean(b), resampling
    questions (both modes' scores of a question stay together); the ratio's is None when a
    resample's mean(b) can be 0."""
    rng = random.Random(seed)
    differences, ratios = [], []
    for _ in range(rounds):
        sample = rng.choices(pairs, k=len(pairs))
        a, b = statistics.fmean(x for x, _ in sample), statistics.fmean(y for _, y in sample)
        differences.append(a - b)
        ratios.append(a / b if b else None)
    differences.sort()
    low, high = int(0.025 * rounds), int(0.975 * rounds) - 1
    if any(r is None for r in ratios):
        return (differences[low], differences[high]), None
    ratios.sort()
    return (differences[low], differences[high]), (ratios[low], ratios[high])


def compare(records: list[dict[str, Any]], mode: str, against: str) -> dict[str, Any]:
    """`mode` against `against` on the questions both answered, per metric: the mean
    difference with its paired 95% interval, how many questions each wins, and for
    containment the ratio (the issue's "4x the baseline") with its interval. A
    difference whose interval holds 0 is not a win."""
    scored = {(r["id"], r["mode"]): r["scores"] for r in records}
    ids = [r["id"] for r in records if r["mode"] == mode and (r["id"], against) in scored]
    result: dict[str, Any] = {"mode": mode, "against": against, "n": len(ids)}
    for metric in PAIRED_METRICS:
        pairs = [(scored[i, mode][metric], scored[i, against][metric]) for i in ids
                 if scored[i, mode][metric] is not None and scored[i, against][metric] is not None]
        if not pairs:
            continue
        (low, high), ratio = paired_bootstrap(pairs)
        a, b = statistics.fmean(x for x, _ in pairs), statistics.fmean(y for _, y in pairs)
        entry = {"difference": round(a - b, 4), "ci95": [round(low, 4), round(high, 4)], "n": len(pairs),
                 "wins": sum(x > y for x, y in pairs), "losses": sum(x < y for x, y in pairs)}
        if metric == "containment" and b:
            entry["ratio"] = round(a / b, 3)
            entry["ratio_ci95"] = [round(ratio[0], 3), round(ratio[1], 3)] if ratio else None
        result[metric] = entry
    return result


def comparisons(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pair of `COMPARISONS` whose two modes the records hold."""
    modes = {r["mode"] for r in records}
    return [compare(records, mode, against) for mode, against in COMPARISONS if {mode, against} <= modes]


def rescore(report: dict[str, Any], items: list[Item]) -> dict[str, Any]:
    """Score a report's per-item records again (after a metric changed), in place."""
    by_id = {item.id: item for item in items}
    for record in report["items"]:
        record["scores"] = score_item(by_id[record["id"]], record)
    modes = list(report["summary"])
    report["summary"] = {mode: summarize([r for r in report["items"] if r["mode"] == mode]) for mode in modes}
    report["comparisons"] = comparisons(report["items"])
    return report


def run_eval(items: list[Item], modes: list[str], answer_fn: Callable[[str, str], Any],
             progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Answer every item in every mode; `answer_fn(question, mode)` returns an `Answer`."""
    records = []
    total, done = len(items) * len(modes), 0
    for mode in modes:
        for item in items:
            started = time.perf_counter()
            result = answer_fn(item.question, mode)
            seconds = time.perf_counter() - started
            record = {"id": item.id, "mode": mode, "question": item.question, "answer": result.text,
                      "refused": result.refused, "reason": result.reason, "draft": result.draft,
                      "model_quote": result.model_quote,
                      "gold": item.answers, "answerable": item.answerable,
                      "sources": [{"source": s.source, "page": s.page, "text": s.text, "sentence": s.sentence,
                                   "score": s.score, "cited": s.cited} for s in result.sources],
                      "seconds": round(seconds, 3), "timings": result.timings}
            record["scores"] = score_item(item, record)
            records.append(record)
            done += 1
            if progress:
                progress(done, total, mode)
    summary = {mode: summarize([r for r in records if r["mode"] == mode]) for mode in modes}
    return {"summary": summary, "comparisons": comparisons(records), "items": records}


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table: one row per mode, mean [95% interval] per metric."""
    columns = ["containment", "f1", "em", "hit", "source_hit", "refusal_correct", "false_refusal"]
    header = f"{'mode':10}" + "".join(f"{c:>22}" for c in columns) + f"{'p50 s':>8}{'p95 s':>8}"
    lines = [header, "-" * len(header)]
    for mode, s in summary.items():
        cells = []
        for c in columns:
            m = s.get(c)
            cells.append(f"{m['mean']:.3f} [{m['ci95'][0]:.2f},{m['ci95'][1]:.2f}]" if m else "-")
        lines.append(f"{mode:10}" + "".join(f"{c:>22}" for c in cells) + f"{s['p50_s']:>8.2f}{s['p95_s']:>8.2f}")
    return "\n".join(lines)


def format_comparisons(rows: list[dict[str, Any]]) -> str:
    """One line per compared pair: each metric's difference [95% paired interval] and
    the questions won / lost, and the containment ratio."""
    lines = []
    for row in rows:
        cells = []
        for metric in PAIRED_METRICS:
            if m := row.get(metric):
                cells.append(f"{metric} {m['difference']:+.3f} [{m['ci95'][0]:+.2f},{m['ci95'][1]:+.2f}] "
                             f"({m['wins']} won, {m['losses']} lost)")
                if m.get("ratio"):
                    ci = m.get("ratio_ci95")
                    cells.append(f"ratio {m['ratio']:.2f}x" + (f" [{ci[0]:.2f},{ci[1]:.2f}]" if ci else ""))
        lines.append(f"{row['mode']} - {row['against']} (n={row['n']}): " + "; ".join(cells))
    return "\n".join(lines)


def side_by_side(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per question with each mode's answer and scores next to each other (for CSV)."""
    rows: dict[str, dict[str, Any]] = {}
    for record in report["items"]:
        row = rows.setdefault(record["id"], {"id": record["id"], "question": record["question"],
                                             "gold": " | ".join(record["gold"]), "answerable": record["answerable"]})
        mode, scores = record["mode"], record["scores"]
        row[f"{mode} answer"] = record["answer"]
        row[f"{mode} refused"] = record["refused"]
        row[f"{mode} contains gold"] = scores["containment"]
        row[f"{mode} f1"] = None if scores["f1"] is None else round(scores["f1"], 3)
        row[f"{mode} s"] = record["seconds"]
    return list(rows.values())
