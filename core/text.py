"""Small text helpers shared by retrieval, citations and evaluation: words and sentences."""

from __future__ import annotations

import re
import string
import unicodedata

STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his
how i if in into is it its may might must of on or our she should so such than that the their them then there these
they this those to was we were what when where which who whom whose why will with would you your shall not no any
all about also just more most other some very""".split())
# Words that make a name a document's title ("the Collaboration Agreement", "the date of
# the Lease"): the focus rule and the document-date question both read them.
DOCUMENT_NOUNS = frozenset("agreement contract amendment addendum lease license licence deed memorandum letter "
                           "charter statute treaty policy".split())
_TOKEN = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
# A sentence ends at . ! ? ; before a capital or digit, at a blank line, or at a line
# break before a numbered/lettered item or a bullet ("- ", "• "). A line break before a
# capital ends one only after a short line that reads like a heading ("12. GOVERNING LAW"):
# PDF text breaks lines anywhere, and "the laws of the State of\nDelaware" is one sentence.
# A footnote mark set after a word's full stop ends the sentence too, and is dropped:
# "... fill such Vacancies.4\n3 No Person shall be a Senator ..." (a decimal's point follows a digit).
_SENTENCE_END = re.compile(r"(?<=[.!?;])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n\s*|\n(?=\s*\(?[a-z0-9]{1,3}[.)]\s)"
                           r"|(?<=[a-z][.!?])\d{1,2}\s+(?=[A-Z0-9])"
                           r"|(?:\A|\n)[ \t]*[-\u2022\u2013\u25aa\u25cf*][ \t]+")  # the bullet is no part of its item
_LINE_BEFORE_CAPITAL = re.compile(r"\n(?=\s*[A-Z])")
HEADING_CHARS = 40


def _heading_breaks(text: str) -> list[re.Match[str]]:
    """Line breaks before a capital that follow a heading-like line: short, and not
    ending in a comma or a word that needs a continuation ("of", "the", "and")."""
    breaks = []
    for match in _LINE_BEFORE_CAPITAL.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1:match.start()].strip()
        last = line.rsplit(None, 1)[-1].lower() if line else ""
        if line and len(line) <= HEADING_CHARS and not line.endswith((",", "-")) and last not in STOPWORDS:
            breaks.append(match)
    return breaks


def words(text: str) -> list[str]:
    """Lower-case word tokens; a typographic apostrophe is the plain one ("Reed’s" is the
    question's "Reed's")."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no single letters (single digits stay: the
    "4" of "4 years" is the answer)."""
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


QUESTION_WORDS_OF_TWO = frozenset({"how", "what", "which", "who"})  # "how many" asks otherwise than "how does"


def question_form(question: str) -> str:
    """What shape of answer a question asks for, by its opening words: the first word, or
    the first two after how/what/which/who ("why", "is", "how many", "what are")."""
    opening = words(question)[:2]
    return " ".join(opening if opening and opening[0] in QUESTION_WORDS_OF_TWO else opening[:1])


YES_NO_OPENERS = frozenset("is are was were do does did can could may might must shall should will would has have had "
                           "isn't aren't doesn't don't didn't can't won't".split())


def asks_yes_or_no(question: str) -> bool:
    """'Can Hydron assign the agreement?', 'Is there a minimum purchase requirement?': a
    question a small model answers "No" to as readily as "Yes"."""
    opening = words(question)[:1]
    return bool(opening) and opening[0] in YES_NO_OPENERS


# A contract writes a number twice, "one hundred and twenty (120) days": a line broken
# before the "(120)" is no list item.
_NUMBER_IN_FIGURES = re.compile(r"\s*\(\d+\)\s")


def _number_written_twice(text: str, match: re.Match[str]) -> bool:
    return bool(_NUMBER_IN_FIGURES.match(text, match.start())) and bool(
        NUMBER_WORD_AT_END.search(text, max(0, match.start() - 40), match.start()))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text, whitespace trimmed."""
    spans, start = [], 0
    ends = sorted(list(_SENTENCE_END.finditer(text)) + _heading_breaks(text), key=lambda m: m.start())
    for match in ends:
        if match.start() < start or _number_written_twice(text, match):  # inside a break taken; "twenty\n(20)"
            continue
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


# A clause or list label at a sentence's start: "(a) The Licensee", "2.1. Term", "3) Each",
# "9.6 No party", "4.5.1 Control of Tuberculosis", "(i) “IDIOCRACY” ...", and the US
# Constitution's bare clause numbers ("6 The Senate shall have ..."). A bare whole number
# counts only before a word no count precedes, so "15 States ratified it" keeps its number
# ("1.5 Million people" too).
_LABEL_WORDS = "The|No|Before|After|All|Each|Every|If|When|Whenever|Unless|In|Any|Neither|Nor|But|This|That|Such"
_ITEM_LABEL = re.compile(rf"^(?:\(?(?:\d{{1,3}}(?:\.\d{{1,3}})*|[a-z]{{1,4}}|[A-Z])[.)]|\(\d{{1,3}}\)"
                         rf"|\d{{1,3}}(?:\.\d{{1,3}})+(?!\s+(?:Million|Billion|Trillion|Thousand|Hundred)\b)|\d{{1,3}}(?=\s+(?:{_LABEL_WORDS})\b))\s+(?=[\"“‘']?[A-Z])")


# A scientific article's section names before its first sentence: "Abstract: INTRODUCTION: Since 2008 ...".
_SECTION_LABEL = re.compile(r"^(?:(?:abstract|background|introduction|objectives?|aims?|methods?|results?|findings|"
                            r"conclusions?|discussion|summary)\s*:\s*)+(?=\S)", re.I)


def drop_item_label(sentence: str) -> str:
    """A sentence shown as an answer without the label it is numbered or headed by in its
    document: "6 The Senate shall have the sole Power ..." -> "The Senate shall have the
    sole Power ...", "Abstract: Bats have been identified ..." -> "Bats have been identified ..."."""
    return _ITEM_LABEL.sub("", _SECTION_LABEL.sub("", sentence, count=1), count=1)


_ASCII_PUNCTUATION = frozenset(string.punctuation)  # SQuAD's set: "$", "+" and "|" are symbols, not punctuation


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation, no articles, single spaces), plus
    numbers in words as digits, so that "ninety days" and "90 days" are the same answer.
    Punctuation is any Unicode punctuation, as in MLQA's evaluation: contracts write
    "Papa John’s" with a typographic apostrophe where the gold answer has "Papa John's"."""
    text = number_words_to_digits(text).lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCTUATION and not unicodedata.category(ch).startswith("P"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
NUMBER_PAIR = re.compile(rf"\b({'|'.join(_TENS)})[ -]({'|'.join(_UNITS[1:10])})\b", re.I)
_SIMPLE = re.compile(rf"\b({'|'.join(sorted(NUMBER_WORDS, key=len, reverse=True))})\b", re.I)
# A number in words, one or two of them ("fourteen", "forty-five", "twenty one"), as a pattern to build on.
NUMBER_WORD = rf"\b(?:{'|'.join(sorted(NUMBER_WORDS, key=len, reverse=True))})(?:[ -](?:{'|'.join(NUMBER_WORDS)}))?\b"
NUMBER_WORD_AT_END = re.compile(NUMBER_WORD + r"\s*$", re.I)  # "thirty" before "(30)"


def number_words_to_digits(text: str) -> str:
    """'ninety days', 'forty-five' -> '90 days', '45': lets '90' in an answer match 'ninety'."""
    text = NUMBER_PAIR.sub(lambda m: str(NUMBER_WORDS[m.group(1).lower()] + NUMBER_WORDS[m.group(2).lower()]), text)
    return _SIMPLE.sub(lambda m: str(NUMBER_WORDS[m.group(1).lower()]), text)
