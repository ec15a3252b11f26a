"""The names a contract's defined terms stand for: 'Inventec Appliances Corporation, having
principal offices at ... ("IAC")' defines "IAC".

A small model asked "Who signed the Manufacturing Agreement with Sonos?" answers with the
contract's own shorthand: "IAC", "the Company", "Sponsor". Those are right but useless to a
reader who did not read the preamble, and a party's role is not its name. Written by hand:
no library of ours parses contract definitions, and the pattern is narrow (a parenthesis
holding a quoted term, after the name it stands for).
"""

from __future__ import annotations

import re

from core.text import STOPWORDS, words
from knowledge.store import KnowledgeBase

# ("IAC"), (the "Company"), (this "Agreement"), (hereinafter referred to as "Licensee"), (each a "Party")
_DEFINITION = re.compile(r"\(\s*(?:the\s+|this\s+|hereinafter\s+(?:referred\s+to\s+as\s+|called\s+)?(?:the\s+)?)?"
                         r"[“\"']\s*([A-Za-z][\w&.\- ]{0,38}?)\s*[”\"']\s*\)")
# The name follows the last of these before the definition ("by and between Sonos, Inc., ...",
# "and (2) Establishment Labs, S.A ...").
_BEFORE_NAME = re.compile(r"(?:\bbetween|\bamong|\band|\bby|\bwith|:|;)\s+(?:\(\w{1,2}\)\s*)?(?=[A-Z0-9])")
# ... and ends where its description starts: ", a Delaware corporation", ", having ...", an address.
_AFTER_NAME = re.compile(r",?\s+(?:a|an|having|with|whose|located|organized|incorporated|existing|c/o)\b|,\s*\d"
                         r"|\s*\(|\s+\d")
# A name is capitalised words ("Inventec Appliances Corporation", "JANA Partners LLC"), not
# a clause ("IAC will each appoint ..."); the contract itself is no party.
_NAME_WORD = re.compile(r"^(?:[A-Z0-9&][\w&.,'’/\-]*|of|and|the|de|du|d/b/a|f/k/a)$")
_NOT_PARTIES = frozenset({"agreement", "effective date", "term", "party", "parties"})
_LOOK_BACK = 300
_MAX_NAME_WORDS = 10
# Words an answer may hold around the terms it names: "both Sonos and IAC", "the Company".
_ANSWER_FILLER = STOPWORDS | {"both", "parties", "party"}


def definitions(text: str) -> dict[str, tuple[str, str]]:
    """Defined term (lower case) -> (the term as written, the name it stands for), first
    definition wins. Only terms defined for a name: '(the "Agreement")' follows no name."""
    found: dict[str, tuple[str, str]] = {}
    for match in _DEFINITION.finditer(text):
        term = " ".join(match.group(1).split())
        if not term[0].isupper() or term.lower() in _NOT_PARTIES or term.lower() in found:
            continue
        before = text[max(0, match.start() - _LOOK_BACK):match.start()]
        starts = list(_BEFORE_NAME.finditer(before))
        if not starts:
            continue
        rest = before[starts[-1].end():]
        if _DEFINITION.search(rest):  # that name is another term's: "... Corporation ("IAC"). IAC will ..."
            continue
        end = _AFTER_NAME.search(rest)
        name = " ".join((rest[:end.start()] if end else rest).split()).strip(" ,;")
        name = re.sub(r"^(?:WHEREAS|NOW,? THEREFORE),?\s+", "", name)
        if (name and len(name.split()) <= _MAX_NAME_WORDS and name.lower() != term.lower()
                and all(_NAME_WORD.match(w) for w in name.split())):
            found[term.lower()] = (term, name)
    return found


_by_document: dict[str, dict[str, tuple[str, str]]] = {}


def document_terms(kb: KnowledgeBase, doc_id: str) -> dict[str, tuple[str, str]]:
    """A document's definitions, its chunks read in order (ids are content hashes, so
    the cache never goes stale)."""
    if doc_id not in _by_document:
        found: dict[str, tuple[str, str]] = {}
        for chunk in kb.chunks_of(doc_id):
            for term, named in definitions(chunk.text).items():
                found.setdefault(term, named)
        _by_document[doc_id] = found
    return _by_document[doc_id]


def name_the_terms(answer: str, question: str, terms: dict[str, tuple[str, str]]) -> str:
    """The answer with the names its defined terms stand for, when it is nothing but
    defined terms (and filler); terms whose name the question already holds are left
    out ("Who signed ... with Sonos?" -> "both Sonos and IAC" -> "Inventec Appliances
    Corporation (IAC)"). The answer itself when it names anything else."""
    said = [w for w in words(answer) if w not in _ANSWER_FILLER]
    named = [t for t in sorted(terms, key=len, reverse=True) if re.search(rf"\b{re.escape(t)}\b", answer, re.I)]
    covered = {w for t in named for w in words(t)}
    if not named or not said or any(w not in covered for w in said):
        return answer
    asked = set(words(question))
    names = [f"{name} ({term})" for term, name in (terms[t] for t in named)
             if not (set(words(name)) | set(words(term))) & asked - STOPWORDS]
    return "; ".join(dict.fromkeys(names)) or answer
