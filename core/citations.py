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
