"""Files -> clean page texts, with a clear IngestError for every file we cannot use.

PDFs are read with pypdf directly, page by page: LangChain's PyPDFLoader wraps the same
calls but hides what we must report (encrypted, page count, pages without text). DOCX
and HTML go through LangChain's Docx2txtLoader and BSHTMLLoader. Plain text and Markdown
need no loader, only a decoder that copes with non-UTF-8 files.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from knowledge.cleaning import clean_pages

SUPPORTED_TYPES = {".pdf": "pdf", ".txt": "text", ".md": "markdown", ".markdown": "markdown",
                   ".docx": "docx", ".html": "html", ".htm": "html"}
# A PDF whose pages hold fewer characters than this in all is an image scan.
MIN_TEXT_CHARS = 20

logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings are noise for users


class IngestError(Exception):
    """A file we refuse, with a message meant for the person who uploaded it."""


@dataclass
class LoadedDocument:
    source: str  # the file name shown to users and cited in answers
    doc_id: str  # the same bytes read by the same reader always give the same id (`document_id`)
    file_type: str
    size: int
    pages: list[str]  # clean text of page 1, 2, ...; non-paged formats have one page
    warnings: list[str] = field(default_factory=list)
    content: str = ""  # hash of the bytes alone: the same file under any reader
    reader: str = ""  # `reader_recipe` of the settings that read it


# Bump when reading or chunking a file gives other text or chunks than before (cleaning,
# sentence or chunk rules). A document's id holds the recipe, so ingesting an unchanged file
# that an older reader added reads it again and replaces the old chunks, like a new version.
READER_VERSION = 2  # 2: footnote marks dropped


def reader_recipe(settings: Settings) -> str:
    return f"reader{READER_VERSION}-chunk{settings.chunk_size}-overlap{settings.chunk_overlap}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def document_id(data: bytes, recipe: str) -> str:
    """What makes a document's chunks: its bytes and the recipe that read them."""
    return hashlib.sha256(data + b"\x00" + recipe.encode()).hexdigest()[:20]


MAX_NAME_CHARS = 200
# Control characters, and the bidirectional overrides that make "invoice\u202efdp.exe"
# display as "invoiceexe.pdf".
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_name(name: str) -> str:
    """The name a file is shown and cited under: its base name only (no folders, so it
    can never point outside the data folder), no control or bidi characters (line breaks
    and tabs become spaces), NFC-normalised, at most 200 characters with the extension kept."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\t\n\r\v\f]+", " ", name)
    name = " ".join(_UNSAFE_NAME_CHARS.sub("", name).split())
    if not name.strip("."):  # "", ".", ".." are not names
        return "unnamed"
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        keep = MAX_NAME_CHARS - len(ext) - 2
        name = (stem[:keep].rstrip() + "\u2026" + dot + ext) if dot and len(ext) <= 9 else name[:MAX_NAME_CHARS]
    return name


def load_document(path: Path, settings: Settings, name: str | None = None) -> LoadedDocument:
    """Read, check and clean one file; raise IngestError with the reason if it is unusable."""
    path = Path(path)
    source = safe_name(name or path.name)
    if not path.is_file():
        raise IngestError("file not found")
    size = path.stat().st_size
    if size == 0:
        raise IngestError("empty file (0 bytes)")
    if size > settings.max_upload_bytes:
        raise IngestError(
            f"file is {size / 2**20:.1f} MB; the limit is {settings.max_upload_mb:g} MB (DOCENT_MAX_UPLOAD_MB)")
    suffix = Path(source).suffix.lower()
    file_type = SUPPORTED_TYPES.get(suffix)
    if file_type is None:
        kinds = ", ".join(sorted({s.lstrip('.') for s in SUPPORTED_TYPES}))
        raise IngestError(f"unsupported file type '{suffix or '(none)'}'; supported: {kinds}")
    data = path.read_bytes()
    check_content_matches(data, file_type)

    warnings: list[str] = []
    if file_type == "pdf":
        pages = read_pdf_pages(data, settings, warnings)
    elif file_type == "docx":
        check_docx_size(data, settings)
        pages = [read_with_langchain("docx", path)]
    elif file_type == "html":
        pages = [read_with_langchain("html", path, bom=_bom(data))]
    else:
        pages = [decode_text(data)]
    check_document_chars(pages, settings)

    pages = clean_pages(pages)
    if sum(len(p) for p in pages) < MIN_TEXT_CHARS:
        if file_type == "pdf":
            raise IngestError("no extractable text: this looks like a scanned (image-only) PDF; "
                              "run OCR on it first, then upload the searchable PDF")
        raise IngestError("no text in this file (empty or whitespace only)")
    recipe = reader_recipe(settings)
    return LoadedDocument(source, document_id(data, recipe), file_type, size, pages, warnings,
                          content=content_hash(data), reader=recipe)


def check_content_matches(data: bytes, file_type: str) -> None:
    """Type-check by content, not only by extension: a renamed binary is refused."""
    head = data[:2048]
    if file_type == "pdf":
        if b"%PDF-" not in head[:1024]:
            raise IngestError("not a PDF: the file does not start with a PDF header (renamed or corrupt file?)")
    elif file_type == "docx":
        if not _is_docx(data):
            raise IngestError("not a DOCX document (a Word .docx file is a zip with word/document.xml)")
    elif b"\x00" in head and not _bom(data):  # UTF-16/32 text has NULs, after its BOM
        raise IngestError(f"not a {file_type} file: it contains binary data")


def check_docx_size(data: bytes, settings: Settings) -> None:
    """A DOCX is a zip: refuse one that would unzip to more than the limit (a zip bomb).
    Python's zipfile never inflates a member past its declared size, so the declared
    sizes bound the memory the loader can use."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        total = sum(info.file_size for info in zf.infolist())
    if total > settings.max_decompressed_bytes:
        raise IngestError(f"DOCX unzips to {total / 2**20:.0f} MB; the limit is {settings.max_decompressed_mb:g} MB "
                          "(DOCENT_MAX_DECOMPRESSED_MB): a zip bomb, or a file with huge embedded media?")


