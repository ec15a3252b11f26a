"""A damaged or missing data folder at start-up: a clear message and a way out
(`check_startup` for the app, `python -m core doctor [--repair]`), never a traceback."""

from __future__ import annotations

import json
import os
import select
import signal
import tempfile
from pathlib import Path

import pytest

from core.__main__ import main
from core.config import Settings
from knowledge import loaders
from knowledge.health import check, check_startup, repair
from knowledge.store import Store, StoreUnavailableError, forget_client
from tests.fixtures import settings_environ


def _filled(settings: Settings, contract_pdf: Path) -> str:
    """A knowledge base with one document; the process then 'restarts' (Chroma's
    in-process client is dropped), as the app would after a crash."""
    kb = Store(settings).kb("legal", create=True)
    result = kb.ingest_file(contract_pdf)
    assert result.status == "added"
    forget_client(str(settings.chroma_dir))
    return result.doc_id


def _doctor(monkeypatch, capsys, settings: Settings, *args: str) -> tuple[int, str]:
    for key, value in settings_environ(settings).items():
        monkeypatch.setenv(key, value)
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_a_healthy_data_folder_passes(settings, contract_pdf, monkeypatch, capsys):
    _filled(settings, contract_pdf)
    assert check_startup(settings).ok and check(settings).ok
    code, out = _doctor(monkeypatch, capsys, settings)
    assert code == 0 and "ok: knowledge base 'legal': 1 document(s), 3 chunk(s)" in out


def test_a_missing_data_folder_is_created(tmp_path):
    settings = Settings(data_dir=tmp_path / "new" / "data", chroma_url="")
    report = check_startup(settings)
    assert report.ok and settings.data_dir.is_dir()
    assert "did not exist, created (empty)" in report.checked[0]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_store_is_named_and_moved_aside(settings, contract_pdf, monkeypatch, capsys, damage):
    _filled(settings, contract_pdf)
    sqlite = settings.chroma_dir / "chroma.sqlite3"
    size = sqlite.stat().st_size
    if damage == "truncated":
        os.truncate(sqlite, size // 3)  # a copy or a disk that stopped half-way
    elif damage == "garbage":
        sqlite.write_bytes(os.urandom(size))
    else:
        sqlite.write_bytes(b"")

    report = check_startup(settings)  # what the app shows instead of a traceback
    assert not report.ok and "the knowledge-base store is damaged" in report.message()
    assert "python -m core doctor --repair" in report.message()
    with pytest.raises(StoreUnavailableError, match="doctor"):
        Store(settings).kb("legal")  # the CLI and pages get a clear error too
    code, out = _doctor(monkeypatch, capsys, settings)
    assert code == 1 and "damaged" in out

    code, out = _doctor(monkeypatch, capsys, settings, "--repair")
    assert code == 0, out
    moved = list((settings.data_dir / "broken").iterdir())
    assert len(moved) == 1 and (moved[0] / "chroma.sqlite3").exists()  # kept, not deleted
    assert f"repaired: moved {settings.chroma_dir} to {moved[0]}" in out
    store = Store(settings)  # Docent starts with an empty store ...
    assert store.list_kbs() == []
    assert store.kb("legal", create=True).ingest_file(contract_pdf).status == "added"  # ... that works


def test_the_data_folder_is_a_file(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", chroma_url="")
    settings.data_dir.write_text("not a folder")
    report = check_startup(settings)
    assert not report.ok and "the data folder is a file, not a folder" in report.message()
    assert "DOCENT_DATA_DIR" in report.message()
    with pytest.raises(StoreUnavailableError, match="cannot create the knowledge-base store"):
        Store(settings)
    done = repair(settings, report)
    assert done and settings.data_dir.is_dir() and list(tmp_path.glob("data.broken-*"))
    assert check_startup(settings).ok and Store(settings).list_kbs() == []


def test_a_subfolder_that_is_a_file(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", chroma_url="")
    settings.data_dir.mkdir()
    settings.locks_dir.write_text("oops")
    report = check_startup(settings)
    assert [p.where for p in report.problems] == [str(settings.locks_dir)]
    repair(settings, report)
    assert check_startup(settings).ok


def test_an_unwritable_data_folder(tmp_path):
    """Checked by really writing. Root ignores permission bits, so under root the check
    runs in a forked child that has given up root (uid 65534)."""
    folder = Path(tempfile.mkdtemp(prefix="docent-readonly-"))  # under /tmp: others may enter it
    try:
        folder.chmod(0o555)
        settings = Settings(data_dir=folder, chroma_url="")
        message = _check_as_unprivileged(settings) if os.geteuid() == 0 else check_startup(settings).message()
        assert f"{folder}: not writable by this user" in message
        assert "DOCENT_DATA_DIR" in message
    finally:
        folder.chmod(0o755)
        folder.rmdir()


def _check_as_unprivileged(settings: Settings) -> str:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, check, report through the pipe
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, check_startup(settings).message().encode())
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)  # a child stuck after fork must not hang the suite
    if not ready:
        os.kill(pid, signal.SIGKILL)
    with os.fdopen(read, "rb") as fh:
        message = fh.read().decode() if ready else ""
    os.waitpid(pid, 0)
    assert message, "the unprivileged check did not answer"
    return message


def test_a_damaged_adapter_registry(tmp_path, monkeypatch, capsys):
    settings = Settings(data_dir=tmp_path / "data", chroma_url="")
    adapters = settings.adapters_dir
    (adapters / "half").mkdir(parents=True)
    (adapters / "half" / "docent.json").write_text('{"name": "half", "base_mo')  # cut off mid-write
    (adapters / "half" / "adapter_config.json").write_text("{}")
    (adapters / "copied").mkdir()
    (adapters / "copied" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "other/llm"}))
    (adapters / "active.json").write_text("{garbage")
    report = check_startup(settings)
    messages = "\n".join(p.message for p in report.problems)
    assert len(report.problems) == 3, report.message()
    assert "a peft adapter made outside Docent (for 'other/llm')" in messages
    assert "the adapter's metadata cannot be read" in messages
    assert "the active-adapter choice cannot be used" in messages
    code, out = _doctor(monkeypatch, capsys, settings, "--repair")
    assert code == 0, out
    assert not (adapters / "active.json").exists() and sorted(p.name for p in adapters.iterdir()) == []
    assert len(list((settings.data_dir / "broken").iterdir())) == 2


