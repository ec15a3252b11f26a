"""Loading real files, and what each bad input gets (a clear message, nothing stored)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.cleaning import clean_pages, drop_footnote_marks, join_hyphenated, remove_running_lines, repair_ligatures
from knowledge.loaders import IngestError, decode_text, load_document, safe_name
from tests.fixtures import (
    CONTRACT_PAGES,
    write_blank_pages_pdf,
    write_cyclic_page_tree_pdf,
    write_deep_page_tree_pdf,
    write_deeply_nested_pdf,
    write_docx,
    write_encrypted_pdf,
    write_scanned_pdf,
    write_text_amplifying_pdf,
)

ROOT = Path(__file__).resolve().parent.parent


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


WESTERN = ["Le médecin prescrit un traitement préventif à l'hôpital.", "Die Größe der Straße ist naïve café.",
           "Señor Núñez pagó el año pasado. ¿Qué?", "Kort sagt: blåbær og rødgrød med fløde.",
           "“Smart quotes” – and € 5 — done…"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_text_is_decoded_exactly(encoding):
    # charset-normalizer alone read these as cp1250 ("naďve") or Korean ("bl同錄")
    for text in WESTERN:
        if encoding == "latin-1" and not all(ord(c) < 256 for c in text):
            continue
        assert decode_text(text.encode(encoding)) == text


def test_other_legacy_encodings_are_detected():
    russian = "Привет, как дела? Это текст на русском языке, довольно длинный."
    polish = "Zażółć gęślą jaźń, powiedział pan Kowalski."
    assert decode_text(russian.encode("cp1251")) == russian
    assert decode_text(polish.encode("cp1250")) == polish


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark(tmp_path, settings, encoding):
    text = "Grüße aus 東京! Give 40 ml/kg of ORS in the first four hours."
    data = b"\xfe\xff" + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    (tmp_path / "notes.txt").write_bytes(data)  # UTF-16 has NUL bytes: not to be taken for binary
    assert load_document(tmp_path / "notes.txt", settings).pages == [text]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_html_with_a_byte_order_mark(tmp_path, settings, encoding):
    html = "<html><body><h1>Grüße</h1><p>Give 40 ml/kg of ORS in the first four hours.</p></body></html>"
    (tmp_path / "page.html").write_bytes(html.encode(encoding))
    text = load_document(tmp_path / "page.html", settings).pages[0]
    assert "Grüße" in text and "Give 40 ml/kg of ORS" in text and "\ufeff" not in text


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
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n")
    assert "corrupt PDF: it could not be read" in _reason(garbage, settings)


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9, 0.99])
def test_truncated_pdf(contract_pdf, tmp_path, settings, share):
    data = contract_pdf.read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data[: int(len(data) * share)])  # an interrupted download
    assert _reason(broken, settings).startswith("truncated PDF: the file ends before its end-of-file marker")


def test_renamed_binary_is_not_a_pdf(tmp_path, settings):
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert "not a PDF" in _reason(fake, settings)
    fake_txt = tmp_path / "data.txt"
    fake_txt.write_bytes(b"\x7fELF\x02\x01\x01\x00" * 20)
    assert "binary data" in _reason(fake_txt, settings)


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_encrypted_pdf(contract_pdf, tmp_path, settings, algorithm):
    locked = write_encrypted_pdf(contract_pdf, tmp_path / "locked.pdf", algorithm=algorithm)
    assert _reason(locked, settings).startswith("encrypted PDF: it is password-protected")


def test_pdf_with_only_an_owner_password_opens(contract_pdf, tmp_path, settings):
    # restricted (no printing, no copying) but readable without a password, as viewers do
    restricted = write_encrypted_pdf(contract_pdf, tmp_path / "restricted.pdf", password="", owner="owner-secret")
    doc = load_document(restricted, settings)
    assert len(doc.pages) == 3 and "ninety days written notice" in doc.pages[1]


def test_pdf_with_zero_pages(tmp_path, settings):
    assert _reason(write_blank_pages_pdf(tmp_path / "none.pdf", 0), settings) == "PDF has no pages"


def test_scanned_pdf_needs_ocr(tmp_path, settings):
    scanned = write_scanned_pdf(tmp_path / "scan.pdf")
    assert "OCR" in _reason(scanned, settings)


def test_pdf_over_page_limit(contract_pdf, settings):
    assert "limit is 2" in _reason(contract_pdf, replace(settings, max_pdf_pages=2))


# --- PDF bombs: refused by the limits in core.config, before memory runs away ------------

def test_pdf_bomb_with_very_many_pages(tmp_path, settings):
    bomb = write_blank_pages_pdf(tmp_path / "pages.pdf", 2001)  # 150 KB on disk
    assert _reason(bomb, settings) == "PDF has 2001 pages; the limit is 2000 (DOCENT_MAX_PDF_PAGES)"


def test_pdf_bomb_with_a_huge_stream_is_refused_in_bounded_memory(flate_bomb_pdf, tmp_path):
    """A 2 MB file whose second page inflates to 400 MB: refused by the per-page byte
    limit, in a fresh process whose peak memory we measure."""
    script = (
        "import json, re, sys\n"
        "from core.config import Settings\n"
        "from knowledge.loaders import IngestError, load_document\n"
        "try:\n"
        "    load_document(sys.argv[1], Settings(data_dir=sys.argv[2]))\n"
        "    reason = 'loaded'\n"
        "except IngestError as exc:\n"
        "    reason = str(exc)\n"
        # VmHWM, not ru_maxrss: the latter counts the parent's memory at fork
        "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"
        "print(json.dumps({'reason': reason, 'peak_mb': peak}))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCENT_MAX_PAGE_MB": "8"}
    proc = subprocess.run([sys.executable, "-c", script, str(flate_bomb_pdf), str(tmp_path / "data")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["reason"].startswith("PDF bomb? page 2's content decompresses past the limit of 8 MB per page "
                                    "(DOCENT_MAX_PAGE_MB)")
    assert out["peak_mb"] < 150, out  # the 400 MB were never in memory


def test_pdf_bomb_over_the_whole_document_byte_limit(contract_pdf, settings):
    reason = _reason(contract_pdf, replace(settings, max_decompressed_mb=0.001))
    assert reason.startswith("PDF bomb? its pages decompress to more than 0.001 MB (DOCENT_MAX_DECOMPRESSED_MB)")


def test_pdf_bomb_that_multiplies_text(tmp_path, settings):
    """A form of 20 KB text drawn 5,000 times: extraction stops at the page limit
    (before the limit existed this page took minutes and 100 MB of text)."""
    bomb = write_text_amplifying_pdf(tmp_path / "forms.pdf")
    started = time.perf_counter()
    assert _reason(bomb, settings) == ("PDF bomb? page 1 gives more than 200,000 characters of text "
                                       "(DOCENT_MAX_PAGE_CHARS)")
    assert time.perf_counter() - started < 10


def test_pdf_with_deeply_nested_objects(tmp_path, settings):
    reason = _reason(write_deeply_nested_pdf(tmp_path / "nested.pdf"), settings)
    assert reason.startswith("corrupt PDF: none of its 1 page(s) could be read (page 1: RecursionError")
    reason = _reason(write_deep_page_tree_pdf(tmp_path / "tree.pdf"), settings)
    assert reason.startswith("corrupt PDF: it could not be read (LimitReachedError: Maximum page tree depth")
    reason = _reason(write_cyclic_page_tree_pdf(tmp_path / "cycle.pdf"), settings)
    assert reason == "corrupt PDF: it could not be read (PdfReadError: Detected cyclic page references.)"


def test_document_character_limit(contract_pdf, tmp_path, settings):
    small = replace(settings, max_document_chars=500)
    assert "(DOCENT_MAX_DOCUMENT_CHARS)" in _reason(contract_pdf, small)
    (tmp_path / "long.txt").write_text("All work and no play. " * 100)
    assert _reason(tmp_path / "long.txt", small).startswith("the document holds 2,200 characters of text; "
                                                            "the limit is 500 (DOCENT_MAX_DOCUMENT_CHARS)")


def test_docx_zip_bomb(tmp_path, settings):
    import zipfile

    path = write_docx(tmp_path / "bomb.docx", ["A short and harmless looking paragraph of text."])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/media/padding.bin", b"\x00" * (5 * 2**20))  # 5 MB in ~5 KB
    assert path.stat().st_size < 100_000
    reason = _reason(path, replace(settings, max_decompressed_mb=2))
    assert re.match(r"DOCX unzips to [56] MB; the limit is 2 MB \(DOCENT_MAX_DECOMPRESSED_MB\): a zip bomb", reason)


def test_undecodable_binary_named_txt(tmp_path, settings):
    rng = random.Random(1)
    noise = bytes(rng.randrange(1, 256) for _ in range(5000))  # no NUL bytes
    (tmp_path / "noise.txt").write_bytes(noise)
    assert _reason(tmp_path / "noise.txt", settings).startswith("not a text file")
    (tmp_path / "controls.txt").write_bytes(b"Dose \x01\x02\x03\x04\x05 given\x06\x07\x08" * 50)
    assert "binary data" in _reason(tmp_path / "controls.txt", settings)


def test_file_names_are_made_safe():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\Windows\\report.pdf") == "report.pdf"
    assert safe_name("a\x00b\x1f.pdf") == "ab.pdf"
    assert safe_name("annual\nreport\t2024.pdf") == "annual report 2024.pdf"  # readable, one line
    assert safe_name("invoice\u202efdp.exe") == "invoicefdp.exe"  # no right-to-left spoofing
    assert safe_name("..") == safe_name("") == safe_name("/") == "unnamed"
    long = safe_name("Rapport annuel " * 30 + ".pdf")  # 455 characters
    assert len(long) <= 200 and long.endswith("\u2026.pdf") and long.startswith("Rapport annuel")


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


def test_footnote_marks_glued_to_a_comma_are_dropped_and_numbers_kept():
    # the US Constitution as pypdf reads it: the mark would answer "From what age ... vote?" with "15"
    text = "being twenty-one years of age,15 and citizens; chosen by the Legislature thereof,3 for six Years"
    assert drop_footnote_marks(text) == ("being twenty-one years of age, and citizens; "
                                         "chosen by the Legislature thereof, for six Years")
    kept = "infection,100 TCID 50 of the virus; 1,500 patients; Exhibit A-1 PLAY:1 Statement; 2.5 %"
    assert drop_footnote_marks(kept) == kept
    assert clean_pages(["years of age,15 and citizens"]) == ["years of age, and citizens"]


def test_clean_pages_normalises_unicode_ligatures():
    assert clean_pages(["e\ufb03cient  \u00a0 o\ufb03ce \ufb01ve"]) == ["efficient office five"]
