"""Which passages an answer rests on, and the sentence in each that supports it.

Deterministic and model-free: a small model's own "[2]" is a hint, not evidence. A
sentence supports an answer by the share of the answer's content words it contains
(plural 's' ignored); a passage is cited when its best sentence carries enough of them.
"""

from __future__ import annotations

import re

from core.text import content_words, number_words_to_digits, sentence_spans

CITE_MARK = re.compile(r"\[(\d{1,2})\]")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def stems(text: str) -> set[str]:
    return {_stem(w) for w in content_words(number_words_to_digits(text))}


def support(answer: str, text: str, question: str = "") -> float:
    """Share of the answer's content words that appear in text (0 when the answer has
    none). Words the answer only echoes from the question prove nothing and are left out."""
    wanted = stems(answer)
    new = wanted - stems(question)
    wanted = new or wanted
    if not wanted:
        return 0.0
    return len(wanted & stems(text)) / len(wanted)


def best_sentence(answer: str, passage: str, question: str = "") -> tuple[str, float, tuple[int, int]]:
    """The passage sentence that best supports the answer (ties go to the earlier one);
    the question breaks ties when the answer is too short to decide."""
    best = ("", -1.0, (0, 0))
    for start, end in sentence_spans(passage):
        sentence = passage[start:end]
        score = support(answer, sentence, question) + 0.01 * support(question, sentence)
        if score > best[1]:
            best = (sentence, score, (start, end))
    return best[0], max(best[1], 0.0), best[2]


_WORD = re.compile(r"[A-Za-z0-9]+(?:[.'\-][A-Za-z0-9]+)*")
_OPEN_CLOSE = {"(": ")", "[": "]"}


def answer_span(answer: str, sentence: str, question: str = "") -> tuple[str, float]:
    """The words of `sentence` that state the answer: the shortest stretch from the first
    to the last sentence word that the answer brings (words it only echoes from the
    question are left out), and the share of those answer words the sentence holds.

    A 135M model paraphrases, drops words and adds its own; the passage's own words are
    what the reader can check, so a supported answer is shown in them (extractive)."""
    wanted = stems(answer)
    wanted = (wanted - stems(question)) or wanted
    if not wanted:
        return "", 0.0
    found = [(m.start(), m.end()) for m in _WORD.finditer(sentence) if stems(m.group()) & wanted]
    matched = set().union(*(stems(sentence[s:e]) for s, e in found)) & wanted if found else set()
    if not found:
        return "", 0.0
    start, end = found[0][0], found[-1][1]
    span = sentence[start:end]
    for open_, close in _OPEN_CLOSE.items():  # "hemagglutinin (HA" -> "hemagglutinin (HA)"
        if span.count(open_) > span.count(close) and sentence[end:end + 1] == close:
            end += 1
            span = sentence[start:end]
    return " ".join(span.split()), len(matched) / len(wanted)


def cited_numbers(answer: str) -> set[int]:
    """Passage numbers the model wrote as [n]."""
    return {int(n) for n in CITE_MARK.findall(answer)}


def strip_citation_marks(answer: str) -> str:
    return re.sub(r"\s*\[\d{1,2}\]", "", answer).strip()


def unsupported_numbers(answer: str, context: str) -> list[str]:
    """Numbers in the answer that the passages never state (as digits or in words): a
    small model's favourite way to be wrong ("a Senator must be 18")."""
    stated = set(_NUMBER.findall(number_words_to_digits(context)))
    return [n for n in _NUMBER.findall(answer) if n not in stated and n.replace(",", "") not in stated]


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
