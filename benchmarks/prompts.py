"""The prompt each question of a dataset gets, without a model run: which questions does a
change to retrieval, sentences or context alter?

    python -m benchmarks.prompts DATASET.jsonl --kb KB --json OUT.json [--against BEFORE.json]

The rag path runs as in `eval` up to the generator, which records the prompt and answers
"I don't know." (hybrid reads the same context, in its adapter's prompt). Run it with the
code before a change and after, `--against` the first: the questions whose prompt differs
need new generations; for the rest `benchmarks.replay` measures the change exactly.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import core.answer as answering
from benchmarks.replay import ReplayedGenerator, models_replaced
from core.config import Settings, get_settings
from core.evaluate import load_dataset
from knowledge.store import Store


def prompts(dataset: Path, kb_name: str, settings: Settings) -> dict[str, str | None]:
    """Question id -> the prompt rag gives the model (None: refused before generation)."""
    kb = Store(settings).kb(kb_name)
    generator = ReplayedGenerator("I don't know.")
    out = {}
    with models_replaced(generator):
        for item in load_dataset(dataset):
            generator.prompt = None
            answering.answer(item.question, mode="rag", kb=kb, settings=settings)
            out[item.id] = generator.prompt
    return out


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--kb", required=True)
    parser.add_argument("--json", dest="out", type=Path, required=True)
    parser.add_argument("--against", type=Path, help="prompts written by the code before a change")
    args = parser.parse_args(argv)
    now = prompts(args.dataset, args.kb, settings or get_settings())
    args.out.write_text(json.dumps(now, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"{len(now)} prompts -> {args.out}")
    if args.against:
        before = json.loads(args.against.read_text(encoding="utf-8"))
        changed = [key for key in now if before.get(key, "") != now[key]]
        print(f"{len(changed)} of {len(now)} prompts differ: {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
