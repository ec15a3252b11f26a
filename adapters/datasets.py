"""Training data in one JSONL format that people can read and edit.

Each line: {"id", "question", "answer", "style": "qa"|"raft", "passages": [str, ...]
(raft only: what the model reads, numbered [1], [2] ... in the prompt), "source":
{"file", "page", "text"} (where the pair came from, shown as provenance)}.

Three sources: a Q&A file (JSONL or CSV with question/answer columns), pairs generated
from a knowledge base's chunks, and RAFT examples built on top of either: each question
with the passages our own retrieval finds for it (the oracle among distractors, or,
for a share of examples, without it), the target answer citing the oracle.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import Settings

if TYPE_CHECKING:
    from knowledge.chunking import Chunk


class TrainingDataError(Exception):
    """Bad rows, each named with its line number; nothing is dropped silently."""


@dataclass
class Example:
    question: str
    answer: str
    id: str = ""
    style: str = "qa"
    passages: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def read_qa_file(path: Path) -> list[Example]:
    """Q&A pairs from JSONL or CSV (`question`, `answer` columns; extra columns kept as source)."""
    from knowledge.loaders import IngestError, decode_text

    path = Path(path)
    try:
        text = decode_text(path.read_bytes())  # UTF-8, UTF-16 with a BOM, Latin-1 ...: as the loaders read text
    except OSError as exc:
        raise TrainingDataError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except IngestError as exc:
        raise TrainingDataError(f"{path.name}: {exc}") from None
    rows: list[tuple[int, Any]] = []
    errors: list[str] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"question", "answer"} <= {f.strip().lower() for f in reader.fieldnames}:
            raise TrainingDataError(f"{path.name}: the CSV needs 'question' and 'answer' columns "
                                    f"(found: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            rows.append((reader.line_num, {k.strip().lower(): v for k, v in row.items() if k}))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                errors.append(f"line {n}: not valid JSON ({exc.msg})")
    examples = []
    for n, row in rows:
        if not isinstance(row, dict):
            errors.append(f"line {n}: expected an object with question and answer")
            continue
        # "answers" (a list) is the evaluation format; its first answer is the target
        question, answer = str(row.get("question") or "").strip(), row.get("answer", row.get("answers"))
        if isinstance(answer, list):
            answer = answer[0] if answer else ""
        answer = str(answer or "").strip()
        missing = [k for k, v in (("question", question), ("answer", answer)) if not v]
        if missing:
            errors.append(f"line {n}: empty {' and '.join(missing)}")
            continue
        passages = row.get("passages") or []
        if not isinstance(passages, list) or not all(isinstance(p, str) for p in passages):
            errors.append(f"line {n}: 'passages' must be a list of strings")
            continue
        source = row.get("source") if isinstance(row.get("source"), dict) else (
            {"file": row["source"]} if row.get("source") else {})
        examples.append(Example(question, answer, str(row.get("id") or f"{path.stem}-{n}"),
                                str(row.get("style") or ("raft" if passages else "qa")), passages, source))
    if errors:
        raise TrainingDataError(f"{path.name}: {len(errors)} bad row(s): " + "; ".join(errors[:30])
                                + (" ..." if len(errors) > 30 else ""))
    if not examples:
        raise TrainingDataError(f"{path.name}: no question/answer pairs")
    return examples


QA_FILE_TYPES = (".jsonl", ".json", ".csv")


def save_upload(settings: Settings, name: str, data: bytes) -> Path:
    """Keep an uploaded Q&A file in DATA/uploads/training under a safe version of its
    name (never a path the name chooses: no folders, no control characters, 200
    characters at most), written atomically. Raises TrainingDataError for a file
    that is too large or not JSONL/CSV."""
    import tempfile

    from knowledge.loaders import safe_name

    clean = safe_name(name)
    if Path(clean).suffix.lower() not in QA_FILE_TYPES:
        raise TrainingDataError(f"{clean}: a Q&A file must be JSONL or CSV ({', '.join(QA_FILE_TYPES)})")
    if len(data) > settings.max_upload_bytes:
        raise TrainingDataError(f"{clean} is {len(data) / 2**20:.1f} MB; the limit is {settings.max_upload_mb:g} MB "
                                "(DOCENT_MAX_UPLOAD_MB)")
    folder = settings.uploads_dir / "training"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / clean
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", delete=False) as fh:
        fh.write(data)
    Path(fh.name).replace(target)
    return target


def write_examples(examples: Iterable[Example], path: Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [e.to_json() for e in examples]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


QUESTION_SYSTEM = "You write one question about the given sentence. The sentence must answer the question."
# Two worked examples: a 135M model copies their shape (and without them it does not ask).
QUESTION_SHOTS = [("The river is 40 km long.", "How long is the river?"),
                  ("Marie Curie won the Nobel Prize in 1911.", "When did Marie Curie win the Nobel Prize?")]


def question_messages(sentence: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": QUESTION_SYSTEM}]
    for shot, question in QUESTION_SHOTS:
        messages += [{"role": "user", "content": f"Sentence: {shot}"}, {"role": "assistant", "content": question}]
    return messages + [{"role": "user", "content": f"Sentence: {sentence}"}]


def _salient_sentence(text: str) -> str:
    """The sentence of a chunk most worth asking about: long enough, with facts (digits, names)."""
    from core.text import sentences

    candidates = [s for s in sentences(text) if 40 <= len(s) <= 300]
    if not candidates:
        return ""
    return max(candidates, key=lambda s: (bool(re.search(r"\d", s)) + sum(w[:1].isupper() for w in s.split()[1:])
                                          / 5 + min(len(s), 200) / 200))


def generate_from_kb(kb, settings: Settings, limit: int = 200, seed: int = 0,
                     progress: Callable[[int, int], None] | None = None) -> list[Example]:
    """Question/answer pairs drawn from a knowledge base's chunks: the configured
    generator (DOCENT_DATAGEN_MODEL, default the answer model) writes a question for a
    salient sentence; the sentence is the answer. Each pair keeps the chunk it came from."""
    from dataclasses import replace

    from core.citations import stems
    from core.models import get_generator

    gen_settings = replace(settings, generator_model=settings.datagen_model or settings.generator_model)
    generator = get_generator(gen_settings)
    committed = sorted(kb.committed_ids())
    chunks = [c for doc_id in committed for c in kb.chunks_of(doc_id)]
    random.Random(seed).shuffle(chunks)
    examples: list[Example] = []
    for chunk in chunks:
        if len(examples) >= limit:
            break
        sentence = _salient_sentence(chunk.text)
        if sentence:
            sentence = " ".join(sentence.split())
            question = "".join(generator.stream(question_messages(sentence), max_new_tokens=40)).strip()
            question = question.split("\n")[0]
            # keep questions that are about the sentence (they share a content word with it)
            if question.endswith("?") and 10 < len(question) < 200 and stems(question) & stems(sentence):
                examples.append(Example(question, sentence, f"{kb.name}-{chunk.id}", "qa", [],
                                        {"file": chunk.source, "page": chunk.page, "text": chunk.text,
                                         "chunk_id": chunk.id}))
        if progress:
            progress(min(len(examples), limit), limit)
    return examples


def make_raft(examples: list[Example], kb, settings: Settings, drop_oracle: float = 0.2,
              seed: int = 0, progress: Callable[[int, int], None] | None = None,
              oracle_sentence: bool = False, oracle_passage: bool = False, reason: bool = False) -> list[Example]:
    """RAFT examples: each question with the passages our retrieval gives it (the same
    sentence-level context the hybrid mode will read). The oracle is the passage that
    holds the answer; for a `drop_oracle` share of questions it is removed, and the
    target becomes "I don't know." Otherwise the target is the answer citing [n].
    When the oracle is retrieved but the sentences chosen from it miss the answer, the
    question is skipped, or with `oracle_sentence` the oracle's sentence that states
    the answer joins its chosen ones (as RAFT puts the oracle document in the context).
    When retrieval misses the oracle, the example says "I don't know.", or with
    `oracle_passage` the chunk of the example's source document that holds the answer
    takes a random place among the retrieved ones (RAFT's oracle among distractors).
    With `reason` each target quotes its sentence before the answer (`with_reason`)."""
    from core.answer import select_context
    from core.retrieval import Hit, Retriever
    from core.text import sentences

    rng = random.Random(seed)
    retriever = Retriever(kb, settings)
    # Many questions share a source document: its chunks are read once.
    document_chunks = functools.cache(lambda name: named_chunks(kb, name))
    out = []
    for n, ex in enumerate(examples):
        hits = retriever.search(ex.question)
        holds = [i for i, h in enumerate(hits) if passage_answer(ex.answer, h.chunk.text, ex.question)]
        if not holds and oracle_passage and hits and (oracle := source_chunk(ex, document_chunks)) is not None:
            at = rng.randrange(len(hits))
            hits = hits[:at] + [Hit(oracle, score=0.0)] + hits[at:-1]
            holds = [at]
        if holds and rng.random() < drop_oracle:
            hits = [h for i, h in enumerate(hits) if i not in holds]
            holds = []
        focus = retriever.named_document(ex.question) if settings.focus_documents else None
        context = select_context(retriever.topic(ex.question, focus) if focus else ex.question, hits, settings)
        cited = [(i, words) for i in holds if (words := passage_answer(ex.answer, context.passages[i], ex.question))]
        if not cited and holds and oracle_sentence:
            i = holds[0]
            stated = next((s for s in sentences(hits[i].chunk.text) if passage_answer(ex.answer, s, ex.question)), "")
            if stated:
                context.passages[i] = " ".join(p for p in (" ".join(stated.split()), context.passages[i]) if p)
                cited = [(i, passage_answer(ex.answer, context.passages[i], ex.question))]
        if cited:
            target = f"{cited[0][1]} [{cited[0][0] + 1}]"
        elif holds:  # the answer's passage is there but not the answer's words: skip, it would teach guessing
            continue
        else:
            target = IDK
        out.append(Example(ex.question, target, ex.id, "raft", context.passages, ex.source))
        if progress:
            progress(n + 1, len(examples))
    # Retrieval misses add "I don't know." targets beyond the dropped oracles: at most
    # `drop_oracle` of the examples keep it (the covid-raft adapter, trained with a 25% share,
    # said it to 29 of 60 COVID-QA dev questions, 19 of them with the answer in its passages).
    out = limit_no_oracle(out, max_share=drop_oracle, seed=seed)
    return [with_reason(e) for e in out] if reason else out


IDK = "I don't know."
REASON_MARK = "\nAnswer: "  # between the quoted sentence and the answer in a reasoned target
_CITED_TARGET = re.compile(r"^(?P<span>.+?) \[(?P<n>\d{1,2})\]$", re.S)


def with_reason(example: Example) -> Example:
    """A RAFT example whose target first quotes the passage sentence that states the
    answer, then gives it: "<sentence> [n]" + REASON_MARK + "<answer>" (RAFT's reasoning
    with quotes, Zhang et al. 2024): the model picks the sentence before cutting the
    answer out of it, and the quote is the evidence. "I don't know." stays as it is."""
    cited = cited_span(example.answer, example.passages)
    if example.answer == IDK or cited is None:
        return example
    span, n = cited
    stated = sentence_holding(example.passages[n - 1], span) or example.passages[n - 1]
    return replace(example, answer=f"{' '.join(stated.split())} [{n}]{REASON_MARK}{span}")


def cited_span(target: str, passages: list[str]) -> tuple[str, int] | None:
    """The span and passage number of a RAFT target that cites one of `passages`
    ("seven years [2]" -> ("seven years", 2)); None for "I don't know." or a bad number."""
    match = _CITED_TARGET.match(target)
    if not match or not 0 < int(match["n"]) <= len(passages):
        return None
    return match["span"], int(match["n"])


def sentence_holding(passage: str, span: str) -> str:
    """The first sentence of the passage that holds the span word for word ("" for none)."""
    from core.text import sentences

    return next((s for s in sentences(passage) if span in s), "")


# A question form is answered with whole sentences when at least this many training
# examples have it and at least half of their answers hold at least half of their sentence.
MIN_FORM_EXAMPLES = 10
SENTENCE_SHARE = 0.5


def sentence_forms(examples: Iterable[Example]) -> frozenset[str]:
    """The question forms (`core.text.question_form`) whose answers in these RAFT examples
    are mostly most of a sentence: a span cut from such a sentence is shorter than the
    answers the domain gives. COVID-QA's RAFT data: "why", "what are", "what do" (0.54-0.75
    of their answers hold half their sentence or more) against "what is" (0.44), "how
    many", "when" (0.11-0.14); CUAD's (names, dates, durations): no form."""
    from core.text import question_form, words

    shares: dict[str, list[float]] = {}
    for example in examples:
        quote, _, span = example.answer.partition(REASON_MARK)  # a reasoned target: "<sentence> [n]" + mark + span
        cited = cited_span(quote, example.passages)
        if cited is None:
            continue  # "I don't know.", or not a RAFT target
        span = span or cited[0]
        stated = sentence_holding(example.passages[cited[1] - 1], span)
        if stated:
            shares.setdefault(question_form(example.question), []).append(len(words(span)) / max(1, len(words(stated))))
    return frozenset(form for form, values in shares.items() if len(values) >= MIN_FORM_EXAMPLES
                     and sum(v >= SENTENCE_SHARE for v in values) >= SENTENCE_SHARE * len(values))


