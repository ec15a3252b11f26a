"""Knowledge bases against a real Chroma: provenance, dedupe, replace, delete, model lock,
all-or-nothing ingestion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from core.models import Embedder
from knowledge import loaders
from knowledge.loaders import load_document
from knowledge.store import EmbedderMismatchError, KnowledgeBaseError, Store, forget_client
from tests.fixtures import (
    CONTRACT_PAGES,
    settings_environ,
    write_blank_pages_pdf,
    write_contract_pdf,
    write_encrypted_pdf,
    write_long_pdf,
    write_scanned_pdf,
    write_text_amplifying_pdf,
)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.stores  # every test here runs on the embedded store and on a Chroma server


def chroma_chunks(kb, doc_id: str) -> list[str]:
    """What Chroma itself holds for a document (not what our manifest says)."""
    return kb.chunks.get(where={"doc_id": doc_id}, include=[])["ids"]


def test_chunks_point_at_their_page_and_text(store, contract_pdf, settings):
    kb = store.kb("legal", create=True)
    result = kb.ingest_file(contract_pdf)
    assert result.status == "added" and result.pages == 3 and result.chunks >= 3
    pages = load_document(contract_pdf, settings).pages
    chunks = kb.chunks_of(result.doc_id)
    assert len(chunks) == result.chunks == len(chroma_chunks(kb, result.doc_id))
    for chunk in chunks:
        assert chunk.source == "supply_contract.pdf" and chunk.doc_id == result.doc_id
        assert pages[chunk.page - 1][chunk.start:chunk.end] == chunk.text
    for page_no, (heading, sentences) in enumerate(CONTRACT_PAGES, start=1):
        for sentence in sentences:
            holders = [c for c in chunks if sentence in c.text]
            assert holders and all(c.page == page_no for c in holders), sentence
            assert all(c.heading == heading for c in holders)
    table = [c for c in chunks if "Gloves L" in c.text]
    assert table and table[0].page == 3 and "15.10" in table[0].text


def test_query_finds_the_right_chunk(store, contract_pdf):
    kb = store.kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    vector = kb.embedder.embed_query("How much notice is needed to terminate the agreement?")
    hit = kb.chunks.query(query_embeddings=[vector], n_results=1)
    assert "ninety days written notice" in hit["documents"][0][0]
    assert hit["metadatas"][0][0]["page"] == 2


def test_same_file_twice_adds_nothing(store, contract_pdf, tmp_path):
    kb = store.kb("legal", create=True)
    first = kb.ingest_file(contract_pdf)
    count = kb.count_chunks()
    again = kb.ingest_file(contract_pdf)
    assert again.status == "unchanged" and "already in the knowledge base" in again.message
    renamed = tmp_path / "renamed.pdf"
    renamed.write_bytes(contract_pdf.read_bytes())
    other_name = kb.ingest_file(renamed)
    assert other_name.status == "unchanged" and "supply_contract.pdf" in other_name.message
    assert kb.count_chunks() == count and [d.doc_id for d in kb.documents()] == [first.doc_id]


def test_changed_file_with_same_name_replaces_old_chunks(store, tmp_path):
    kb = store.kb("legal", create=True)
    path = write_contract_pdf(tmp_path / "contract.pdf")
    old = kb.ingest_file(path)
    write_contract_pdf(path, extra_line="Amendment: the term is extended to ten years.")
    new = kb.ingest_file(path)
    assert new.status == "replaced" and new.doc_id != old.doc_id
    assert chroma_chunks(kb, old.doc_id) == []
    assert len(chroma_chunks(kb, new.doc_id)) == new.chunks
    assert [d.doc_id for d in kb.documents()] == [new.doc_id]
    assert any("extended to ten years" in c.text for c in kb.chunks_of(new.doc_id))


def test_a_file_an_older_reader_added_is_read_again(store, contract_pdf, monkeypatch):
    # An upgrade whose reader gives other text (the footnote marks of READER_VERSION 2): the
    # same file ingested again replaces its old chunks, and says why.
    kb = store.kb("legal", create=True)
    old = kb.ingest_file(contract_pdf)
    monkeypatch.setattr(loaders, "READER_VERSION", loaders.READER_VERSION + 1)
    new = kb.ingest_file(contract_pdf)
    assert new.status == "replaced" and new.message.startswith("read again") and old.doc_id in new.message
    assert chroma_chunks(kb, old.doc_id) == [] and len(chroma_chunks(kb, new.doc_id)) == new.chunks
    [doc] = kb.documents()
    assert doc.doc_id == new.doc_id and doc.reader == loaders.reader_recipe(kb.settings)
    assert kb.ingest_file(contract_pdf).status == "unchanged"
    # other chunk settings are another reading too
    wider = Store(replace(kb.settings, chunk_size=2 * kb.settings.chunk_size)).kb("legal")
    assert wider.ingest_file(contract_pdf).message.startswith("read again")


def test_remove_deletes_every_chunk(store, contract_pdf, tmp_path):
    kb = store.kb("legal", create=True)
    kept = kb.ingest_file(write_long_pdf(tmp_path / "other.pdf", pages=2, paragraphs=1))
    gone = kb.ingest_file(contract_pdf)
    info = kb.remove("supply_contract.pdf")
    assert info.doc_id == gone.doc_id
    assert chroma_chunks(kb, gone.doc_id) == []
    assert kb.count_chunks() == kept.chunks
    with pytest.raises(KnowledgeBaseError, match="no document"):
        kb.remove("supply_contract.pdf")
    kb.remove(kept.doc_id[:8])  # an id prefix works too
    assert kb.count_chunks() == 0 and kb.documents() == []


def test_several_knowledge_bases_are_separate(store, contract_pdf, tmp_path):
    store.kb("legal", create=True).ingest_file(contract_pdf)
    store.kb("medical", create=True)
    assert store.list_kbs() == ["legal", "medical"]
    assert store.kb("medical").documents() == []
    with pytest.raises(KnowledgeBaseError, match="no knowledge base named 'hr'"):
        store.kb("hr")


@pytest.mark.parametrize("bad", ["", "   ", "a b", "../etc", "a/b", "x" * 70, "legal.docs", "-legal", "ümlaut",
                                 "名前", "x\x00y", "legal;drop"])
def test_odd_knowledge_base_names_are_refused(store, bad):
    with pytest.raises(KnowledgeBaseError, match="invalid knowledge base name"):
        store.kb(bad, create=True)
    assert store.list_kbs() == []  # nothing was created


def test_knowledge_base_refuses_another_embedding_model(settings, contract_pdf):
    Store(settings).kb("legal", create=True).ingest_file(contract_pdf)
    other = replace(settings, embedding_model="intfloat/e5-small-v2")
    with pytest.raises(EmbedderMismatchError) as err:
        Store(other).kb("legal")
    assert "sentence-transformers/all-MiniLM-L6-v2" in str(err.value) and "intfloat/e5-small-v2" in str(err.value)


def test_bad_files_store_nothing(store, tmp_path, contract_pdf):
    kb = store.kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    before = kb.count_chunks()
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "virus.exe").write_bytes(b"MZ")
    bad = [write_scanned_pdf(tmp_path / "scan.pdf"), tmp_path / "empty.txt", tmp_path / "virus.exe"]
    results = [kb.ingest_file(p) for p in bad]
    assert [r.status for r in results] == ["failed"] * 3
    assert "OCR" in results[0].message and "empty" in results[1].message and "unsupported" in results[2].message
    assert kb.count_chunks() == before and len(kb.documents()) == 1


def test_hostile_and_broken_files_store_nothing(store, tmp_path, contract_pdf, flate_bomb_pdf):
    """Each bad input: failed with its reason, and the knowledge base exactly as before."""
    kb = store.kb("legal", create=True)
    kept = kb.ingest_file(contract_pdf)
    before = (kb.count_chunks(), kb.documents(include_pending=True))
    data = contract_pdf.read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (tmp_path / "blank.txt").write_text(" \n\t \n")
    (tmp_path / "photo.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    (tmp_path / "noise.txt").write_bytes(bytes(range(1, 256)) * 40)
    cases = {
        flate_bomb_pdf: "PDF bomb? page 2's content decompresses past the limit",
        write_text_amplifying_pdf(tmp_path / "forms.pdf"): "PDF bomb? page 1 gives more than 200,000 characters",
        write_blank_pages_pdf(tmp_path / "pages.pdf", 2001): "PDF has 2001 pages; the limit is 2000",
        write_blank_pages_pdf(tmp_path / "none.pdf", 0): "PDF has no pages",
        tmp_path / "truncated.pdf": "truncated PDF",
        write_encrypted_pdf(contract_pdf, tmp_path / "locked.pdf", algorithm="AES-256"): "password-protected",
        write_scanned_pdf(tmp_path / "scan.pdf"): "run OCR",
        tmp_path / "blank.txt": "no text in this file",
        tmp_path / "photo.pdf": "not a PDF",
        tmp_path / "noise.txt": "not a text file",
    }
    for path, reason in cases.items():
        result = kb.ingest_file(path)
        assert result.status == "failed" and reason in result.message, (path.name, result.message)
    assert (kb.count_chunks(), kb.documents(include_pending=True)) == before
    # a broken new version of a file already here replaces nothing: the good one stays whole
    broken = kb.ingest_bytes("supply_contract.pdf", data[:500])
    assert broken.status == "failed" and broken.message.startswith("truncated PDF")
    assert kb.committed_ids() == {kept.doc_id} and len(chroma_chunks(kb, kept.doc_id)) == kept.chunks


def test_uploaded_names_stay_inside_the_data_folder_and_read_well(store, settings, tmp_path, contract_pdf):
    kb = store.kb("legal", create=True)
    def outside() -> list[Path]:
        return sorted(p for p in tmp_path.rglob("*") if p != settings.data_dir and settings.data_dir not in p.parents)

    outside_before = outside()
    data = contract_pdf.read_bytes()
    escape = f"escape-{uuid.uuid4().hex}.pdf"  # where a naive upload would land: /tmp/escape-....pdf
    names = {f"../../../../../../../../tmp/{escape}": escape,
             "..\\..\\windows\\contract.pdf": "contract.pdf",
             "annual\nreport\x00\x1b[31m.pdf": "annual report[31m.pdf",
             "Vertrag " * 40 + ".pdf": None}
    for i, (name, expected) in enumerate(names.items()):
        result = kb.ingest_bytes(name, data + b"\n%% copy %d\n" % i)  # distinct bytes: each is added
        assert result.status == "added", result.line()
        if expected:
            assert result.source == expected
        else:
            assert len(result.source) <= 200 and result.source.endswith("\u2026.pdf")
    assert {c.source for d in kb.documents() for c in kb.chunks_of(d.doc_id)} == {d.source for d in kb.documents()}
    assert outside() == outside_before  # nothing written next to the data folder
    assert list((settings.uploads_dir / "incoming").iterdir()) == []  # the temporary copies are gone
    assert not (Path("/tmp") / escape).exists()


def test_error_half_way_leaves_no_partial_document(store, tmp_path, monkeypatch):
    kb = store.kb("legal", create=True)
    path = write_long_pdf(tmp_path / "long.pdf")
    real_embed = Embedder.embed
    calls = {"n": 0}

    def failing_embed(self, texts, batch_size=64, progress=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real_embed(self, texts, batch_size, progress)

    monkeypatch.setattr(Embedder, "embed", failing_embed)
    with pytest.raises(RuntimeError, match="disk full"):
        kb.ingest_file(path)
    assert kb.count_chunks() == 0 and kb.documents(include_pending=True) == []
    monkeypatch.setattr(Embedder, "embed", real_embed)
    assert kb.ingest_file(path).status == "added"


OTHER_PROCESS_INGEST = textwrap.dedent("""
    import sys
    from core.config import Settings
    from knowledge.store import Store
    print(Store(Settings(data_dir=sys.argv[1])).kb("legal").ingest_file(sys.argv[2]).status)
