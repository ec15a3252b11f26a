"""CUAD -> legal questions about the contract PDFs in a knowledge base, split by contract.

    python -m benchmarks.prepare_cuad [--src ../shared/datasets/cuad] [--out data/bench/cuad]
        [--eval-contracts 45] [--dev-contracts 15] [--seed 0]

CUAD's `master_clauses.csv` has, per contract, the clause text spans of 41 categories and
a normalised `-Answer` column. We keep the categories whose answers are short facts
(governing law, agreement / effective / expiration date, initial and renewal term,
notice period to stop a renewal, the other party) and turn each into a question that
names the contract (its title and parties), because a knowledge base of 102 contracts
holds a dozen "Distribution Agreements" and retrieval has to find the right one.

Gold answers are the normalised answer written the ways a contract writes it ("October
1, 1999", "1st day of October, 1999", "five (5) years" -> "5 year" matches both "5
years" and "five (5) years" after normalisation) plus the annotated span when it is short.
`source` is the PDF file name as the knowledge base stores it (for source hit@k).

Unanswerable questions (about 10%): the same question types about CUAD contracts that
are *not* among the PDFs (the knowledge base cannot know them), and questions about a
clause the annotators marked absent in a contract that is there (no renewal term: the
correct answer is that the contract does not state one, i.e. a refusal).

Contracts are split into train / dev / eval, so adapters trained on `train.jsonl` never
see a dev or eval contract's questions. Writes OUT/{train,dev,eval}.jsonl, and
OUT/refusal_dev.jsonl: unanswerable questions only, for tuning refusals on more than
dev's six (about contracts that are not in the knowledge base and that no dev or eval
question names, and absent renewal terms of the train contracts).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import random
import re
from pathlib import Path

MONTHS = ("January February March April May June July August September October November December").split()
# Defined terms that name a role, not a party: useless for telling contracts apart.
ROLE_WORDS = {"company", "distributor", "customer", "licensee", "licensor", "supplier", "party", "parties", "you",
              "client", "consultant", "provider", "manufacturer", "reseller", "agent", "lender", "buyer", "seller",
              "affiliate", "partner", "investor", "issuer", "servicer", "depositor", "franchisee", "franchisor",
              "contractor", "vendor", "bank", "purchaser", "owner", "operator", "member", "shipper", "carrier",
              "developer", "producer", "publisher", "sponsor", "endorser", "marketing affiliate", "channel partner",
              "subsidiary", "trust", "underwriter"}
SUFFIX = re.compile(r"[,\s]+(inc|incorporated|llc|l\.l\.c|ltd|limited|corp|corporation|co|company|plc|s\.a|sa|"
                    r"ag|gmbh|b\.v|bv|n\.a|l\.p|lp|n\.v|s\.p\.a|pte|pty)\.?$", re.I)
SMALL_WORDS = {"and", "of", "the", "for", "on", "in", "to", "a", "an", "or", "with", "by"}


def file_key(name: str) -> str:
    """CSV file names and PDF names differ in case, '&' vs '_' and a stray quote: compare letters and digits."""
    name = re.sub(r"\.pdf'?$", "", name.strip(), flags=re.I)
    return re.sub(r"[^a-z0-9]", "", name.lower())


def title(text: str) -> str:
    """'CO-BRANDING AND SERVICES AGREEMENT' -> 'Co-Branding and Services Agreement' (mixed case is kept)."""
    text = re.sub(r",\s*\w?$", "", " ".join(text.split())).strip()
    if text != text.upper():
        return text
    words = []
    for i, word in enumerate(text.lower().split()):
        word = "-".join(p[:1].upper() + p[1:] for p in word.split("-"))
        words.append(word.lower() if i and word.lower() in SMALL_WORDS else word)
    return " ".join(words)


def spans(cell: str) -> list[str]:
    """The annotated clause spans of one cell (a Python list literal in the CSV)."""
    try:
        value = ast.literal_eval(cell or "[]")
    except (ValueError, SyntaxError):
        return []
    return [" ".join(str(v).split()) for v in value if str(v).strip()] if isinstance(value, list) else []


def parties(answer: str) -> list[tuple[str, list[str]]]:
    """'RSL COM PrimeCall, Inc. ("PrimeCall"); deltathree.com, Inc. ("DeltaThree")' ->
    [(full name, [short names])], without placeholders ('XXXX') or pure role names."""
    out = []
    for part in re.split(r";", answer or ""):
        part = " ".join(part.split())
        shorts = [s.strip() for s in re.findall(r"[\"“]([^\"”]{2,40})[\"”]", part)]
        name = re.split(r"\s*\(|[\"“]", part)[0].strip(" ,.;")
        if (not name or "XXX" in name.upper() or name.lower() in ROLE_WORDS or len(name) < 3
                or re.search(r"\b(collectively|referred|shall)\b", name, re.I) or re.fullmatch(r"\w+ and \w+", name)):
            continue
        if re.search(r"\b(collectively|together|individually|referred)\b", part, re.I) and not shorts:
            continue
        name = re.sub(r"\s+and its affiliates$", "", name, flags=re.I)
        shorts = [s for s in shorts if is_name(s)]
        out.append((name, shorts))
    return out


def is_name(short: str) -> bool:
    """A defined short name that names a party ('PrimeCall'), not a role ('Marketing Agent') or a phrase."""
    words = short.lower().split()
    return (0 < len(words) <= 4 and short.lower() not in ROLE_WORDS and words[-1].rstrip("s") not in ROLE_WORDS
            and words[-1] not in {"agent", "agents", "custodian", "trustee"} and words[0] not in {"the", "party"}
            and not {"and", "collectively", "referred", "each"} & set(words))


def core_name(name: str) -> str:
    """'deltathree.com, Inc.' -> 'deltathree.com'; all-capitals names in title case."""
    while (stripped := SUFFIX.sub("", name).strip(" ,")) != name and stripped:
        name = stripped
    return title(name) if name.isupper() else name


def parse_date(text: str) -> tuple[int, int, int] | None:
    """'10/1/99' -> (1999, 10, 1); two-digit years below 40 are 20xx."""
    match = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\s*", text or "")
    if not match:
        return None
    month, day, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if year < 100:
        year += 2000 if year < 40 else 1900
    return (year, month, day) if 1 <= month <= 12 and 1 <= day <= 31 else None


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def date_variants(date: tuple[int, int, int]) -> list[str]:
    """The ways contracts write a date (normalisation drops commas and case)."""
    year, month, day = date
    name = MONTHS[month - 1]
    return [f"{name} {day}, {year}", f"{day} {name} {year}", f"{name} {ordinal(day)}, {year}",
            f"{ordinal(day)} day of {name}, {year}", f"{ordinal(day)} of {name} {year}", f"{month}/{day}/{year}",
            f"{year}-{month:02d}-{day:02d}"]


NUMBER_WORD = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
               10: "ten", 12: "twelve", 15: "fifteen", 18: "eighteen", 24: "twenty-four", 30: "thirty",
               36: "thirty-six", 45: "forty-five", 60: "sixty", 90: "ninety"}
UNITS = {"day": "day", "days": "day", "month": "month", "months": "month", "year": "year", "years": "year",
         "week": "week", "weeks": "week"}


def duration(text: str) -> tuple[int, str] | None:
    """'successive 5 years' / 'three (3) years' / '60 days' -> (5, 'year'); None for several or odd values."""
    found = {(int(n), UNITS[u.lower()]) for n, u in re.findall(r"(\d+)\)?\s*-?\s*([A-Za-z]+)", text or "")
             if u.lower() in UNITS}
    return next(iter(found)) if len(found) == 1 else None


def duration_variants(n: int, unit: str) -> list[str]:
    """'5 year' is inside the normalised '5 years', 'five (5) years' (-> '5 5 years') and '5-year'."""
    out = [f"{n} {unit}"]
    if n in NUMBER_WORD:
        out.append(f"{NUMBER_WORD[n]} ({n}) {unit}s" if n > 1 else f"one ({n}) {unit}")
    return out


def as_written(variants: list[str], written: list[str]) -> str:
    """The variant the contract itself uses ('22nd day of August, 2005'), for training targets."""
    from core.text import normalize_answer

    text = normalize_answer(" ".join(written))
    return next((v for v in variants if normalize_answer(v) in text), variants[0])


def plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'s' if n != 1 else ''}"


def short_span(values: list[str], max_words: int = 12) -> list[str]:
    return [v.strip(" .;") for v in values if len(v.split()) <= max_words]


def contract_label(row: dict[str, str]) -> tuple[str, list[tuple[str, list[str]]]]:
    """'the Co-Branding and Services Agreement between RSL COM PrimeCall and deltathree.com'."""
    name = title(row["Document Name-Answer"] or "agreement").strip(" ,;:(")
    if not re.search(r"\b(agreement|contract|license|licence|amendment|plan|memorandum|terms)\b", name, re.I):
        name = f"{name} agreement"
    people = parties(row["Parties-Answer"])
    if " between " in f" {name.lower()} ":  # 'Amendment to the Distributor Agreement Between Ingram Micro and Netgear'
        return f"the {name}", people
    names = [core_name(p[0]) for p in people[:2]]
    if len(names) == 2 and names[0] != names[1]:
        return f"the {name} between {names[0]} and {names[1]}", people
    if names:
        return f"the {name} of {names[0]}", people
    return f"the {name}", people


def questions_for(row: dict[str, str], label: str, people: list[tuple[str, list[str]]]) -> list[dict]:
    """The answerable questions one contract gives (each with its kind)."""
    out: list[dict] = []

    def add(kind: str, question: str, answers: list[str], target: str = "") -> None:
        # Very short golds ('URS', 'IAC') would be found inside unrelated words: left out.
        answers = list(dict.fromkeys(a.strip() for a in answers if a and len(a.strip()) >= 4))
        if answers:  # `answer`: the one fluent answer adapters are trained to give
            out.append({"kind": kind, "question": question, "answers": answers, "answer": target or answers[0]})

    law = row.get("Governing Law-Answer") or ""
    if law.strip() and law.strip() != "[]":
        places = [p.strip() for p in law.split(";") if p.strip()]
        answers = [re.sub(r"^(the )?(state|province|commonwealth) of ", "", p.split(",")[0], flags=re.I).strip()
                   for p in places] + places
        add("governing_law", f"Which state's or country's law governs {label}?", answers)

    agreement = parse_date(row.get("Agreement Date-Answer") or "")
    if agreement:
        written = spans(row.get("Agreement Date", ""))
        add("agreement_date", f"What is the date of {label}?",
            date_variants(agreement) + short_span(written), as_written(date_variants(agreement), written))
    effective = parse_date(row.get("Effective Date-Answer") or "")
    if effective and effective != agreement:
        written = spans(row.get("Effective Date", ""))
        add("effective_date", f"On what date does {label} become effective?",
            date_variants(effective) + short_span(written, 8), as_written(date_variants(effective), written))

    expiry_text = " ".join(spans(row.get("Expiration Date", "")))
    expiry = parse_date(row.get("Expiration Date-Answer") or "")
    term = duration(re.sub(r"\b\d+\s*(?:days?|months?)\s+(?:prior|before|notice|written)", "", expiry_text))
    if expiry and any(v.lower().replace(",", "") in expiry_text.lower().replace(",", "")
                      for v in date_variants(expiry)[:4]):
        add("expiration_date", f"On what date does {label} expire?", date_variants(expiry))
    elif term and re.search(r"\b(term|period|continue|remain|effect|expire)", expiry_text, re.I):
        add("initial_term", f"How long is the initial term of {label}?", duration_variants(*term), plural(*term))

    renewal_answer = row.get("Renewal Term-Answer") or ""
    renewal = duration(renewal_answer) if ";" not in renewal_answer else None
    if renewal and not re.search(r"perpetual|\[\]", renewal_answer, re.I):
        add("renewal_term", f"How long is each renewal term of {label}?", duration_variants(*renewal),
            plural(*renewal))

    notice_answer = row.get("Notice Period To Terminate Renewal- Answer") or ""
    notice = duration(notice_answer) if ";" not in notice_answer and "/" not in notice_answer else None
    if notice:
        add("notice_period", f"How much notice is needed to stop {label} from renewing?",
            duration_variants(*notice), plural(*notice))

    if len(people) >= 2:
        first, others = core_name(people[0][0]), people[1:]
        document = label.split(" between ")[0] if " between " in label else label.split(" of ")[0]
        answers = [n for name, shorts in others for n in (name, core_name(name), *shorts) if n.lower() != first.lower()]
        add("other_party", f"Who signed {document} with {first}?", answers, core_name(others[0][0]))
    return out


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return [{k.strip(): (v or "") for k, v in row.items()} for row in csv.DictReader(fh)]


def unanswerable_absent(row: dict[str, str], label: str, pdf: str) -> dict | None:
    """A clause the annotators found absent in a contract we have: its correct answer is a refusal."""
    if not spans(row.get("Renewal Term", "")) and not spans(row.get("Notice Period To Terminate Renewal", "")):
        return {"kind": "absent_renewal_term", "question": f"How long is each renewal term of {label}?",
                "answers": [], "answerable": False, "source": pdf}
    return None


def outside_question(row: dict[str, str], rng: random.Random, prefix: str) -> dict | None:
    """One question about a contract that is not in the knowledge base (so unanswerable),
    or None when it gives none that names both parties."""
    label, people = contract_label(row)
    named = [q for q in questions_for(row, label, people) if q["kind"] != "other_party"]  # these name both parties
    if not named or " between " not in label:
        return None
    q = rng.choice(named)
    return {"id": f"{prefix}-outside-{file_key(row['Filename'])[:24]}-{q['kind']}", "kind": "not_in_kb_" + q["kind"],
            "question": q["question"], "answers": [], "answerable": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="../shared/datasets/cuad")
    parser.add_argument("--out", default="data/bench/cuad")
    parser.add_argument("--eval-contracts", type=int, default=45)
    parser.add_argument("--dev-contracts", type=int, default=15)
    parser.add_argument("--unanswerable-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refusal-dev-outside", type=int, default=30,
                        help="questions about contracts not in the knowledge base in refusal_dev.jsonl")
    args = parser.parse_args(argv)

    src = Path(args.src)
    pdfs = {file_key(p.name): p.name for p in (src / "contracts_pdf").iterdir() if p.suffix.lower() == ".pdf"}
    rows = read_rows(src / "master_clauses.csv")
    ours = [r for r in rows if file_key(r["Filename"]) in pdfs]
    others = [r for r in rows if file_key(r["Filename"]) not in pdfs]
    rng = random.Random(args.seed)
    rng.shuffle(ours)
    n_eval, n_dev = args.eval_contracts, args.dev_contracts
    groups = {"eval": ours[:n_eval], "dev": ours[n_eval:n_eval + n_dev], "train": ours[n_eval + n_dev:]}
    # Contracts that are not in the knowledge base, for "not in the KB" questions: named the same way.
    rng.shuffle(others)
    outside = iter(others)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, contracts in groups.items():
        items, absent = [], []
        for row in contracts:
            pdf = pdfs[file_key(row["Filename"])]
            label, people = contract_label(row)
            for q in questions_for(row, label, people):
                items.append({"id": f"cuad-{split}-{file_key(pdf)[:24]}-{q['kind']}", **q, "answerable": True,
                              "source": pdf})
            if (a := unanswerable_absent(row, label, pdf)) is not None:
                absent.append({"id": f"cuad-{split}-{file_key(pdf)[:24]}-{a['kind']}", **a})
        if split != "train":
            n_none = max(1, round(args.unanswerable_share * len(items) / (1 - args.unanswerable_share)))
            n_absent = min(len(absent), n_none // 3)
            none = rng.sample(absent, n_absent)
            while len(none) < n_none:
                if (q := outside_question(next(outside), rng, f"cuad-{split}")) is not None:
                    none.append(q)
            rng.shuffle(items)
            rng.shuffle(none)
            # Spread the unanswerable questions through the file so that `eval --limit N` gets some.
            step = max(1, len(items) // len(none))
            merged = []
            for i, item in enumerate(items):
                merged.append(item)
                if (i + 1) % step == 0 and none:
                    merged.append(none.pop())
            items = merged + none
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items),
                                            encoding="utf-8")
        kinds: dict[str, int] = {}
        for r in items:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        print(f"{split}: {len(contracts)} contracts, {len(items)} questions "
              f"({sum(not r['answerable'] for r in items)} unanswerable): {kinds}")
    # After the other splits, from the contracts not used yet, so those stay as they were.
    refusals = []
    for row in outside:
        if len(refusals) >= args.refusal_dev_outside:
            break
        if (q := outside_question(row, rng, "cuad-refusal")) is not None:
            refusals.append(q)
    for row in groups["train"]:
        pdf = pdfs[file_key(row["Filename"])]
        if (a := unanswerable_absent(row, contract_label(row)[0], pdf)) is not None:
            refusals.append({"id": f"cuad-refusal-{file_key(pdf)[:24]}-{a['kind']}", **a})
    (out / "refusal_dev.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in refusals),
                                           encoding="utf-8")
    print(f"refusal_dev: {len(refusals)} unanswerable questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
