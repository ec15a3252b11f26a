"""Which passages an answer rests on, and the sentence in each that supports it.

Deterministic and model-free: a small model's own "[2]" is a hint, not evidence. A
sentence supports an answer by the share of the answer's content words it contains
(plural 's' ignored); a passage is cited when its best sentence carries enough of them.
"""

from __future__ import annotations

import math
import re

from core.text import (
    DOCUMENT_NOUNS,
    NUMBER_PAIR,
    NUMBER_WORD,
    NUMBER_WORD_AT_END,
    STOPWORDS,
    content_words,
    number_words_to_digits,
    sentence_spans,
    words,
)

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


def term_coverage(query: str, sentences: list[str]) -> list[float]:
    """Per sentence, the IDF-weighted share of the query's content words it holds, IDF
    counted over these sentences: a word most of them share (the topic) weighs little,
    a rarer question word ("incubation", "governed") much. MiniLM alone ranks a sentence
    that is about the topic above the one that answers; the words decide between them.
    Written here because no library scores twenty sentences against one query cheaply."""
    wanted = stems(query)
    held = [stems(sentence) for sentence in sentences]
    if not wanted or not held:
        return [0.0 for _ in sentences]
    idf = {w: math.log(1 + len(held) / (1 + sum(w in h for h in held))) for w in wanted}
    # fsum: a set's order changes with PYTHONHASHSEED, and a plain float sum with it
    total = math.fsum(idf.values())
    return [math.fsum(idf[w] for w in wanted & h) / total for h in held]


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
# A span's tokens: a number in two words ("forty five") is one, as `stems` reads it in an answer.
_TOKEN = re.compile(rf"{NUMBER_PAIR.pattern}|{_WORD.pattern}", re.I)
_OPEN_CLOSE = {"(": ")", "[": "]", "\u201c": "\u201d", '"': '"'}


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
    tokens = list(_TOKEN.finditer(sentence))
    found = [n for n, m in enumerate(tokens) if stems(m.group()) & wanted]
    if not found:
        return "", 0.0
    matched = set().union(*(stems(tokens[n].group()) for n in found)) & wanted
    # Grow over neighbours the answer also says but the question does not ("E and [RdRp]",
    # "[in] Germany", "5 [days]"): short and stop words carry answers too.
    said, asked = set(words(number_words_to_digits(answer))), set(words(number_words_to_digits(question)))

    def extends(n: int) -> bool:  # a word the answer says, as it is or inflected, and the question does not
        parts = words(number_words_to_digits(tokens[n].group()))
        return bool(parts) and all((p in said and p not in asked) or (says(p, said) and not says(p, asked))
                                   for p in parts)

    def bridge(n: int, step: int) -> bool:  # "... within [the] population": a stop word between answer words
        parts = words(tokens[n].group())
        return (bool(parts) and set(parts) <= said & STOPWORDS and 0 <= n + step < len(tokens)
                and extends(n + step))

    answer_words = words(number_words_to_digits(answer))
    next_words = set(zip(answer_words, answer_words[1:]))

    def follows(n: int) -> bool:  # the sentence goes on in the answer's own next word ("their [physical] and")
        before, parts = words(number_words_to_digits(tokens[n - 1].group())), words(number_words_to_digits(
            tokens[n].group()))
        return bool(before and parts) and (before[-1], parts[0]) in next_words

    first, last = _shortest_window(found, [stems(tokens[n].group()) & matched for n in found], matched)
    while first > 0 and (extends(first - 1) or bridge(first - 1, -1)):
        first -= 1
    echoed = 0  # a head noun the question gave ("E and RdRp [genes]") closes the answer: at most two such words,
    coordinated = False  # unless a coordination the answer says goes on ("their physical [and mental stress levels]")
    while last + 1 < len(tokens):
        coordinated = follows(last + 1) and (coordinated or tokens[last + 1].group().lower() in ("and", "or"))
        if not (extends(last + 1) or bridge(last + 1, 1) or coordinated or (
                echoed < 2 and set(words(number_words_to_digits(tokens[last + 1].group()))) <= said - STOPWORDS)):
            break
        echoed += not (extends(last + 1) or bridge(last + 1, 1) or coordinated)
        last += 1
    last = _closed(tokens, first, last, said)
    start, end = tokens[first].start(), tokens[last].end()
    if sentence[end:end + 1] == "%":  # a word is letters and digits: "49.2" of "(49.2%)" keeps its sign
        end += 1
    start, end = _balanced(sentence, start, end)
    return " ".join(sentence[start:end].split()), len(matched) / len(wanted)