""")


def test_another_process_ingests_while_this_one_answers(store, settings, tmp_path, contract_pdf):
    """The app reads while the CLI (another process) writes: an embedded Chroma client
    does not see another process's writes by itself (its next query failed with "Error
    finding id"); the Store notices and reopens. Then this process writes too, and a
    fresh start finds every document whole."""
    from core.retrieval import Retriever

    kb = store.kb("legal", create=True)
    first = kb.ingest_file(contract_pdf)
    retriever = Retriever(kb, settings, method="dense")
    assert retriever.search("How much notice ends the agreement?")[0].chunk.doc_id == first.doc_id
    other_pdf = write_long_pdf(tmp_path / "annex.pdf", pages=2, paragraphs=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **settings_environ(settings)}
    proc = subprocess.run([sys.executable, "-c", OTHER_PROCESS_INGEST, str(settings.data_dir), str(other_pdf)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "added", proc.stderr[-2000:]
    hits = retriever.search("When is report number 105 delivered?")  # the other process's document
    assert hits and hits[0].chunk.source == "annex.pdf"
    third = kb.ingest_file(write_contract_pdf(tmp_path / "second.pdf", extra_line="Second copy."))
    assert third.status == "added" and len(kb.committed_ids()) == 3

    forget_client(str(settings.chroma_dir))  # a restart: nothing cached in memory
    fresh = Store(settings).kb("legal")
    for doc in fresh.documents():
        got = fresh.chunks.get(where={"doc_id": doc.doc_id}, include=["embeddings"])
        assert len(got["ids"]) == doc.chunks
        for vector in got["embeddings"]:  # every chunk is in the vector index, not only in the metadata
            found = fresh.chunks.query(query_embeddings=[list(vector)], n_results=1, where={"doc_id": doc.doc_id})
            assert found["ids"][0], doc.source


CRASHING_INGEST = textwrap.dedent("""
    import os, signal, sys
    from core.config import Settings
    from knowledge.store import Store
    settings = Settings(data_dir=sys.argv[1], embed_batch_size=8)
    kb = Store(settings).kb("legal", create=True)
    def progress(done, total):
        if done >= 16:  # two batches are in Chroma: die without any cleanup
            os.kill(os.getpid(), signal.SIGKILL)
    kb.ingest_file(sys.argv[2], progress=progress)