def named_chunks(kb, name: str) -> list[Chunk]:
    """The chunks of the document called `name` ([] when there is none, or several)."""
    from knowledge.store import KnowledgeBaseError

    try:
        return kb.chunks_of(kb.find(name).doc_id)
    except KnowledgeBaseError:
        return []


def source_chunk(example: Example, document_chunks: Callable[[str], list[Chunk]]) -> Chunk | None:
    """The chunk of the example's source document that holds its answer, or None (no
    source named, the document is not in the knowledge base, or no chunk holds it)."""
    name = example.source.get("file")
    if not name:
        return None
    return next((c for c in document_chunks(name) if passage_answer(example.answer, c.text, example.question)), None)


def passage_answer(answer: str, passage: str, question: str = "") -> str:
    """The answer as the passage states it: the answer itself when the passage contains it,
    else the passage's own words for it when one sentence holds all of the answer's words
    ("3 years" -> "three (3) years"), else "" (the passage does not hold the answer)."""
    from core.citations import answer_span
    from core.evaluate import contains
    from core.text import sentences

    if contains(passage, [answer]):
        return answer
    for sentence in sentences(passage):
        span, share = answer_span(answer, sentence, question)
        if share == 1.0 and len(span.split()) <= 2 * len(answer.split()) + 2:
            return span
    return ""


def limit_no_oracle(examples: list[Example], max_share: float, seed: int = 0) -> list[Example]:
    """Keep "I don't know." targets to at most `max_share` of the examples: retrieval
    misses add to the dropped oracles, and a model trained on too many refusals refuses."""
    know = [e for e in examples if e.answer != IDK]
    dont = [e for e in examples if e.answer == IDK]
    if max_share >= 1.0 or not know:
        return examples
    keep = int(max_share * len(know) / (1 - max_share))
    if len(dont) > keep:
        dont = random.Random(seed).sample(dont, keep)
        kept = {id(e) for e in know + dont}
        examples = [e for e in examples if id(e) in kept]
    return examples