def check_document_chars(pages: list[str], settings: Settings) -> None:
    total = sum(len(p) for p in pages)
    if total > settings.max_document_chars:
        raise IngestError(f"the document holds {total:,} characters of text; the limit is "
                          f"{settings.max_document_chars:,} (DOCENT_MAX_DOCUMENT_CHARS): split it into smaller files")


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "word/document.xml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


# Byte-order marks, longest first: a UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xef\xbb\xbf", "utf-8"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# Typographic characters of Windows-1252 text besides letters (quotes, dashes, currency ...).
_CP1252_SYMBOLS = set("\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u20ac\u00a3\u00a7\u00b0\u00a9"
                      "\u00ae\u00ab\u00bb\u00bf\u00a1\u00b7\u00d7\u00f7\u00a0\u00b1\u00b5\u2122\u2020\u2021\u00b6\u00a2\u00a5")


def _bom(data: bytes) -> tuple[bytes, str] | None:
    """The byte-order mark the data starts with, and its codec."""
    return next(((bom, codec) for bom, codec in _BOMS if data.startswith(bom)), None)


def decode_text(data: bytes) -> str:
    """Text in the encoding it was written in, never mojibake: a byte-order mark decides
    (UTF-8, UTF-16, UTF-32); else UTF-8 when it is valid; else Windows-1252 (a superset
    of Latin-1) when the result reads as Western text; else what charset-normalizer
    detects. Its guess alone turned short Latin-1 texts into cp1250 or Korean ("naďve",
    "bl同錄"), which is why Western text is tried first. Binary data is refused."""
    marked = _bom(data)
    if marked:
        bom, codec = marked
        try:
            text = data[len(bom):].decode(codec)
        except UnicodeDecodeError:
            raise IngestError(f"text file with a {codec.upper()} byte-order mark that is not valid {codec.upper()}"
                              ) from None
        return _readable(text)
    try:
        return _readable(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    western = _as_western(data)
    if western is not None:
        return _readable(western)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise IngestError("not a text file: its bytes are not text in UTF-8, UTF-16 or any encoding we can "
                          "detect (binary data?)")
    return _readable(str(best))


def _as_western(data: bytes) -> str | None:
    """The text as Windows-1252 if that reads as Western text: mostly ASCII, every
    other character a letter or a typographic symbol. Cyrillic or Greek text decoded this
    way is mostly non-ASCII; Central European text shows symbols such as '³' for 'ł'."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    others = [c for c in text if ord(c) > 127]
    letters = sum(c.isalpha() for c in text)
    if not others or len(others) > 0.3 * max(letters, 1):
        return None
    if all(c.isalpha() or c in _CP1252_SYMBOLS for c in others):
        return text
    return None


def _readable(text: str) -> str:
    """Refuse decoded text that is mostly not text: control characters other than line
    breaks and tabs, or replacement characters, in more than 1% of it."""
    bad = sum(1 for c in text if (c < " " and c not in "\t\n\r\f") or c in "\x7f\ufffd")
    if text and bad > 0.01 * len(text):
        raise IngestError("not a text file: it contains binary data (control characters) after decoding")
    return text


class _TooMuchText(BaseException):
    """Raised from pypdf's text visitor when a page gives more text than allowed. A
    BaseException, so that pypdf's broad `except Exception` around forms cannot swallow it."""


def read_pdf_pages(data: bytes, settings: Settings, warnings: list[str]) -> list[str]:
    """Text of each page; refuse corrupt, truncated, encrypted, over-long and bomb PDFs
    with the reason. Limits (core.config) hold before and while text is extracted:
    pypdf stops inflating any stream past the per-page byte limit, each page's content
    is measured before its text is read, and text extraction stops once a page gives
    more characters than allowed; decoded streams are released after each page."""
    from pypdf import PdfReader, apply_configuration

    limit = settings.max_page_bytes
    inflate_limits = {"zlib_maximum_output_length": limit, "lzw_maximum_output_length": limit,
                      "run_length_maximum_output_length": limit, "brotli_maximum_output_length": limit,
                      "array_based_stream_maximum_output_length": limit}
    with apply_configuration(**inflate_limits):
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise IngestError("encrypted PDF: it is password-protected; save an unprotected copy and upload that")
            n_pages = len(reader.pages)
        except IngestError:
            raise
        except Exception as exc:  # pypdf raises many types on broken files; the user needs the reason
            if b"%%EOF" not in data[-2048:]:
                raise IngestError("truncated PDF: the file ends before its end-of-file marker (an incomplete "
                                  f"download or copy?); upload the complete file ({type(exc).__name__}: {exc})"[:300]
                                  ) from None
            if "crypt" in str(exc).lower():
                raise IngestError(f"encrypted PDF that cannot be opened ({exc})"[:300]) from None
            raise IngestError(f"corrupt PDF: it could not be read ({type(exc).__name__}: {exc})"[:300]) from None
        if n_pages == 0:
            raise IngestError("PDF has no pages")
        if n_pages > settings.max_pdf_pages:
            raise IngestError(f"PDF has {n_pages} pages; the limit is {settings.max_pdf_pages} (DOCENT_MAX_PDF_PAGES)")
        return _extract_pages(reader, settings, warnings)


def _extract_pages(reader, settings: Settings, warnings: list[str]) -> list[str]:
    pages: list[str] = []
    unreadable: list[str] = []
    blank = decompressed = chars = 0
    n_pages = len(reader.pages)
    for number, page in enumerate(reader.pages, start=1):
        streams: list = []
        try:
            text, size = _page_text(page, number, settings, streams, unreadable)
            decompressed += size
        finally:
            for stream in streams:  # pypdf caches inflated data on the stream: let it go
                if hasattr(stream, "decoded_self"):
                    stream.decoded_self = None
        if decompressed > settings.max_decompressed_bytes:
            raise IngestError(f"PDF bomb? its pages decompress to more than {settings.max_decompressed_mb:g} MB "
                              f"(DOCENT_MAX_DECOMPRESSED_MB) by page {number}")
        chars += len(text)
        if chars > settings.max_document_chars:
            raise IngestError(f"the PDF holds more than {settings.max_document_chars:,} characters of text by page "
                              f"{number} (DOCENT_MAX_DOCUMENT_CHARS): split it into smaller files")
        if not text.strip():
            blank += 1
        pages.append(text)
    if unreadable and len(unreadable) == n_pages:
        raise IngestError(f"corrupt PDF: none of its {n_pages} page(s) could be read ({unreadable[0]})"[:300])
    if unreadable:
        warnings.append(f"{len(unreadable)} page(s) could not be read")
    if blank and blank < n_pages:
        warnings.append(f"{blank} of {n_pages} page(s) have no text (images or blank pages; OCR needed for those)")
    return pages


def _page_text(page, number: int, settings: Settings, streams: list, unreadable: list[str]) -> tuple[str, int]:
    """One page's text and the bytes its content inflated to, measured before the text
    is read; a broken page gives "" and a note in `unreadable` (the other pages still
    count), a page over a limit refuses the whole file."""
    from pypdf.errors import LimitReachedError

    try:
        size = _content_bytes(page, streams)
    except LimitReachedError as exc:
        raise IngestError(f"PDF bomb? page {number}'s content decompresses past the limit of "
                          f"{settings.max_page_mb:g} MB per page (DOCENT_MAX_PAGE_MB) ({exc})"[:300]) from None
    except Exception as exc:
        unreadable.append(f"page {number}: {type(exc).__name__}: {exc}")
        return "", 0
    if size > settings.max_page_bytes:
        raise IngestError(f"PDF bomb? page {number}'s content decompresses to {size / 2**20:.0f} MB; the limit is "
                          f"{settings.max_page_mb:g} MB per page (DOCENT_MAX_PAGE_MB)")
    try:
        return page.extract_text(visitor_text=_TextBudget(settings.max_page_chars)) or "", size
    except _TooMuchText:
        raise IngestError(f"PDF bomb? page {number} gives more than {settings.max_page_chars:,} characters of text "
                          "(DOCENT_MAX_PAGE_CHARS)") from None
    except LimitReachedError as exc:
        raise IngestError(f"PDF bomb? page {number} exceeds a safety limit of the PDF reader ({exc})"[:300]) from None
    except Exception as exc:
        unreadable.append(f"page {number}: {type(exc).__name__}: {exc}")
        return "", size


class _TextBudget:
    """pypdf's visitor_text: counts the characters a page gives, stops past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def __call__(self, text: str, *_: object) -> None:
        self.used += len(text)
        if self.used > self.limit:
            raise _TooMuchText


def _content_bytes(page, streams: list, depth: int = 0) -> int:
    """Bytes a page's content streams and the forms it draws inflate to, measured before
    its text is read (pypdf raises LimitReachedError past the per-stream limit). The
    inflated streams are appended to `streams` so the caller can release them."""
    from pypdf.generic import ArrayObject, StreamObject

    total = 0
    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    parts = list(contents) if isinstance(contents, ArrayObject) else [contents] if contents is not None else []
    for part in parts:
        part = part.get_object()
        if isinstance(part, StreamObject):
            total += len(part.get_data())
            streams.append(part)
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if depth < 8 and hasattr(xobjects, "values"):
        for xobject in xobjects.values():
            xobject = xobject.get_object()
            if isinstance(xobject, StreamObject) and xobject.get("/Subtype") == "/Form" and \
                    all(xobject is not s for s in streams):
                total += len(xobject.get_data())
                streams.append(xobject)
                total += _content_bytes_of_form(xobject, streams, depth + 1)
    return total


def _content_bytes_of_form(form, streams: list, depth: int) -> int:
    """The forms a form draws (its own data is counted by the caller)."""
    from pypdf.generic import DictionaryObject, NameObject

    shell = DictionaryObject()
    if "/Resources" in form:
        shell[NameObject("/Resources")] = form["/Resources"]
    return _content_bytes(shell, streams, depth)


def read_with_langchain(kind: str, path: Path, bom: tuple[bytes, str] | None = None) -> str:
    """DOCX and HTML through LangChain's community loaders (`bom`: the file's byte-order
    mark and codec, when it starts with one)."""
    from langchain_community.document_loaders import BSHTMLLoader, Docx2txtLoader

    try:
        if kind == "docx":
            docs = Docx2txtLoader(str(path)).load()
        else:  # a byte-order mark names the encoding (UTF-16 HTML would not decode as UTF-8)
            encoding = {"utf-8": "utf-8-sig"}.get(bom[1], bom[1].rsplit("-", 1)[0]) if bom else "utf-8"
            docs = BSHTMLLoader(str(path), open_encoding=encoding, get_text_separator="\n").load()
    except UnicodeDecodeError:
        docs = BSHTMLLoader(str(path), open_encoding="latin-1", get_text_separator="\n").load()
    except Exception as exc:
        raise IngestError(f"could not read this {kind.upper()} file ({type(exc).__name__}: {exc})"[:300]) from None
    return "\n\n".join(d.page_content for d in docs)
