"""The parties a contract's opening names, and which of them a question does not.

"Who signed the Cooperation Agreement with JANA Partners?" is answered by the contract's
opening: "... by and between JANA Partners LLC ("JANA") and URS Corporation (the
"Company")". The 135M model often names the question's own party ("JANA Partners LLC"),
a signatory ("Matthew Ricciardi") or says "I don't know." although the opening is in its
passages (CUAD eval, hybrid: 18 of 41 such questions lost, 10 of them refused). Written by
hand: no library of ours parses contract preambles; the two patterns are narrow (a name
before its defined term, and the names around "between ... and ..." in the opening).
"""

from __future__ import annotations

import re

from core.defined_terms import _AFTER_NAME, _NAME_WORD, definitions
from core.text import DOCUMENT_NOUNS, STOPWORDS, words
from knowledge.store import KnowledgeBase

OPENING_CHARS = 2500  # a preamble is within a contract's first page: the first three 800-character chunks
# "by and between: A and B", "BETWEEN A AND B", "among the following parties: (a) A; (b) B; and (c) C",
# "B E T W E E N: A - and - B"
_BETWEEN = re.compile(r"\b(?:between|among|BETWEEN|AMONG|Between|Among|B E T W E E N)\b\s*:?\s*")
# ... and "BETWEEN: (1) A (the Company) (2) B (the Executive)": a number alone starts the next party
_SEPARATOR = re.compile(r"\s*(?:;|\band\b|\bAND\b|\bAnd\b)\s*:?\s*(?:\([a-z0-9]\)\s*)?|\s+\(\d\)\s+(?=[A-Z])")
_LEAD = re.compile(r"^(?:the following parties\s*:?\s*|\([a-z0-9]\)\s*|on the (?:one|other) hand,?\s*)+", re.I)
_MAX_NAME_WORDS = 8
# A name ends where its description starts (`_AFTER_NAME`) or at an address, in any case
# ("KALLO Inc.\n\nWith principal offices at ...").
_NAME_END = re.compile(r"(?i:,?\s+(?:with|having)\s+(?:its\s+)?(?:principal|registered|head)\s+(?:offices?|place))|"
                       + _AFTER_NAME.pattern)
# Words that say what kind of body a party is, not which one: "JANA Partners LLC" is the
# question's "JANA Partners".
LEGAL_FORMS = frozenset("""inc incorporated llc l.l.c ltd limited corporation corp company co lp l.p llp plc gmbh ag sa
s.a nv n.v bv b.v s.p.a pty s.r.l srl the""".split())
_LEGAL_FORM_END = re.compile(r"\b(?:Inc|Incorporated|LLC|L\.L\.C|Ltd|Limited|Corporation|Corp|LLP|PLC|GmbH|AG)\b\.?,?$")
_NOT_A_NAME = frozenset({"agreement", "this agreement", "the parties", "parties", "party", "exhibit",
                         "exchange commission", "securities and exchange commission", "commission"})
# A table of contents or a heading is no name ("CLAUSE PAGE", "ARTICLE I DEFINITIONS").
_HEADING_WORDS = frozenset("clause page section article table contents exhibit schedule definitions i ii iii".split())
# A date after a name ("Co., Ltd. November 1, 2011") is not part of it.
_TRAILING_MONTH = re.compile(r"(?:\s+(?:January|February|March|April|May|June|July|August|September|October|November"
                             r"|December|JANUARY|FEBRUARY|MARCH|APRIL|MAY|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER"
                             r"|DECEMBER))+$")


def _is_name(name: str) -> bool:
    """Not the contract or a title ("Supply Agreement"), a heading, the SEC, or one word in
    title case: a place ("Munich", "Wales") is written so before a party's term; a one-word
    party is in capitals ("WPP") or carries a legal form."""
    tokens = name.split()
    key = set(words(name)) - LEGAL_FORMS
    return bool(key) and name.lower() not in _NOT_A_NAME and not key <= _HEADING_WORDS and \
        tokens[-1].lower() != "agreement" and \
        not (len(tokens) == 1 and tokens[0][:1].isupper() and tokens[0][1:].islower())


