"""COVID-QA -> a folder of article text files plus question JSONL splits for `eval`/training.

    python -m benchmarks.prepare_covidqa [--src ../shared/datasets/covidqa/covidqa.json]
        [--out data/bench/covidqa] [--eval-size 200] [--seed 0]

Writes OUT/articles/covid_<document_id>.txt, OUT/eval.jsonl (held-out questions, plus
unanswerable questions from benchmarks/data/unanswerable.jsonl) and OUT/train.jsonl
(the remaining questions, for adapters). The split is by question, seeded.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="../shared/datasets/covidqa/covidqa.json")
    parser.add_argument("--out", default="data/bench/covidqa")
    parser.add_argument("--eval-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-unanswerable", action="store_true")
    args = parser.parse_args(argv)

    data = json.loads(Path(args.src).read_text(encoding="utf-8"))["data"]
    out = Path(args.out)
    (out / "articles").mkdir(parents=True, exist_ok=True)
    items = []
    for article in data:
        for paragraph in article["paragraphs"]:
            name = f"covid_{paragraph['document_id']}.txt"
            (out / "articles" / name).write_text(paragraph["context"], encoding="utf-8")
            for qa in paragraph["qas"]:
                answers = sorted({a["text"].strip() for a in qa["answers"] if a["text"].strip()})
                if answers and not qa.get("is_impossible"):
                    items.append({"id": f"covidqa-{qa['id']}", "question": qa["question"].strip(),
                                  "answers": answers, "answerable": True, "source": name})
    random.Random(args.seed).shuffle(items)
    held_out, train = items[: args.eval_size], items[args.eval_size:]
    if not args.no_unanswerable:
        held_out += [json.loads(line) for line in (HERE / "data" / "unanswerable.jsonl").read_text().splitlines()
                     if line.strip()]
    for name, rows in (("eval.jsonl", held_out), ("train.jsonl", train)):
        (out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(data)} articles -> {out / 'articles'}; {len(held_out)} eval questions "
          f"({args.eval_size} answerable), {len(train)} train questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