@pytest.mark.stores
def test_half_written_documents_are_reported_and_removed(settings, contract_pdf):
    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    # what a writer killed half-way leaves: a pending record (tests/test_store.py kills a real one)
    kb.docs.upsert(ids=["deadbeef"], embeddings=[[1.0]], metadatas=[{"status": "pending", "source": "big.pdf"}])
    assert check_startup(settings).ok  # not worth stopping the app for
    report = check(settings)
    assert [p.kind for p in report.problems] == ["recover"] and "big.pdf" in report.problems[0].message
    assert repair(settings, report) == ["removed 1 half-written document(s) from knowledge base 'legal'"]
    assert check(settings).ok and len(kb.documents(include_pending=True)) == 1


def test_documents_an_older_reader_added_are_named_but_not_a_problem(settings, contract_pdf, monkeypatch, capsys):
    _filled(settings, contract_pdf)
    monkeypatch.setattr(loaders, "READER_VERSION", loaders.READER_VERSION + 1)
    assert check(settings).ok  # they answer as before
    code, out = _doctor(monkeypatch, capsys, settings)
    assert code == 0 and "1 read by an older reader or other chunk settings (supply_contract.pdf)" in out


def test_an_unreachable_chroma_server(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", chroma_url="http://127.0.0.1:9")  # nothing listens there
    report = check_startup(settings)
    assert not report.ok and "cannot use the Chroma server at http://127.0.0.1:9" in report.message()
    assert "DOCENT_CHROMA_URL" in report.message() and not report.problems[0].repair


def test_a_missing_server_database_is_named(chroma_server, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma_server, chroma_database="no_such_database")
    report = check_startup(settings)
    assert not report.ok and "database 'no_such_database'" in report.message()