def _names_between(text: str) -> list[str]:
    """The names around "between ... and ..." in the text, each cut where its description
    starts (", a Delaware corporation", an address, a defined term)."""
    match = _BETWEEN.search(text)
    if not match:
        return []
    names = []
    for piece in _SEPARATOR.split(text[match.end():match.end() + 600])[:4]:
        piece = _LEAD.sub("", piece.strip(" ,.:-"))
        end = _NAME_END.search(piece)
        tokens = (piece[:end.start()] if end else piece).split()
        run = next((n for n, t in enumerate(tokens) if not _NAME_WORD.match(t)), len(tokens))
        if run < len(tokens) <= _MAX_NAME_WORDS and _LEGAL_FORM_END.search(" ".join(tokens)):
            run = len(tokens)  # a legal form closes a name: "Petro data Management Services Limited"
        name = " ".join(tokens[:run]).strip(" ,;:")
        name = re.sub(r"(?:\s+(?:of|and|the|de|du))+$", "", name)
        if not piece:  # "...; and (c) ...": nothing between the two separators
            continue
        if not name or name[0].islower() or len(name.split()) > _MAX_NAME_WORDS:
            break  # past the parties: the sentence goes on about something else
        names.append(name)
        if run < len(tokens):  # "... CORPORATION acting through its division ...": the names ended
            break
    return names


def opening_parties(text: str) -> list[str]:
    """The parties an opening names, in order: names with a defined term ('URS Corporation
    (the "Company")') and the names around its first "between ... and ...". A name whose
    words another holds is left out ("Certegy" beside "Certegy Inc.")."""
    found = [name for _term, name in definitions(text).values()] + _names_between(text)
    parties: list[str] = []
    for name in found:
        name = _TRAILING_MONTH.sub("", name)
        key = set(words(name)) - LEGAL_FORMS
        if not _is_name(name):
            continue
        same = [p for p in parties if key <= set(words(p)) or set(words(p)) - LEGAL_FORMS <= key]
        if not same:
            parties.append(name)
        elif len(name) > len(same[0]) and key >= set(words(same[0])) - LEGAL_FORMS:
            parties[parties.index(same[0])] = name  # the fuller name: "Certegy Inc." for "CERTEGY"
    return parties


def question_parties(question: str) -> list[str]:
    """The parties a question about a titled document names around "between ... and ..."
    ("the Co-Hosting Agreement between Networks Associates and Software.net"); none when
    no document is named before "between" ("the fatality rate between November 2002 and
    July 2003")."""
    before, between, _ = question.partition(" between ")
    if not between or not DOCUMENT_NOUNS & set(words(before)):
        return []
    return [name for name in _names_between(question.rstrip("?. ")) if set(words(name)) - LEGAL_FORMS - STOPWORDS]


def is_asked(name: str, question: str) -> bool:
    """Whether the question names this party: more than half the name's words (legal forms
    aside) are among the question's words after its last "with" ("Who signed the Services
    Agreement with Federated Investment Management?" does not name Federated Advisory
    Services Company)."""
    key = set(words(name)) - LEGAL_FORMS - STOPWORDS
    asked = set(words(question.rsplit(" with ", 1)[-1]))
    return bool(key) and len(key & asked) * 2 > len(key)


def other_parties(text: str, question: str) -> list[str]:
    """The parties of an opening that the question does not name."""
    return [p for p in opening_parties(text) if not is_asked(p, question)]


def names_a_party(answer: str, parties: list[str]) -> bool:
    """Whether the answer names one of the parties (any of its distinctive words)."""
    said = set(words(answer))
    return any((set(words(p)) - LEGAL_FORMS - STOPWORDS) & said for p in parties)


_by_document: dict[str, str] = {}


def document_opening(kb: KnowledgeBase, doc_id: str) -> str:
    """About the first `OPENING_CHARS` of a document, its chunks read in order (their
    overlaps repeat a little text, which names nothing new). Cached by document id:
    ids are content hashes."""
    if doc_id not in _by_document:
        text = ""
        for chunk in kb.chunks_of(doc_id):
            if len(text) >= OPENING_CHARS:
                break
            text += chunk.text + "\n"
        _by_document[doc_id] = text
    return _by_document[doc_id]