""")


def test_kill_during_ingest_then_next_ingest_finishes(settings, tmp_path):
    path = write_long_pdf(tmp_path / "long.pdf")
    env = {**os.environ, "PYTHONPATH": str(ROOT), **settings_environ(settings)}  # same store (embedded or server)
    proc = subprocess.run([sys.executable, "-c", CRASHING_INGEST, str(settings.data_dir), str(path)],
                          cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    kb = Store(settings).kb("legal")
    assert kb.documents() == []  # readers never see the half-written document
    assert kb.committed_ids() == set()
    assert kb.count_chunks() >= 16  # the crash really left chunks behind ...
    result = kb.ingest_file(path)  # ... and the next writer cleans up and finishes
    assert result.status == "added"
    assert kb.count_chunks() == result.chunks == len(chroma_chunks(kb, result.doc_id))


@pytest.mark.parametrize("exact_search_chunks", [200_000, 0], ids=["exact", "chroma-hnsw"])
def test_search_never_returns_chunks_of_an_uncommitted_document(settings, contract_pdf, exact_search_chunks):
    """Dense search, exact or Chroma's: chunks of a document still being written are never
    found (Chroma is asked without a filter first, fast at any size; such chunks must
    then be dropped and the filtered query used)."""
    from core.retrieval import Retriever
    from knowledge.chunking import Chunk

    store = Store(replace(settings, exact_search_chunks=exact_search_chunks))
    kb = store.kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    question = "What is the unit price of one box of gloves?"
    vector = kb.embedder.embed_query(question)
    half = [Chunk(text=f"Draft {i}: the unit price of one box of gloves is 99 euros.", source="draft.pdf",
                  doc_id="halfwritten", page=1, start=0, end=10, index=i) for i in range(3)]
    kb.chunks.add(ids=[c.id for c in half], embeddings=[vector] * 3, documents=[c.text for c in half],
                  metadatas=[{"source": c.source, "doc_id": c.doc_id, "page": 1, "start": 0, "end": 10}
                             for c in half])  # nearer to the question than any real chunk, never committed
    hits = Retriever(kb, store.settings, method="dense").search(question, k=3)
    assert len(hits) == 3 and all(h.chunk.doc_id != "halfwritten" for h in hits)
    assert hits[0].chunk.page == 3


def test_dense_search_is_exact_up_to_the_setting(store, contract_pdf, tmp_path, monkeypatch):
    """Up to `exact_search_chunks`, dense search ranks every committed chunk by cosine
    similarity to the question (Chroma's HNSW is approximate, and its results changed
    from process to process), in the whole base or in one document."""
    import numpy as np

    from core.retrieval import Retriever

    kb = store.kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    annex = kb.ingest_file(write_long_pdf(tmp_path / "annex.pdf", pages=3, paragraphs=2))
    got = kb.chunks.get(include=["embeddings"])
    vectors = np.asarray(got["embeddings"], dtype=np.float64)
    retriever = Retriever(kb, store.settings, method="dense")

    def approximate(*args, **kwargs):
        raise AssertionError("Chroma's approximate index was asked")

    monkeypatch.setattr(kb.chunks, "query", approximate)
    for question in ["When is report number 105 delivered?", "How much notice ends the agreement?"]:
        q = np.asarray(kb.embedder.embed_query(question), dtype=np.float64)
        cosine = vectors @ q / np.linalg.norm(vectors, axis=1) / np.linalg.norm(q)
        expected = [got["ids"][i] for i in np.argsort(-cosine)]
        found = retriever._dense(list(q), 6, frozenset(kb.committed_ids()), None)
        assert [c.id for c in found] == expected[:6]
        in_annex = retriever._dense(list(q), 3, frozenset(kb.committed_ids()), annex.doc_id)
        assert [c.id for c in in_annex] == [i for i in expected if i.startswith(annex.doc_id)][:3]
