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
    doc_id: str  # content hash: the same bytes always give the same id
    file_type: str
    size: int
    pages: list[str]  # clean text of page 1, 2, ...; non-paged formats have one page
    warnings: list[str] = field(default_factory=list)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def safe_name(name: str) -> str:
    """A plain file name: no folders, no control characters, at most 200 characters."""
    name = Path(name.replace("\\", "/")).name
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext) if dot and len(ext) <= 9 else name[:200]
    return name or "unnamed"


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
        pages = read_pdf_pages(path, settings.max_pdf_pages, warnings)
    elif file_type == "docx":
        pages = [read_with_langchain("docx", path)]
    elif file_type == "html":
        pages = [read_with_langchain("html", path)]
    else:
        pages = [decode_text(data)]

    pages = clean_pages(pages)
    if sum(len(p) for p in pages) < MIN_TEXT_CHARS:
        if file_type == "pdf":
            raise IngestError("no extractable text: this looks like a scanned (image-only) PDF; "
                              "run OCR on it first, then upload the searchable PDF")
        raise IngestError("no text in this file (empty or whitespace only)")
    return LoadedDocument(source, content_hash(data), file_type, size, pages, warnings)


def check_content_matches(data: bytes, file_type: str) -> None:
    """Type-check by content, not only by extension: a renamed binary is refused."""
    head = data[:2048]
    if file_type == "pdf":
        if b"%PDF-" not in head[:1024]:
            raise IngestError("not a PDF: the file does not start with a PDF header (renamed or corrupt file?)")
    elif file_type == "docx":
        if not _is_docx(data):
            raise IngestError("not a DOCX document (a Word .docx file is a zip with word/document.xml)")
    elif b"\x00" in head:
        raise IngestError(f"not a {file_type} file: it contains binary data")


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "word/document.xml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def decode_text(data: bytes) -> str:
    """UTF-8 when it is, else the encoding charset-normalizer detects (cp1252, latin-1, ...)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise IngestError("text file in an unknown encoding (not UTF-8 and not detectable)") from None
        return str(best)


def read_pdf_pages(path: Path, max_pages: int, warnings: list[str]) -> list[str]:
    """Text of each page; refuse corrupt, encrypted and over-long PDFs with the reason."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError("encrypted PDF: it is password-protected; save an unprotected copy and upload that")
        n_pages = len(reader.pages)
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise IngestError(f"corrupt PDF: it could not be read ({type(exc).__name__}: {exc})"[:300]) from None
    except Exception as exc:  # pypdf raises many types on broken files; the user needs the reason
        if "crypt" in str(exc).lower():
            raise IngestError(f"encrypted PDF that cannot be opened ({exc})") from None
        raise IngestError(f"corrupt PDF: it could not be read ({type(exc).__name__}: {exc})"[:300]) from None
    if n_pages == 0:
        raise IngestError("PDF has no pages")
    if n_pages > max_pages:
        raise IngestError(f"PDF has {n_pages} pages; the limit is {max_pages} (DOCENT_MAX_PDF_PAGES)")

    pages, unreadable, blank = [], 0, 0
    for page in reader.pages:
        try:
            text = page.extract_text() or ""
        except Exception:  # one broken page must not lose the rest of the document
            text, unreadable = "", unreadable + 1
        if not text.strip():
            blank += 1
        pages.append(text)
    if unreadable:
        warnings.append(f"{unreadable} page(s) could not be read")
    if blank and blank < n_pages:
        warnings.append(f"{blank} of {n_pages} page(s) have no text (images or blank pages; OCR needed for those)")
    return pages


def read_with_langchain(kind: str, path: Path) -> str:
    """DOCX and HTML through LangChain's community loaders."""
    from langchain_community.document_loaders import BSHTMLLoader, Docx2txtLoader

    try:
        if kind == "docx":
            docs = Docx2txtLoader(str(path)).load()
        else:
            docs = BSHTMLLoader(str(path), open_encoding="utf-8", get_text_separator="\n").load()
    except UnicodeDecodeError:
        docs = BSHTMLLoader(str(path), open_encoding="latin-1", get_text_separator="\n").load()
    except Exception as exc:
        raise IngestError(f"could not read this {kind.upper()} file ({type(exc).__name__}: {exc})"[:300]) from None
    return "\n\n".join(d.page_content for d in docs)
