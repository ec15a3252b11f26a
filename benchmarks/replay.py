"""Replay an `eval` report's generations through the answering code as it is now.

    python -m benchmarks.replay REPORT.json --kb KB [--modes rag,hybrid] [--json OUT]

A change that acts only after generation (an answer check, a refusal, how a span is
widened) can be measured on exactly the generations a report holds, in seconds per
question instead of a model run: each grounded item's model text (its `draft`, else its
answer) is fed back as the generator's output, and retrieval, checks and scoring run as
they do in `eval`. Run it with the code before a change too: on the same knowledge base
it must give the report's own answers back, which tells a replay from a drift in
retrieval. Not a replacement for `eval`: a change to the prompt, the context or the
adapter needs new generations, and an item refused before generation in the report has
no model text to replay (it is counted, and answered by nothing).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import core.answer as answering
from benchmarks.common import git_commit, machine_info
from core.config import Settings, get_settings
from core.evaluate import Item, load_dataset, score_item, summarize
from knowledge.store import KnowledgeBase, Store


class ReplayedGenerator:
    """Stands in for the generator: streams the text it is given, and keeps the prompt it
    was asked (None until asked: a question refused before generation asks nothing)."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.prompt: str | None = None

    def stream(self, messages: list[dict[str, str]], max_new_tokens: int, model: Any = None,
               num_beams: int = 1) -> Iterator[str]:
        self.prompt = messages[-1]["content"]
        yield self.text

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@contextmanager
def models_replaced(generator: ReplayedGenerator) -> Iterator[None]:
    """The answering code with `generator` in place of every model: no model is loaded."""
    saved = answering.get_generator, answering.get_adapted_model
    answering.get_generator = lambda _settings: generator
    answering.get_adapted_model = lambda _settings, _adapter: None
    try:
        yield
    finally:
        answering.get_generator, answering.get_adapted_model = saved


def replay(report: dict[str, Any], kb_name: str, modes: list[str],
           settings: Settings | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The replayed summary per mode, and the items whose answer or refusal changed."""
    settings = settings or get_settings()
    kb = Store(settings).kb(kb_name)
    items = {item.id: item for item in load_dataset(report["dataset"])}
    generator = ReplayedGenerator()
    with models_replaced(generator):  # the adapter's text is in the report
        records, changed = _replay_items(report["items"], items, modes, kb, settings, generator)
    summary = {mode: summarize([r for r in records if r["mode"] == mode]) for mode in modes}
    return summary, changed


Records = list[dict[str, Any]]


def _replay_items(old_items: Records, items: dict[str, Item], modes: list[str], kb: KnowledgeBase,
                  settings: Settings, generator: ReplayedGenerator) -> tuple[Records, Records]:
    records, changed = [], []
    for old in old_items:
        if old["mode"] not in modes:
            continue
        generator.text = old["draft"] or ("" if old["refused"] else old["answer"])
        new = answering.answer(old["question"], mode=old["mode"], kb=kb, settings=settings, adapter="replayed")
        record = {"id": old["id"], "mode": old["mode"], "answer": new.text, "refused": new.refused,
                  "reason": new.reason, "sources": [s.to_dict() for s in new.sources],
                  "timings": new.timings, "seconds": new.timings.get("total", 0.0)}  # no generation in them
        record["scores"] = score_item(items[old["id"]], record)
        records.append(record)
        if (new.text, new.refused) != (old["answer"], old["refused"]):
            changed.append({"id": old["id"], "mode": old["mode"], "was": old["answer"], "now": new.text,
                            "reason": new.reason, "containment": [old["scores"]["containment"],
                                                                  record["scores"]["containment"]]})
    return records, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--kb", required=True)
    parser.add_argument("--modes", default="rag,hybrid")
    parser.add_argument("--json", dest="out")
    args = parser.parse_args(argv)
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    modes = [m for m in args.modes.split(",") if m in answering.RETRIEVAL_MODES and m != "plain"]
    summary, changed = replay(report, args.kb, modes)
    for mode, s in summary.items():
        figures = "  ".join(f"{k} {s[k]['mean']:.3f}" for k in ("containment", "f1", "em", "refusal_correct",
                                                                 "false_refusal") if k in s)
        print(f"{mode:8} n={s['n']}  {figures}")
    for c in changed:
        print(f"{c['mode']:7} {c['id']}: {c['was'][:70]!r} -> {c['now'][:70]!r} ({c['reason'][:90]})")
    print(f"{len(changed)} answers changed")
    if args.out:
        run = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": git_commit(),
               "machine": machine_info()}
        Path(args.out).write_text(json.dumps({"report": args.report, "summary": summary, "changed": changed,
                                              "settings": get_settings().describe(), "run": run},
                                             indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
