"""Documents the tests write themselves: real PDFs (reportlab), DOCX, HTML, text."""

from __future__ import annotations

from pathlib import Path

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


def write_encrypted_pdf(source: Path, path: Path, password: str = "secret") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password)
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
