"""Retrieval and context alone, no model run: where does the gold answer sit?

    python -m benchmarks.context DATASET.jsonl [DATASET ...] --kb KB [--json OUT]

For each answerable question, the grounded modes' path up to the prompt runs as it does
in `eval` (`Retriever.search`, then `select_context` on the topic query), and the gold
answer is looked for in the passages, in the best context sentence, in the two best
(the ones an extracted answer may come from) and in all the sentences the model reads.
A change to retrieval or to the choice of context sentences is measured here in
seconds per question, on development sets, before a model run is spent on it. The
table is per question kind (the id's last part, as `benchmarks.prepare_cuad` writes it).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from core.answer import select_context
from core.config import Settings, get_settings
from core.evaluate import contains, load_dataset
from core.retrieval import Retriever
from knowledge.store import Store

LEVELS = ("passages", "sentence_1", "sentences_2", "context")


def locate(question: str, golds: list[str], retriever: Retriever) -> dict[str, Any]:
    """Where the gold answer is found for one question (1.0 / 0.0 per level)."""
    settings = retriever.settings
    hits = retriever.search(question, k=settings.top_k)
    context = select_context(retriever.topic_query, hits, settings)
    sentences = context.sentences
    return {"passages": contains(" ".join(h.chunk.text for h in hits), golds),
            "sentence_1": contains(" ".join(sentences[:1]), golds),
            "sentences_2": contains(" ".join(sentences[:2]), golds),
            "context": contains(" ".join(sentences), golds),
            "focus": retriever.focus, "chunks": [h.chunk.id for h in hits]}


def kind_of(item_id: str) -> str:
    return item_id.rsplit("-", 1)[-1]


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--kb", required=True)
    parser.add_argument("--json", dest="out")
    args = parser.parse_args(argv)
    settings = settings or get_settings()
    retriever = Retriever(Store(settings).kb(args.kb), settings)
    items = [item for path in args.datasets for item in load_dataset(Path(path)) if item.answerable]
    records = [{"id": item.id, "question": item.question, **locate(item.question, item.answers, retriever)}
               for item in items]
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for group in (kind_of(record["id"]), "all"):
            totals[group]["n"] += 1
            totals[group].update({level: int(record[level]) for level in LEVELS})
    print(f"| kind | n | {' | '.join(LEVELS)} |\n|---|---|{'---|' * len(LEVELS)}")
    for group, t in sorted(totals.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        print(f"| {group} | {t['n']} | " + " | ".join(f"{t[level]}" for level in LEVELS) + " |")
    if args.out:
        summary = {group: {"n": t["n"], **{level: t[level] for level in LEVELS}} for group, t in totals.items()}
        Path(args.out).write_text(json.dumps({"datasets": args.datasets, "kb": args.kb, "summary": summary,
                                              "items": records}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
