"""The admin page through Streamlit's AppTest, against a real Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from knowledge.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(settings, monkeypatch):
    monkeypatch.setenv("DOCENT_DATA_DIR", str(settings.data_dir))
    monkeypatch.chdir(ROOT)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def test_first_run_explains_what_to_do(app):
    app.run()
    assert not app.exception
    assert any("no knowledge base yet" in i.value for i in app.info)  # the chat page
    app.switch_page("pages/knowledge_bases.py").run()
    assert any("No knowledge base yet" in i.value for i in app.info)


def test_create_knowledge_base_in_the_page(app, settings):
    app.switch_page("pages/knowledge_bases.py").run()
    app.text_input[0].input("legal")
    app.button[0].click().run()
    assert not app.exception
    assert Store(settings).list_kbs() == ["legal"]
    assert any("Created knowledge base 'legal'" in s.value for s in app.success)
    app.text_input[0].input("bad name!")
    app.button[0].click().run()
    assert any("invalid knowledge base name" in e.value for e in app.error)


def test_documents_listed_previewed_and_deleted(app, settings, contract_pdf):
    kb = Store(settings).kb("default", create=True)
    kb.ingest_file(contract_pdf)
    app.switch_page("pages/knowledge_bases.py").run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["file"]) == ["supply_contract.pdf"] and list(table["pages"]) == [3]
    assert any("ninety days written notice" in t.value for t in app.text)  # chunk preview
    app.button(key="delete_doc").click().run()
    assert not app.exception
    assert kb.documents() == [] and kb.count_chunks() == 0


def test_upload_reports_each_file(settings, tmp_path, contract_pdf):
    """The page's upload path is `ingest_bytes`; AppTest cannot drive a file uploader."""
    kb = Store(settings).kb("default", create=True)
    results = [kb.ingest_bytes("contract.pdf", contract_pdf.read_bytes()),
               kb.ingest_bytes("contract.pdf", contract_pdf.read_bytes()),
               kb.ingest_bytes("../../evil.pdf", b"not a pdf at all"),
               kb.ingest_bytes("big.pdf", b"%PDF-" + b"0" * (settings.max_upload_bytes + 1))]
    assert [r.status for r in results] == ["added", "unchanged", "failed", "failed"]
    assert results[2].source == "evil.pdf" and "not a PDF" in results[2].message
    assert "limit is 50 MB" in results[3].message
    assert not list((settings.uploads_dir / "incoming").iterdir())  # temp files are cleaned up


def test_chat_answers_with_cited_page_and_refuses_when_unsupported(app, settings, contract_pdf):
    Store(settings).kb("default", create=True).ingest_file(contract_pdf)
    app.run()
    assert not app.exception
    app.chat_input[0].set_value("What is the unit price of one box of gloves?").run()
    assert not app.exception
    markdown = " ".join(m.value for m in app.markdown)
    assert "14" in markdown and "supply_contract.pdf, page 3" in markdown and "<mark>" in markdown
    app.chat_input[0].set_value("What is the capital city of Australia?").run()
    assert not app.exception
    assert any("does not contain the answer" in m.value for m in app.markdown)
    assert len(app.session_state["messages"]) == 4
    app.button[0].click().run()  # clear conversation
    assert app.session_state["messages"] == []


def test_fine_tuning_page_shows_runs_loss_and_adapters(app, settings, tiny_model, tmp_path):
    from adapters import train as training
    from adapters.datasets import Example, write_examples

    data = tmp_path / "qa.jsonl"
    write_examples([Example(f"Question {i}?", f"answer {i}") for i in range(12)], data)
    config = training.TrainConfig(name="tiny", data=str(data), base_model="tiny-llama", model_path=str(tiny_model),
                                  max_steps=4, batch_size=4)
    training.run(training.new_run(config, settings), settings)
    app.switch_page("pages/fine_tuning.py").run()
    assert not app.exception
    assert any("completed: step 4 of 4" in p.proto.text for p in app.get("progress"))
    assert any("Adapter 'tiny' registered" in s.value for s in app.success)
    table = app.dataframe[0].value
    assert list(table["name"]) == ["tiny"] and list(table["steps"]) == [4]
    app.button(key="ft_activate").click().run()  # trained on another base model: refused, with the reason
    assert any("trained on 'tiny-llama'" in e.value for e in app.error)