# Words a phrase cannot end on: "Research Quantities of", "prevention and", "incorporated in".
# Lower case only ("Party A" is a name); no particles ("switched on" is whole).
DANGLING = frozenset("of the a an and or to for in by with from between into at as than that which whose".split())


def _closed(tokens: list[re.Match[str]], first: int, last: int, said: set[str]) -> int:
    """The span's last token, moved off a word that needs a continuation: on to the head
    noun the answer names after it, across at most two stop words ("Research Quantities of
    [the Products]", where the question also says "products"), else back before it."""
    if tokens[last].group() in DANGLING:
        ahead = last + 1
        while ahead < len(tokens) and ahead - last <= 2 and tokens[ahead].group().lower() in STOPWORDS:
            ahead += 1
        if ahead < len(tokens) and set(words(number_words_to_digits(tokens[ahead].group()))) <= said - STOPWORDS:
            return ahead
    while last > first and tokens[last].group() in DANGLING:
        last -= 1
    return last


def _unmatched(span: str, open_: str, close: str) -> tuple[int, int]:
    """How many brackets `span` opens without closing, and closes without opening. Counted
    in order, not netted: "IL-1β), IL-6 ... (50" has one of each, and a net count of zero."""
    depth = unopened = 0
    for char in span:
        if char == open_:
            depth += 1
        elif char == close:
            if depth:
                depth -= 1
            else:
                unopened += 1
    return depth, unopened


_BRACKET_REACH = 80  # characters: a bracket further away than this is left as it is


def _matching(sentence: str, at: int, wanted: str, other: str, step: int) -> int | None:
    """Where the bracket `wanted` that balances the span stands, scanning from `at` by
    `step` (forward for a close, backward for an open) over nested pairs; None beyond reach."""
    depth = 0
    for n in range(at, at + step * _BRACKET_REACH, step):
        if not 0 <= n < len(sentence):
            return None
        if sentence[n] == other:
            depth += 1
        elif sentence[n] == wanted:
            if not depth:
                return n
            depth -= 1
    return None


