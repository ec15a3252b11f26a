"""Documents the tests write themselves: real PDFs (reportlab), DOCX, HTML, text."""

from __future__ import annotations

from pathlib import Path


def settings_environ(settings) -> dict[str, str]:
    """The DOCENT_* variables that make a CLI run or a child process use these settings'
    data folder and store (embedded, or a database on a Chroma server)."""
    return {"DOCENT_DATA_DIR": str(settings.data_dir), "DOCENT_CHROMA_URL": settings.chroma_url,
            "DOCENT_CHROMA_TENANT": settings.chroma_tenant, "DOCENT_CHROMA_DATABASE": settings.chroma_database}


# Known facts per page of the generated contract, used to check pages and offsets.
CONTRACT_PAGES = [
    ("Article 1 Definitions", [
        "In this Agreement the Supplier means Northwind Medical Supplies Ltd.",
        "The Customer means the Riverside County Hospital Trust.",
        "The Products are sterile surgical gloves described in Schedule A.",
    ]),
    ("Article 2 Term and Termination", [
        "This Agreement starts on 1 March 2024 and lasts for seven years.",
        "Either party may terminate this Agreement with ninety days written notice.",
        "The Customer may terminate at once if the Supplier loses its ISO 13485 certificate.",
    ]),
    ("Article 3 Prices and Payment", [
        "The unit price of one box of gloves is 14 euros and 20 cents.",
        "Invoices are payable within forty five days of receipt.",
        "Late payments carry interest of four percent per year.",
    ]),
]
PRICE_TABLE = [("Item", "Unit", "Price"), ("Gloves S", "box", "14.20"), ("Gloves M", "box", "14.20"),
               ("Gloves L", "box", "15.10")]


def write_contract_pdf(path: Path, extra_line: str = "") -> Path:
    """A three-page contract: one article per page, a price table on page 3."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for page_no, (heading, sentences) in enumerate(CONTRACT_PAGES, start=1):
        y = 780
        c.setFont("Helvetica-Bold", 14)
        c.drawString(72, y, heading)
        c.setFont("Helvetica", 11)
        for sentence in sentences:
            y -= 24
            c.drawString(72, y, sentence)
        if page_no == 3:
            y -= 36
            for row in PRICE_TABLE:
                y -= 18
                for col, cell in enumerate(row):
                    c.drawString(72 + 120 * col, y, cell)
        if extra_line and page_no == 2:
            c.drawString(72, 200, extra_line)
        c.drawString(280, 40, f"Page {page_no}")
        c.showPage()
    c.save()
    return path


def write_long_pdf(path: Path, pages: int = 12, paragraphs: int = 6) -> Path:
    """A longer PDF (many chunks) for progress and crash tests."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for p in range(1, pages + 1):
        y = 800
        c.drawString(72, y, f"Section {p}. Obligations of part {p}")
        for i in range(paragraphs * 6):
            y -= 20
            c.drawString(72, y, f"Clause {p}.{i}: the party shall deliver report number {p * 100 + i} on time.")
        c.showPage()
    c.save()
    return path


def write_scanned_pdf(path: Path) -> Path:
    """Pages with drawings only, no text layer: what a scanner produces."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for _ in range(2):
        c.rect(100, 100, 300, 400, fill=1)
        c.circle(250, 600, 50)
        c.showPage()
    c.save()
    return path


def write_encrypted_pdf(source: Path, path: Path, password: str = "secret", owner: str | None = None,
                        algorithm: str = "RC4-128") -> Path:
    """Encrypted with a user password (needed to open it) or, with password="", only
    an owner password (restrictions on printing and copying; it opens without one)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=owner or password, algorithm=algorithm)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def write_docx(path: Path, paragraphs: list[str]) -> Path:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def install_adapter(settings, folder: Path, name: str | None = None) -> None:
    """Copy a registered adapter folder into a test's data folder."""
    import shutil

    shutil.copytree(folder, settings.adapters_dir / (name or folder.name))


# --- hostile and broken PDFs -------------------------------------------------------------

def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written by hand (object 1 is the catalog), for structures no library writes."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< " + extra + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_TEXT = b"BT /F1 12 Tf 72 700 Td (The Supplier delivers sterile gloves every month.) Tj ET"


def write_one_page_pdf(path: Path, content: bytes = _TEXT, page_extra: bytes = b"",
                       more: tuple[bytes, ...] | list[bytes] = ()) -> Path:
    """One page drawing `content` with Helvetica as /F1; `more` objects start at number 6."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> " + page_extra + b" >> >>",
               _stream(content), _FONT, *more]
    path.write_bytes(raw_pdf(objects))
    return path


def write_flate_bomb_pdf(path: Path, megabytes: int = 400) -> Path:
    """A page of real text, then a page whose content stream is ~2 MB on disk and
    `megabytes` MB inflated (FlateDecode of repeated drawing operators)."""
    import zlib

    deflate = zlib.compressobj(1)
    block = b"0 0 m 1 1 l S\n" * (2**20 // 14)
    compressed = b"".join(deflate.compress(block) for _ in range(megabytes)) + deflate.flush()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               _stream(_TEXT), _FONT,
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R >>",
               _stream(compressed, b"/Filter /FlateDecode")]
    path.write_bytes(raw_pdf(objects))
    return path


def write_text_amplifying_pdf(path: Path, invocations: int = 5000) -> Path:
    """A 20 KB form of text drawn 5,000 times on one page: 100 MB of text from a 70 KB file."""
    form_text = b"BT /F1 12 Tf 72 700 Td (" + b"word " * 4000 + b") Tj ET"
    form = _stream(form_text, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                              b"/Resources << /Font << /F1 5 0 R >> >>")
    return write_one_page_pdf(path, b"q /X0 Do Q\n" * invocations, b"/XObject << /X0 6 0 R >>", [form])


def write_deeply_nested_pdf(path: Path, depth: int = 100_000) -> Path:
    """A content stream with an array nested 100,000 deep (parsers that recurse blow up)."""
    return write_one_page_pdf(path, _TEXT + b" " + b"[" * depth + b"]" * depth + b" TJ")


def write_blank_pages_pdf(path: Path, pages: int) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def write_cyclic_page_tree_pdf(path: Path) -> Path:
    """A page tree whose /Kids contain the tree itself (a reader that follows it never ends)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>", _stream(_TEXT), _FONT]
    path.write_bytes(raw_pdf(objects))
    return path


def write_deep_page_tree_pdf(path: Path, depth: int = 5000) -> Path:
    """One page under 5,000 nested page-tree nodes."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    objects += [b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (n + 3) for n in range(depth)]
    objects += [b"<< /Type /Page /MediaBox [0 0 612 792] /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>"
                % (depth + 3, depth + 4), _stream(_TEXT), _FONT]
    path.write_bytes(raw_pdf(objects))
    return path
