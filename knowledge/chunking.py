"""Page texts -> chunks that know their file, page, character offsets and section heading.

LangChain's RecursiveCharacterTextSplitter does the splitting, with separators tried in
an order that suits legal and medical documents: blank lines, then the start of an
article / section / chapter, then numbered clauses, then lines and sentences. Each
page is split on its own so that a chunk's page and offsets are exact:
`pages[chunk.page - 1][chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

_STRUCTURE_WORDS = (r"(?:ARTICLE|Article|SECTION|Section|CHAPTER|Chapter|PART|Part|SCHEDULE|Schedule"
                    r"|ANNEX|Annex|AMENDMENT|Amendment|Clause|CLAUSE|§)")
SEPARATORS = [
    rf"\n(?={_STRUCTURE_WORDS}\s*[0-9IVXLC]+\b)",  # a new article, section, chapter ...
    r"\n\s*\n",  # a blank line: a new paragraph
    r"\n(?=#{1,6} )",  # a Markdown heading
    r"\n(?=\(?\d{1,3}(?:\.\d{1,3})*[.)]\s)",  # numbered clauses: "1. ", "2.3 ", "(4) "
    r"\n(?=\(?[a-z]{1,4}\)\s)",  # lettered sub-clauses: "(a) ", "b) "
    r"\n",
    r"(?<=[.;:!?])\s+",  # sentence ends
    r"\s+",
    "",
]
HEADING = re.compile(
    rf"^(?:#{{1,6}}\s+\S.{{0,100}}"  # Markdown
    rf"|{_STRUCTURE_WORDS}\s*[0-9IVXLC]+[A-Za-z]?\b[^\n]{{0,100}}"  # Article 12, Section 3. Terms
    r"|\d{1,2}(?:\.\d{1,2})*\.\s+[A-Z][A-Za-z ,&/'-]{2,60}"  # "7. Governing Law"
    r"|\d{1,2}(?:\.\d{1,2})+\s+[A-Z][A-Za-z ,&/'-]{2,60}"  # "2.3 Key Principles"
    r"|[A-Z][A-Z0-9 ,&/'()-]{3,60})$",  # "TERMINATION"
    re.MULTILINE,
)


def chunk_id(doc_id: str, index: int) -> str:
    """A chunk's store id: its document and its position there."""
    return f"{doc_id}-{index:05d}"


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str
    doc_id: str
    page: int  # 1-based
    start: int  # offsets into the clean text of that page
    end: int
    heading: str = ""
    index: int = 0  # position of the chunk in its document

    @property
    def id(self) -> str:
        return chunk_id(self.doc_id, self.index)

    def embedding_text(self) -> str:
        """What gets embedded: the heading gives a clause its context ("Article 12 ...")."""
        if self.heading and self.heading not in self.text:
            return f"{self.heading}\n{self.text}"
        return self.text

    def metadata(self) -> dict[str, str | int]:
        meta = asdict(self)
        meta.pop("text")
        return meta


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="start",
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        add_start_index=True,
        strip_whitespace=True,
    )


def headings_in(text: str) -> list[tuple[int, str]]:
    """(offset, heading) for each heading line of a page, in order."""
    return [(m.start(), m.group().lstrip("#").strip()[:120]) for m in HEADING.finditer(text)]


def chunk_pages(pages: list[str], source: str, doc_id: str, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Split every page; each chunk carries the last heading seen at or before its start."""
    splitter = make_splitter(chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    current_heading = ""
    for page_no, text in enumerate(pages, start=1):
        if not text.strip():
            continue
        headings = headings_in(text)
        for doc in splitter.create_documents([text]):
            start = doc.metadata["start_index"]
            if start < 0:  # the splitter could not locate the chunk; find it ourselves
                start = text.find(doc.page_content)
            heading = current_heading
            for offset, title in headings:
                if offset <= start + 1:
                    heading = title
            chunks.append(Chunk(doc.page_content, source, doc_id, page_no, start, start + len(doc.page_content),
                                heading, len(chunks)))
        if headings:
            current_heading = headings[-1][1]
    return chunks
