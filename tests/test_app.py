"""The admin page through Streamlit's AppTest, against a real Chroma."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import AdminGate, hash_password, verify_password
from core.feedback import load_choices
from knowledge.store import Store
from pages.common import answer_markdown
from tests.fixtures import install_adapter

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(settings, monkeypatch):
    monkeypatch.setenv("DOCENT_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("DOCENT_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("DOCENT_ADMIN_PASSWORD_HASH", raising=False)
    monkeypatch.chdir(ROOT)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def texts(app) -> str:
    """Everything the page wrote as markdown, captions, info, errors: one string to search."""
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "warning", "success", "title")
             for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


def test_answer_shown_as_answer_refusal_or_quote():
    base = {"answer": "Delaware [2]", "refused": False, "reason": ""}
    assert answer_markdown(base) == "Delaware"  # the model's [n] numbers passages as it saw them
    refused = answer_markdown({**base, "answer": "No answer.", "refused": True, "reason": "no passage is relevant"})
    assert "**No answer.**" in refused and "_no passage is relevant_" in refused
    quote = answer_markdown({**base, "answer": "This Agreement is governed by\nthe laws of Delaware.",
                             "reason": "quoted the best passage sentence (the answer is not supported)"})
    assert quote.startswith("> This Agreement is governed by the laws of Delaware.") and "_quoted the best" in quote
    reasoned = answer_markdown({**base, "model_quote": "This Agreement is governed by the laws of Delaware."})
    assert reasoned.startswith("Delaware\n\n") and reasoned.endswith("“This Agreement is governed by the laws of "
                                                                       "Delaware.”")


def test_first_run_explains_what_to_do(app):
    app.run()
    assert not app.exception
    assert any("no knowledge base yet" in i.value for i in app.info)  # the chat page
    app.switch_page("pages/knowledge_bases.py").run()
    assert any("No knowledge base yet" in i.value for i in app.info)


def test_admin_pages_say_single_user_mode_without_a_password(app):
    app.switch_page("pages/knowledge_bases.py").run()
    assert not app.exception
    assert "Single-user local mode" in texts(app)


@pytest.mark.parametrize("page", ["pages/knowledge_bases.py", "pages/fine_tuning.py", "pages/evaluation.py"])
def test_admin_pages_need_the_password(app, settings, monkeypatch, caplog, page):
    monkeypatch.setenv("DOCENT_ADMIN_PASSWORD", PASSWORD)
    Store(settings).kb("default", create=True)
    app.switch_page(page).run()
    assert not app.exception
    assert "Admin sign-in" in texts(app)
    assert not app.dataframe and not app.file_uploader  # nothing of the page itself is shown
    app.session_state["_docent_admin_token"] = "forged"  # a session trick: not a token this server issued
    app.run()
    assert "Admin sign-in" in texts(app)

    app.text_input(key="admin_password").input("wrong password")
    app.button[0].click().run()
    assert "Wrong password" in texts(app) and "Admin sign-in" in texts(app)
    app.text_input(key="admin_password").input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception
    assert "Admin sign-in" not in texts(app)
    assert PASSWORD not in caplog.text and "wrong password" not in caplog.text
    app.button(key="sign_out").click().run()
    assert "Admin sign-in" in texts(app)


def test_password_is_hashed_and_failed_tries_slow_down():
    encoded = hash_password(PASSWORD)
    assert PASSWORD not in encoded and encoded.startswith("pbkdf2_sha256$")
    assert verify_password(PASSWORD, encoded) and not verify_password("nope", encoded)
    gate = AdminGate(encoded, base_delay_s=0.01)
    delays, started = [], time.perf_counter()
    for _ in range(4):
        assert gate.sign_in("nope") is None
        delays.append(gate.failure_delay())
    assert delays == [0.01, 0.02, 0.04, 0.08]  # each failed try in a row waits twice as long
    assert time.perf_counter() - started >= sum(delays)
    token = gate.sign_in(PASSWORD)
    assert token and gate.is_admin(token) and gate.failures == 0 and not gate.is_admin("forged")
    gate.sign_out(token)
    assert not gate.is_admin(token)
    assert AdminGate(None).is_admin(None)  # single-user local mode


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


def test_upload_in_the_page_reports_a_bad_file_and_stores_nothing(app, settings, contract_pdf):
    kb = Store(settings).kb("default", create=True)
    app.switch_page("pages/knowledge_bases.py").run()
    app.file_uploader[0].set_value([("contract.pdf", contract_pdf.read_bytes(), "application/pdf"),
                                    ("scan.pdf", b"MZ\x90\x00 a renamed program", "application/pdf")]).run()
    app.button(key="add_files").click().run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["result"]) == ["added", "failed"]
    assert "not a PDF" in table["message"][1]
    assert [d.source for d in kb.documents()] == ["contract.pdf"]


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
    assert list(table["sentence answers for"]) == ["-"]  # Q&A pairs without passages: no sentence forms
    app.button(key="ft_activate").click().run()  # trained on another base model: refused, with the reason
    assert any("trained on 'tiny-llama'" in e.value for e in app.error)


def test_fine_tuning_page_warns_of_examples_cut_to_the_length_limit(app, settings, tiny_model, tmp_path):
    from adapters import train as training
    from adapters.datasets import Example, write_examples

    data = tmp_path / "qa.jsonl"
    write_examples([Example(f"Question {i} about the long agreement and its many parties?", f"answer {i}")
                    for i in range(8)], data)
    config = training.TrainConfig(name="cut", data=str(data), base_model="tiny-llama", model_path=str(tiny_model),
                                  max_steps=1, batch_size=4, held_out=0.0, max_length=training.MIN_LENGTH)
    training.run(training.new_run(config, settings), settings)
    app.switch_page("pages/fine_tuning.py").run()
    assert not app.exception
    assert any("8 training examples are longer than the length limit" in w.value for w in app.warning)
    assert any(n.label == "Tokens per example" and n.value == training.TrainConfig.max_length
               for n in app.number_input)


def test_compare_answers_with_three_modes_and_saves_the_best(app, settings, contract_pdf, smollm2_adapter):
    Store(settings).kb("default", create=True).ingest_file(contract_pdf)
    install_adapter(settings, smollm2_adapter)
    app.run()
    app.toggle(key="compare").set_value(True).run()
    app.chat_input[0].set_value("How long does the agreement last?").run()
    assert not app.exception
    reply = app.session_state["messages"][-1]
    assert list(reply["answers"]) == ["rag", "finetuned", "hybrid"]
    assert all("error" not in a for a in reply["answers"].values())
    assert reply["answers"]["finetuned"]["adapter"] == "contract-qa"
    assert [h.value.split(" · ")[0] for h in app.markdown if h.value.startswith("#### ")] == \
        ["#### RAG", "#### Fine-tuned", "#### Hybrid"]
    assert "supply_contract.pdf, page 2" in texts(app)  # RAG and Hybrid cite the page
    app.button(key="best-1-hybrid").click().run()
    assert [c["best"] for c in load_choices(settings)] == ["hybrid"]
    assert "Marked as the best answer" in texts(app)

    app.switch_page("pages/evaluation.py").run()
    assert not app.exception
    votes = app.dataframe[0].value
    assert list(votes["mode"])[0] == "Hybrid" and list(votes["marked best"])[0] == 1


def test_evaluation_page_runs_a_dataset_and_shows_answers_side_by_side(app, settings, contract_pdf):
    Store(settings).kb("default", create=True).ingest_file(contract_pdf)
    rows = [{"question": "How long does the agreement last?", "answers": ["seven years"],
             "source": "supply_contract.pdf", "page": 2},
            {"question": "What is the capital city of Australia?", "answerable": False}]
    app.switch_page("pages/evaluation.py").run()
    app.file_uploader[0].set_value(("contract.jsonl", "\n".join(json.dumps(r) for r in rows).encode(),
                                    "application/json")).run()
    assert not app.exception
    app.multiselect[0].set_value(["rag", "plain"])  # no adapter yet: RAG against the plain baseline
    app.button[0].click().run()
    assert not app.exception
    summary = app.dataframe[0].value
    assert list(summary["mode"]) == ["RAG", "Plain RAG (baseline)"] and list(summary["questions"]) == [2, 2]
    assert summary["source hit@k"][0].startswith("1.000")
    paired = app.dataframe[1].value  # the two modes compared on the same questions
    assert set(paired["modes"]) == {"RAG vs Plain RAG (baseline)"}
    assert {"contains gold", "refusal accuracy"} <= set(paired["metric"])
    assert set(paired["reading"]) <= {"above", "below", "no clear difference"}
    side = app.dataframe[2].value
    assert list(side["question"]) == [r["question"] for r in rows] and "rag answer" in side
    assert side["rag contains gold"][0] == 1.0 and side["rag refused"][1]  # "7 years" counts as "seven years"
    assert app.get("download_button")


def test_evaluation_page_reports_a_broken_dataset(app, settings):
    app.switch_page("pages/evaluation.py").run()
    app.file_uploader[0].set_value(("broken.jsonl", b'{"question": "ok?", "answers": ["x"]}\n{not json\n',
                                    "application/json")).run()
    app.button[0].click().run()
    assert not app.exception
    assert "line 2" in texts(app)


def test_hash_password_command_prints_a_verifiable_hash(monkeypatch, capsys):
    from core.__main__ import main

    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    assert main(["hash-password"]) == 0
    encoded = capsys.readouterr().out.strip()
    assert verify_password(PASSWORD, encoded) and PASSWORD not in encoded


def test_a_broken_data_folder_gets_a_message_and_a_way_out(app, settings):
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.data_dir.write_text("a file where the data folder should be")
    app.run()
    assert not app.exception  # no traceback in the page
    assert any("is a file, not a folder" in e.value for e in app.error), [e.value for e in app.error]
    assert "doctor --repair" in app.code[0].value


def test_a_damaged_store_gets_a_message_not_a_traceback(app, settings, contract_pdf):
    Store(settings).kb("default", create=True).ingest_file(contract_pdf)
    sqlite = settings.chroma_dir / "chroma.sqlite3"
    sqlite.write_bytes(b"this is not a database" * 100)
    app.run()
    assert not app.exception
    assert app.error and "doctor" in texts(app) + app.code[0].value


def test_raft_data_on_the_fine_tuning_page_can_add_the_oracles_answer_sentence(app, settings, contract_pdf,
                                                                               context_without_seven):
    """The page passes its checkbox to make_raft: with the chosen sentences missing the
    answer, the question is left out without it and kept, citing the added sentence, with it."""
    Store(settings).kb("default", create=True).ingest_file(contract_pdf)
    app.switch_page("pages/fine_tuning.py").run()
    app.radio(key="ft_style").set_value("raft").run()
    app.file_uploader[0].set_value(("qa.jsonl", b'{"question": "How long does the agreement last?", '
                                                b'"answer": "seven years"}\n', "application/json")).run()
    for ticked, expected in ((False, 0), (True, 1)):
        app.checkbox(key="ft_oracle_sentence").set_value(ticked).run()
        app.button[0].click().run()
        assert not app.exception
        assert any(f"{expected} raft examples ready" in s.value for s in app.success)
    [example] = [json.loads(line) for line in Path(app.session_state["ft_data"]).read_text().splitlines()]
    assert "seven" in example["answer"].lower() and example["passages"]


def test_raft_data_on_the_fine_tuning_page_can_put_the_source_passage_among_the_retrieved(app, settings, contract_pdf,
                                                                                        pump_note, monkeypatch):
    """The page passes its second checkbox to make_raft: retrieval misses the note that
    answers; without the box the example says "I don't know.", with it the note's
    passage (named by the example's source) is among the passages and cited."""
    monkeypatch.setenv("DOCENT_TOP_K", "2")
    kb = Store(settings).kb("default", create=True)
    kb.ingest_file(contract_pdf)
    kb.ingest_file(pump_note)
    app.switch_page("pages/fine_tuning.py").run()
    app.radio(key="ft_style").set_value("raft").run()
    app.file_uploader[0].set_value(("qa.jsonl", b'{"question": "How long does the agreement last?", '
                                                b'"answer": "nine years", "source": "pump_note.txt"}\n',
                                    "application/json")).run()
    answers = []
    for ticked in (False, True):
        app.checkbox(key="ft_oracle_passage").set_value(ticked).run()
        app.button[0].click().run()
        assert not app.exception
        [example] = [json.loads(line) for line in Path(app.session_state["ft_data"]).read_text().splitlines()]
        answers.append(example["answer"])
    assert answers[0] == "I don't know." and answers[1].startswith("nine years [")
    assert "pump" in example["passages"][int(answers[1].rsplit("[", 1)[1].rstrip("]")) - 1]


def test_raft_data_on_the_fine_tuning_page_can_quote_the_answers_sentence_first(app, settings, contract_pdf):
    """The page's third checkbox: each target quotes the sentence that states the answer,
    then gives the answer after REASON_MARK."""
    from adapters.datasets import REASON_MARK

    Store(settings).kb("default", create=True).ingest_file(contract_pdf)
    app.switch_page("pages/fine_tuning.py").run()
    app.radio(key="ft_style").set_value("raft").run()
    app.file_uploader[0].set_value(("qa.jsonl", b'{"question": "Within how many days are invoices payable?", '
                                                b'"answer": "forty five days"}\n', "application/json")).run()
    app.checkbox(key="ft_reason").set_value(True).run()
    app.button[0].click().run()
    assert not app.exception
    [example] = [json.loads(line) for line in Path(app.session_state["ft_data"]).read_text().splitlines()]
    quote, answer = example["answer"].split(REASON_MARK)
    assert answer == "forty five days" and "forty five days" in quote and quote.endswith("]")


def test_training_upload_with_a_hostile_name_stays_in_the_data_folder(app, settings):
    app.switch_page("pages/fine_tuning.py").run()
    rows = b'{"question": "How long does the agreement last?", "answer": "seven years"}\n{broken\n'
    app.file_uploader[0].set_value(("../../" + "x" * 300 + ".jsonl", rows, "application/json")).run()
    assert not app.exception
    assert any("line 2" in e.value for e in app.error)  # the broken line is named
    stored = list((settings.uploads_dir / "training").iterdir())
    assert len(stored) == 1 and len(stored[0].name) <= 200 and stored[0].suffix == ".jsonl"
    assert not (settings.data_dir.parent / "x.jsonl").exists()
