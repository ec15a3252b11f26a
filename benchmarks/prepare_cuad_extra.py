"""More CUAD training questions, from contracts that are not in the evaluation's knowledge base.

    python -m benchmarks.prepare_cuad_extra [--src ../shared/datasets/cuad] [--out data/bench/cuad]
        [--contracts 80] [--seed 0]

`prepare_cuad` asks about the 102 contract PDFs of the knowledge base; its train split
has 156 questions from 42 contracts, and a RAFT adapter made from them saw 112 examples.
CUAD annotates 408 more contracts (text only). This writes questions about `--contracts`
of them, the same question types built the same way (`prepare_cuad.questions_for`), to
OUT/extra_train.jsonl, and their texts to OUT/extra_contracts/, for a knowledge base of
their own (`core ingest OUT/extra_contracts --kb cuad-extra`): RAFT examples then read
passages retrieved among other contracts, as the hybrid mode does.

No contract that an eval, dev or `refusal_dev` question names is used: the unanswerable
questions of those sets ask about contracts outside the knowledge base, and an adapter
that had learnt one of them could answer what should be refused.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import Counter
from pathlib import Path

from benchmarks.prepare_cuad import contract_label, file_key, questions_for, read_rows


def named_contracts(paths: list[Path]) -> set[str]:
    """The file keys (first 24 characters, as in the question ids) of the contracts the
    questions of these sets are about, answerable or not."""
    keys = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                keys.add(json.loads(line)["id"].split("-")[-2])
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="../shared/datasets/cuad")
    parser.add_argument("--out", default="data/bench/cuad")
    parser.add_argument("--contracts", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    src, out = Path(args.src), Path(args.out)
    pdfs = {file_key(p.name) for p in (src / "contracts_pdf").iterdir() if p.suffix.lower() == ".pdf"}
    texts = {file_key(p.name.removesuffix(".txt")): p for p in (src / "contracts_txt").iterdir()
             if p.suffix == ".txt"}
    taken = named_contracts([out / f"{split}.jsonl" for split in ("eval", "dev", "refusal_dev")])
    rows = [r for r in read_rows(src / "master_clauses.csv")
            if file_key(r["Filename"]) not in pdfs and file_key(r["Filename"]) in texts
            and file_key(r["Filename"])[:24] not in taken]
    rows.sort(key=lambda r: r["Filename"])
    random.Random(args.seed).shuffle(rows)
    folder = out / "extra_contracts"
    folder.mkdir(parents=True, exist_ok=True)
    items, used = [], 0
    for row in rows:
        if used >= args.contracts:
            break
        label, people = contract_label(row)
        questions = questions_for(row, label, people)
        if not questions:
            continue
        text = texts[file_key(row["Filename"])]
        shutil.copyfile(text, folder / text.name)
        used += 1
        for q in questions:
            items.append({"id": f"cuad-extra-{file_key(row['Filename'])[:24]}-{q['kind']}", **q, "answerable": True,
                          "source": text.name})
    (out / "extra_train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items),
                                           encoding="utf-8")
    kinds = Counter(r["kind"] for r in items)
    print(f"extra_train: {used} contracts ({len(taken)} named by eval, dev or refusal_dev left out), "
          f"{len(items)} questions: {dict(kinds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
