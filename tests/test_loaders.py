"""Loading real files, and what each bad input gets (a clear message, nothing stored)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.cleaning import clean_pages, join_hyphenated, remove_running_lines, repair_ligatures
from knowledge.loaders import IngestError, load_document, safe_name
from tests.fixtures import CONTRACT_PAGES, write_docx, write_encrypted_pdf, write_scanned_pdf


def test_pdf_pages_hold_their_own_text(contract_pdf, settings):
    doc = load_document(contract_pdf, settings)
    assert doc.file_type == "pdf" and len(doc.pages) == 3
    for page_text, (heading, sentences) in zip(doc.pages, CONTRACT_PAGES):
        assert heading in page_text
        for sentence in sentences:
            assert sentence in page_text
    assert "Gloves L" in doc.pages[2] and "15.10" in doc.pages[2]
    assert "Page 1" not in doc.pages[0]  # the running footer is dropped


def test_same_bytes_same_id_and_changed_bytes_new_id(contract_pdf, tmp_path, settings):
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(contract_pdf.read_bytes())
    assert load_document(copy, settings).doc_id == load_document(contract_pdf, settings).doc_id
    copy.write_bytes(contract_pdf.read_bytes() + b"\n% changed\n")
    assert load_document(copy, settings).doc_id != load_document(contract_pdf, settings).doc_id


def test_text_markdown_docx_html(tmp_path, settings):
    (tmp_path / "notes.txt").write_text("Dosage: give 40 ml/kg of ORS in the first four hours.\n", encoding="utf-8")
    (tmp_path / "guide.md").write_text("# Cholera\n\nRehydrate first.\n\n## Antibiotics\n\nDoxycycline, one dose.\n")
    write_docx(tmp_path / "policy.docx", ["Leave Policy", "Staff get 25 days of paid leave per year."])
    (tmp_path / "page.html").write_text("<html><head><title>T</title><script>var x=1;</script></head>"
                                        "<body><h1>Visiting hours</h1><p>Visitors are welcome from 2 pm to 8 pm.</p>"
                                        "</body></html>")
    assert "40 ml/kg" in load_document(tmp_path / "notes.txt", settings).pages[0]
    assert "Doxycycline" in load_document(tmp_path / "guide.md", settings).pages[0]
    assert "25 days of paid leave" in load_document(tmp_path / "policy.docx", settings).pages[0]
    html = load_document(tmp_path / "page.html", settings).pages[0]
    assert "Visitors are welcome from 2 pm to 8 pm." in html and "var x" not in html


def test_non_utf8_text_is_decoded(tmp_path, settings):
    (tmp_path / "latin.txt").write_bytes("Le médecin prescrit un traitement préventif à l'hôpital.".encode("cp1252"))
    assert "médecin prescrit" in load_document(tmp_path / "latin.txt", settings).pages[0]


# --- bad input: each gets a clear reason -------------------------------------------

def _reason(path: Path, settings) -> str:
    with pytest.raises(IngestError) as err:
        load_document(path, settings)
    return str(err.value)


def test_empty_file(tmp_path, settings):
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert "empty file" in _reason(tmp_path / "empty.pdf", settings)


def test_whitespace_only_text(tmp_path, settings):
    (tmp_path / "blank.txt").write_text("   \n\n\t  \n")
    assert "no text" in _reason(tmp_path / "blank.txt", settings)


def test_unsupported_type(tmp_path, settings):
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00binary")
    assert "unsupported file type '.exe'" in _reason(tmp_path / "tool.exe", settings)


def test_oversized_file(contract_pdf, settings):
    small = replace(settings, max_upload_mb=0.001)
    assert "limit is 0.001 MB" in _reason(contract_pdf, small)


def test_corrupt_pdf(contract_pdf, tmp_path, settings):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(contract_pdf.read_bytes()[:300])  # truncated
    assert "corrupt PDF" in _reason(broken, settings) or "no extractable text" in _reason(broken, settings)
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    assert "corrupt PDF" in _reason(garbage, settings)


def test_renamed_binary_is_not_a_pdf(tmp_path, settings):
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert "not a PDF" in _reason(fake, settings)
    fake_txt = tmp_path / "data.txt"
    fake_txt.write_bytes(b"\x7fELF\x02\x01\x01\x00" * 20)
    assert "binary data" in _reason(fake_txt, settings)


def test_encrypted_pdf(contract_pdf, tmp_path, settings):
    locked = write_encrypted_pdf(contract_pdf, tmp_path / "locked.pdf")
    assert "password-protected" in _reason(locked, settings)


def test_scanned_pdf_needs_ocr(tmp_path, settings):
    scanned = write_scanned_pdf(tmp_path / "scan.pdf")
    assert "OCR" in _reason(scanned, settings)


def test_pdf_over_page_limit(contract_pdf, settings):
    assert "limit is 2" in _reason(contract_pdf, replace(settings, max_pdf_pages=2))


def test_file_names_are_made_safe():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("a\x00b\x1f.pdf") == "ab.pdf"
    assert len(safe_name("x" * 500 + ".pdf")) <= 200 and safe_name("x" * 500 + ".pdf").endswith(".pdf")


# --- text that reads right -------------------------------------------------------

def test_lost_ligatures_are_restored():
    text = "The Court shall consist of \x00fteen members; o\x00cers su\x00ce; ful\x00lled; \x00xed"
    fixed = repair_ligatures(text, set())
    assert fixed == "The Court shall consist of fifteen members; officers suffice; fulfilled; fixed"


def test_hyphenated_line_breaks_are_joined_and_compounds_kept():
    text = "in the Pres-\nence of the House of Representa-\ntives, open all the\ntwo-\nthirds of the"
    fixed = join_hyphenated(text, set())
    assert "Presence of" in fixed.replace("\n", " ")
    assert "Representatives, open" in fixed.replace("\n", " ")
    assert "two-thirds" in fixed


def test_running_headers_are_removed():
    bodies = ["Congress shall meet.", "The Senate votes.", "Judges hold office.", "States keep powers.", "Amend it."]
    pages = [f"CONSTITUTION OF THE UNITED STATES Page {n}\n{body}\n- {n} -" for n, body in enumerate(bodies, 1)]
    cleaned = remove_running_lines(pages)
    assert cleaned == bodies


def test_clean_pages_normalises_unicode_ligatures():
    assert clean_pages(["e\ufb03cient  \u00a0 o\ufb03ce \ufb01ve"]) == ["efficient office five"]