def _balanced(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The span with the brackets and quotes it opens or closes completed from the
    sentence: "hemagglutinin (HA" -> "hemagglutinin (HA)", "(the “Sponsor" -> "(the
    “Sponsor”)", "Date”), by and between" -> "(the “Effective Date”), by and between", and
    "1) year" -> "one (1) year", as contracts write a number twice. Words are letters and
    digits, so a span that starts or ends inside brackets or quotes leaves half of them out.
    A bracket is completed within reach (`_BRACKET_REACH`), a straight quote only beside the span."""
    moved = True
    while moved:
        span, moved = sentence[start:end], False
        for open_, close in _OPEN_CLOSE.items():
            if open_ == close:  # a straight quote does not say which way it opens: only beside the span
                if span.count(open_) % 2 and sentence[end:end + 1] == close:
                    end, moved = end + 1, True
                elif span.count(open_) % 2 and start and sentence[start - 1] == open_:
                    start, moved = start - 1, True
                continue
            unclosed, unopened = _unmatched(span, open_, close)
            if unclosed and (found := _matching(sentence, end, close, open_, +1)) is not None:
                end, moved = found + 1, True
            elif unopened and (found := _matching(sentence, start - 1, open_, close, -1)) is not None:
                start, moved = found, True
    if re.match(r"\(\d+\)", sentence[start:end]) and (number := NUMBER_WORD_AT_END.search(sentence, 0, start)):
        start = number.start()
    return start, end


# Endings of one word's inflections ("isolat-ion" / "isolat-ing", "deliver-ed" / "deliver");
# a deliberately short list: "licens-or" and "licens-ee" are two parties, not one word.
INFLECTIONS = ("ations", "ation", "ings", "ing", "ions", "ion", "ed", "es", "e", "s")


def _bases(word: str) -> set[str]:
    """The word and what is left of it without each ending it has ("licensee" keeps its "e")."""
    return {word} | {word[: -len(end)] for end in INFLECTIONS
                     if word.endswith(end) and len(word) - len(end) >= 3 and not word.endswith("e" + end)}


def says(word: str, said: set[str]) -> bool:
    """Whether `said` holds `word` in some inflection."""
    return any(same_word(word, w) for w in said)


def same_word(a: str, b: str) -> bool:
    """One word in two inflections. A 135M model says "isolating" where the passage says
    "isolation"; its answer still begins at that word."""
    return _stem(a) == _stem(b) or (a.isalpha() and b.isalpha() and bool(_bases(a) & _bases(b)))


def _shortest_window(positions: list[int], found: list[set[str]], wanted: set[str]) -> tuple[int, int]:
    """The shortest run of token positions whose found words cover all of `wanted`."""
    best = (positions[0], positions[-1])
    for i in range(len(positions)):
        have: set[str] = set()
        for j in range(i, len(positions)):
            have |= found[j]
            if have >= wanted:
                if positions[j] - positions[i] < best[1] - best[0]:
                    best = (positions[i], positions[j])
                break
    return best


def cited_numbers(answer: str) -> set[int]:
    """Passage numbers the model wrote as [n]."""
    return {int(n) for n in CITE_MARK.findall(answer)}


# A passage number the model wrote ("[2]"), or an article's own references ("[19]", "[5, 6]",
# "[7-9]"), and the parenthesis such a reference leaves empty ("(reviewed in [19] )").
_REFERENCE = re.compile(r"\s*\[\d{1,3}(?:\s*[,\u2013-]\s*\d{1,3})*\](?:\s+(?=[,.;:]))?")  # "TIV [4, 9] , there"
_EMPTIED = re.compile(r"\s*\(\s*(?:(?:reviewed|see|cf\.|e\.g\.|refs?\.?)(?: in)?\s*)?\)", re.I)


def strip_citation_marks(answer: str) -> str:
    """The answer without reference marks: the model's passage numbers are shown as
    sources, and an article's numbers point into a bibliography the reader does not have."""
    without = _REFERENCE.sub("", answer)
    return (_EMPTIED.sub("", without) if without != answer else without).strip()


def unsupported_numbers(answer: str, context: str) -> list[str]:
    """Numbers in the answer that the passages never state (as digits or in words): a
    small model's favourite way to be wrong ("a Senator must be 18")."""
    stated = set(_NUMBER.findall(number_words_to_digits(context)))
    return [n for n in _NUMBER.findall(answer) if n not in stated and n.replace(",", "") not in stated]


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


# --- answer types ----------------------------------------------------------------------
# "How long ...?" wants a duration, "How many/much ...?" a number, "What is the date ...?"
# a date. A 135M model often answers the right passage with the wrong thing ("2019" for
# a renewal term); the question's own wording says what an answer must hold.

_TIME_UNIT = r"(?:second|minute|hour|day|week|month|quarter|year|decade|centur(?:y|ies))s?"
_DURATION = re.compile(rf"\b\d+(?:[.,]\d+)?\)?[\s-]*(?:(?:calendar|business|working|consecutive|full|additional)"
                       rf"[\s-]+)?{_TIME_UNIT}\b", re.I)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(rf"\b(?:1[5-9]\d\d|20\d\d)\b|\b\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}\b|\b{_MONTH}\s+\d{{1,2}}\b"
                   rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?{_MONTH}", re.I)
# A whole calendar date: "December 11, 2015", "11th day of December, 2015", "11/12/2019"; pypdf
# may leave a space before the comma ("1st day of JUNE , 2006").
_FULL_DATE = re.compile(rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\s*,?\s+(?:1[5-9]|20)\d\d\b"
                        rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?{_MONTH}\s*,?\s+(?:1[5-9]|20)\d\d\b"
                        rf"|\b\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:1[5-9]|20)?\d\d\b", re.I)
# A party: a company's name ("Inventec Appliances Corporation", "Mercata, Inc.") or a
# sentence that names the parties ("by and between ...").
_PARTY = re.compile(r"\b(?:Inc|INC|LLC|L\.L\.C|Ltd|LTD|Limited|LIMITED|Corporation|CORPORATION|Corp|CORP|COMPANY|LP"
                    r"|L\.P|LLP|PLC|plc|GmbH|AG|S\.A|N\.V|B\.V|S\.p\.A|Pty)\b|\bby and (?:between|among)\b")
_ASKS = {"duration": re.compile(r"\bhow long\b(?!\s+ago)|\bhow much (?:notice|time)\b", re.I),
         "number": re.compile(r"\bhow (?:many|much)\b", re.I),
         "date": re.compile(r"\b(?:what|which) (?:is |was )?the (?:\w+ )?date\b|\b(?:on|by) what date\b", re.I),
         "party": re.compile(r"\bwho (?:signed|are the parties|is the (?:other )?party)\b", re.I)}
_HOLDS = {"duration": _DURATION.search, "number": re.compile(r"\d").search, "date": _DATE.search,
          "party": _PARTY.search}


def expected_answer_type(question: str) -> str | None:
    """'duration', 'number', 'date' or 'party' when the question's wording asks for one, else None."""
    return next((kind for kind, asks in _ASKS.items() if asks.search(question)), None)


def has_answer_type(text: str, kind: str | None) -> bool:
    """Whether text holds an answer of that kind (numbers in words count: 'three years')."""
    return kind is None or bool(_HOLDS[kind](number_words_to_digits(text)))


# --- answer topics ---------------------------------------------------------------------
# A question about renewal is answered by a sentence that speaks of it; a duration from
# any other sentence ("the consecutive 12-month period" of a contract year, "within
# fifteen (15) days" of invoicing) is not a renewal term. Contracts say it in a few ways:
# of CUAD's `master_clauses.csv` clauses, 166 of 176 renewal terms and 101 of 111
# notices to stop a renewal hold one of these words (leaving out the 45 contracts of our
# eval set: 145 of 154 and 88 of 98).
_RENEWAL = (re.compile(r"\brenew", re.I), re.compile(r"\b(?:renew|extend|extension|successive|automatic)", re.I))
# A contract's end is stated with one of these words: 411 of the 418 expiration-date
# clauses of `master_clauses.csv` without our eval contracts. The date a contract's
# opening gives ("made and entered into as of this 1st day of January, 2000") is its start.
_EXPIRY = (re.compile(r"\bexpir", re.I),
           re.compile(r"\b(?:expir|terminat|conclu|until|through|end(?:s|ed|ing)?\b|term\b|continu|period|remain)",
                      re.I))
_TOPICS = {"renewal": _RENEWAL, "expiry": _EXPIRY}
# Topics whose sentences only go first in the context. A governing-law clause says
# "governed by" or "the laws of": 431 of the 437 annotated in `master_clauses.csv` (390 of
# 396 without the eval contracts). Other sentences name the same state ("the courts of
# Texas"), so an answer from them is not refused (CUAD train + dev: 7 right answers lost).
_CONTEXT_TOPICS = {"renewal": _RENEWAL,
                   "governing law": (re.compile(r"\blaws? govern|\bgoverning law\b|\bgoverned by\b", re.I),
                                     re.compile(r"\bgovern|\blaws? of\b", re.I))}


def _unstated(topics: dict[str, tuple[re.Pattern, re.Pattern]], question: str, sentence: str) -> str:
    return next((topic for topic, (asks, says) in topics.items()
                 if asks.search(question) and not says.search(sentence)), "")


def unstated_topic(question: str, sentence: str) -> str:
    """The topic the question asks about that the sentence never speaks of ("" if none):
    an answer from that sentence is refused."""
    return _unstated(_TOPICS, question, sentence)


# What a passage must hold to be the clause a topic question asks for: "govern..." and
# "law(s)" in one sentence (377 of the 437 governing-law clauses of `master_clauses.csv`;
# "the laws of" alone is also how a party's incorporation is stated), or "renew" (137 of
# the 176 renewal clauses). The wider renewal words ("automatic", "extend") brought an
# "automatic shelf registration" passage, and a quote from it, to absent renewal terms
# (`refusal_dev`, replay: rag and hybrid 0.965 -> 0.947 with them; train + dev: one
# notice period gained with them).
_TOPIC_CLAUSES = {"renewal": _RENEWAL[0],
                  "governing law": re.compile(r"\bgovern\w*\b[^.;]{0,80}\blaws?\b|\blaws?\b[^.;]{0,80}\bgovern", re.I)}


def topic_clause(question: str, text: str) -> bool | None:
    """Whether the text holds a clause of the topic the question asks about (renewal,
    governing law); None when the question asks about neither."""
    asked = [topic for topic, (asks, _) in _CONTEXT_TOPICS.items() if asks.search(question)]
    return any(_TOPIC_CLAUSES[topic].search(text) for topic in asked) if asked else None


def off_topic(question: str, sentence: str) -> bool:
    """Whether the sentence leaves out a topic the question asks about, renewal or
    governing law: such sentences go after those that speak of it in the context."""
    return bool(_unstated(_CONTEXT_TOPICS, question, sentence))


def whole_date(span: str, sentence: str) -> str:
    """The span widened to the whole date the sentence states around it: a small model
    shortens "the 11th day of December, 2015" to "December, 2015" or "2015" (CUAD eval:
    7 of the 13 dates the hybrid mode lost this way). The span itself when the sentence
    states no whole date that holds all its words."""
    wanted = set(words(span))
    for match in _FULL_DATE.finditer(sentence):
        if wanted and wanted <= set(words(match.group())) | {"the", "of", "day"}:
            return match.group()
    return span


# What bounds or qualifies a quantity is part of it: "up to 81%" is not "81%", "about 2.87
# million" not "2.87 million", "a mean of 5.8 days" not any one patient's 5.8 days.
_QUALIFIER = re.compile(r"(?:\b(?:about|around|approximately|roughly|nearly|almost|over|under|up to|at least|at most|"
                        r"(?:no|not|more|less|fewer) (?:more |less |fewer )?than|as (?:many|much|few|little) as|"
                        r"in excess of|(?:an?|the) (?:mean|median|average)(?: \w+)? of)|[<>≤≥~])\s*$", re.I)
# ... and so is its uncertainty: "3.87 [3.01-4.66]", "5.8 days (95% CI: 4.3-7.5)", "(IQR 3-7)".
# A bracket of whole numbers after a number is a citation ("5 days [2, 5]"), not a range.
_INTERVAL = re.compile(r"\s*[(\[](?=[^()\[\]]*(?:\bCI\b|\bIQR\b|\brange\b|\bSD\b|%|\d\.\d))[^()\[\]]*\d[^()\[\]]*[)\]]")
# A question that asks how often is answered by "every 2 to 4 years", not the duration "2 to 4 years".
_ASKS_FREQUENCY = re.compile(r"\bhow (?:often|frequently|regularly)\b|\bat what (?:interval|frequency)\b", re.I)
_FREQUENCY = re.compile(r"\b(?:once |twice )?every\s*$", re.I)
_ENDS_WITH_NUMBER = re.compile(r"\d%?(?:\s+[A-Za-z]+)?$")
# ... and so is the smaller unit that completes it: "14 euros and 20 cents" is not "14
# euros", "2 years and 6 months" not "2 years". Each unit, the smaller ones that can follow it.
_SMALLER_UNIT = {"euro": r"cents?", "dollar": r"cents?", "pound": r"pence|ounces?", "year": r"months?|weeks?|days?",
                 "month": r"weeks?|days?", "week": r"days?", "day": r"hours?", "hour": r"minutes?",
                 "minute": r"seconds?", "foot": r"inch(?:es)?", "feet": r"inch(?:es)?"}
_AMOUNT = rf"(?:\d[\d,.]*|{NUMBER_WORD})(?:\s*\(\d+\))?"  # 14, fourteen, forty-five, thirty (30)
_ENDS_WITH_UNIT = re.compile(_AMOUNT + r"\s+(?P<unit>" + "|".join(_SMALLER_UNIT) + r")s?$", re.I)
_SMALLER_AMOUNT = {unit: re.compile(rf",?\s+(?:and\s+)?{_AMOUNT}\s+(?:{smaller})\b", re.I)
                   for unit, smaller in _SMALLER_UNIT.items()}  # ", 20 minutes", " and twenty cents"
_SPACED_PERCENT = re.compile(r"\s?%")


def whole_quantity(span: str, sentence: str, question: str = "") -> str:
    """The span widened to the qualifier before its number, the interval after it and the
    smaller unit that completes it, as the sentence states them: a small model copies "2.87
    million" out of "about 2.87 million", "3.87" out of "3.87 [3.01-4.66]", "14 euros" out
    of "14 euros and 20 cents", "2 to 4 years" out of "every 2 to 4 years" when the question
    asks how often. The span itself when it does not start
    or end with a number, or the sentence does not hold it."""
    start = sentence.find(span)
    if not span or start < 0:
        return span
    end = start + len(span)
    if number_words_to_digits(span)[0].isdigit() and (qualifier := _QUALIFIER.search(sentence[:start])):
        start = qualifier.start()
    if number_words_to_digits(span)[0].isdigit() and _ASKS_FREQUENCY.search(question) and \
            (every := _FREQUENCY.search(sentence[:start])):
        start = every.start()
    if span[-1].isdigit() and (percent := _SPACED_PERCENT.match(sentence, end)):  # "2.5 %" as PDFs space it
        end = percent.end()
    if _ENDS_WITH_NUMBER.search(sentence[start:end]) and (interval := _INTERVAL.match(sentence, end)):
        end = interval.end()
    if (unit := _ENDS_WITH_UNIT.search(sentence[start:end])) and \
            (rest := _SMALLER_AMOUNT[unit.group("unit").lower()].match(sentence, end)):
        end = rest.end()
    return sentence[start:end]


# --- a contract's own date ------------------------------------------------------------
# "What is the date of the Supply Agreement between ...?" asks for the date the contract
# states in its opening ("made and entered into as of May 29, 2018"). Of the 377 CUAD
# contracts outside our eval set with an annotated agreement date, the first date written
# with a month's name in the first 3,000 characters is that date for 276; a date in
# digits there is more often the filing's ("Source: ..., 12/19/2017").
# Only the date of a document: "the date of the outbreak" is no contract's date.
_ASKS_DOCUMENT_DATE = re.compile(rf"\b(?:what|which) (?:is|was) the date of\b[^?]*?\b(?:{'|'.join(DOCUMENT_NOUNS)})\b",
                                 re.I)


def asks_document_date(question: str) -> bool:
    """Whether the question asks for the date of a document ("What is the date of the
    Supply Agreement ...?"; every CUAD date question names an agreement, a contract or an
    amendment)."""
    return bool(_ASKS_DOCUMENT_DATE.search(question))


def opening_date(text: str) -> str:
    """The first whole date written with a month's name in the text ("" if none)."""
    return next((m.group() for m in _FULL_DATE.finditer(text) if re.search(r"[A-Za-z]", m.group())), "")


def _date_key(date: str) -> tuple[str, str, str] | None:
    """(year, month's first three letters, day) of a date written with a month's name."""
    month = re.search(_MONTH, date, re.I)
    year = re.search(r"\b(?:1[5-9]|20)\d\d\b", date)
    day = re.search(r"\b\d{1,2}(?=st|nd|rd|th|\b)", date)
    return (year.group(), month.group()[:3].lower(), str(int(day.group()))) if month and year and day else None


def states_date(text: str, date: str) -> bool:
    """Whether the text states this date, in any of the ways contracts write one
    ("December 5, 2008", "5th day of December 2008")."""
    key = _date_key(date)
    return key is not None and any(_date_key(m.group()) == key for m in _FULL_DATE.finditer(text))


# --- notice periods --------------------------------------------------------------------
# "How much notice is needed to stop ... from renewing?" is answered by the duration a
# sentence gives as notice ("at least thirty (30) days prior to", "ninety (90) days'
# written notice"), not by the renewal term beside it ("renewed for additional one (1)
# year terms unless thirty (30) days prior ..."): CUAD eval, hybrid: 3 of 12 answered that way.
# Of CUAD's train and dev notice periods, each stated one is followed within a few words by
# one of these words, or follows "notice".
_ASKS_NOTICE = re.compile(r"\bhow much notice\b|\bnotice period\b", re.I)
_NOTICE_WORD = r"\b(?:prior|notice|before|advance|written|preceding)\b"
_NOTICE_AFTER = re.compile(rf"^\W*(?:\S+\s+){{0,4}}?\S*{_NOTICE_WORD}", re.I)
# Tighter, for telling a notice from a term: the notice word follows the duration at once
# ("ninety (90) days prior", "sixty (60) days' written notice"), where a term can be
# followed by one a few words on ("one (1) year terms unless written notice").
_NOTICE_NEXT = re.compile(rf"^\W*\S*{_NOTICE_WORD}", re.I)
_NOTICE_BEFORE = re.compile(r"\bnotice\b", re.I)
_NOTICE_WINDOW = 40  # characters


def _duration_key(match: re.Match[str]) -> tuple[str, str]:
    number = re.match(r"\d+(?:[.,]\d+)?", match.group()).group()
    unit = re.search(_TIME_UNIT, match.group(), re.I).group().lower().rstrip("s")
    return number, unit


def durations(text: str) -> set[tuple[str, str]]:
    """Every duration the text states, as (number, unit): "ninety (90) days" -> ("90", "day")."""
    return {_duration_key(m) for m in _DURATION.finditer(number_words_to_digits(text))}


def notice_durations(sentence: str, strict: bool = False) -> set[tuple[str, str]]:
    """The durations the sentence gives as notice, as (number, unit): ("30", "day").
    `strict`: only those a notice word follows at once (`_NOTICE_NEXT`)."""
    text = number_words_to_digits(sentence)
    after = _NOTICE_NEXT if strict else _NOTICE_AFTER
    return {_duration_key(m) for m in _DURATION.finditer(text)
            if after.search(text[m.end():m.end() + _NOTICE_WINDOW])
            or (not strict and _NOTICE_BEFORE.search(text[max(0, m.start() - _NOTICE_WINDOW):m.start()]))}


def unstated_notice(question: str, answer: str, sentence: str) -> bool:
    """Whether the question asks for a notice period and the answer's duration is not one
    the sentence gives as notice (an answer holding no duration is left to the answer
    type check). With `answer` empty: whether the sentence gives no notice period."""
    if not _ASKS_NOTICE.search(question):
        return False
    given = notice_durations(sentence)
    if not answer:
        return not given
    said = durations(answer)
    return bool(said) and not said & given


_ASKS_TERM = re.compile(r"\bhow long is (?:the|each) (?:\w+ )?term\b", re.I)


def notice_for_term(question: str, answer: str, sentence: str) -> bool:
    """Whether the question asks how long a term is and the answer's durations are all ones
    the sentence gives as notice: "How long is each renewal term ...?" answered "ninety (90)
    days" from "... renew for one (1) year unless notice is given ninety (90) days prior".
    Read strictly, with the notice word right after the duration: of the renewal clauses in
    CUAD's `master_clauses.csv` (our eval contracts left out) that marks 84 of 94 notice
    periods and 1 of 124 renewal terms ("30 days before the expiry", a notice itself)."""
    if not _ASKS_TERM.search(question) or _ASKS_NOTICE.search(question):
        return False
    said = durations(answer)
    return bool(said) and said <= notice_durations(sentence, strict=True)
