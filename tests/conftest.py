"""Shared fixtures. Knowledge-base tests marked `stores` run twice: against the embedded
Chroma and against a real Chroma server (`chroma run`, started once per session on a
free port); each server-backed test gets a database of its own, so tests never see each
other's data. The file locks stay in each test's own data folder, as in a deployment."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The SmolLM2 GGUF is converted once (~30 s) and reused by every test and later runs.
os.environ.setdefault("DOCENT_MODELS_DIR", str(Path(__file__).resolve().parent.parent / "data" / "models"))

from core.config import Settings  # noqa: E402
from core.models import resolve_generator_path  # noqa: E402
from knowledge.store import Store  # noqa: E402
from tests.fixtures import write_contract_pdf, write_flate_bomb_pdf  # noqa: E402

CHROMA_BACKENDS = ("embedded", "server")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stores: run against the embedded Chroma and a Chroma server")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `stores` get both backends; all others the embedded one only."""
    if "chroma_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("stores"):
        metafunc.parametrize("chroma_backend", CHROMA_BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def chroma_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "embedded")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chroma_cli() -> str | None:
    beside_python = Path(sys.executable).parent / "chroma"
    return str(beside_python) if beside_python.exists() else shutil.which("chroma")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server for the session; its URL. A missing CLI or a server that does
    not answer fails the server tests (never skips them): CI must prove both backends."""
    cli = _chroma_cli()
    if cli is None:
        pytest.fail("the `chroma` command is missing (it comes with the chromadb package, in .venv/bin): "
                    "the Chroma-server tests cannot run")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([cli, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`chroma run` exited with code {proc.returncode} before it answered:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`chroma run` did not answer its heartbeat at {url} within 60 s:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def new_server_database(url: str) -> str:
    """A fresh, empty database on the server: one per test, so tests never share data."""
    from urllib.parse import urlparse

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parsed = urlparse(url)
    admin = chromadb.AdminClient(ChromaSettings(chroma_api_impl="chromadb.api.fastapi.FastAPI",
                                                chroma_server_host=parsed.hostname,
                                                chroma_server_http_port=parsed.port, anonymized_telemetry=False))
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin.create_database(name)
    return name


def make_settings(data_dir: Path, backend: str, request: pytest.FixtureRequest, **kw) -> Settings:
    if backend == "server":
        url = request.getfixturevalue("chroma_server")
        kw.update(chroma_url=url, chroma_database=new_server_database(url))
    else:
        kw.update(chroma_url="")  # embedded, even with DOCENT_CHROMA_URL in the environment
    return Settings(data_dir=data_dir, **kw)


@pytest.fixture
def settings(tmp_path: Path, chroma_backend: str, request: pytest.FixtureRequest) -> Settings:
    return make_settings(tmp_path / "data", chroma_backend, request, embed_batch_size=16)


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings)


@pytest.fixture
def contract_pdf(tmp_path: Path) -> Path:
    return write_contract_pdf(tmp_path / "supply_contract.pdf")


@pytest.fixture
def pump_note(tmp_path: Path) -> Path:
    """A note that answers "How long ...?" with "nine years" in words retrieval ranks below
    the contract's term clause: an oracle that retrieval misses."""
    note = tmp_path / "pump_note.txt"
    note.write_text("Maintenance note. The pump's warranty runs for nine years from installation.\n")
    return note


@pytest.fixture
def context_without_seven(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sentences chosen for the model never hold the word "seven" (the contract's term,
    "seven years"): the oracle passage is retrieved but its chosen sentences miss the answer."""
    import core.answer
    from core.text import sentences

    real = core.answer.select_context

    def missing_the_answer(query, hits, settings):
        context = real(query, hits, settings)
        context.passages = [" ".join(s for s in sentences(p) if "seven" not in s.lower()) for p in context.passages]
        return context

    monkeypatch.setattr(core.answer, "select_context", missing_the_answer)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer: trains in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_generator_path(Settings()))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         initializer_range=0.5)  # large embeddings: logits that can move at all
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smollm2_adapter(tmp_path_factory) -> Path:
    """A real LoRA adapter on SmolLM2 (one training step: enough to exercise every mode).
    Returns the registered adapter folder; `install_adapter` copies it into a test's data."""
    from adapters import train as training
    from adapters.datasets import Example, write_examples

    root = tmp_path_factory.mktemp("smollm2-adapter")
    settings = Settings(data_dir=root / "data")
    data = root / "qa.jsonl"
    write_examples([Example("How long does the agreement last?", "seven years"),
                    Example("What is the unit price of one box of gloves?", "14 euros and 20 cents")], data)
    config = training.TrainConfig(name="contract-qa", data=str(data), max_steps=1, batch_size=2)
    info = training.run(training.new_run(config, settings), settings)
    return Path(info.path)


@pytest.fixture(scope="session")
def flate_bomb_pdf(tmp_path_factory) -> Path:
    """A 2 MB PDF whose second page inflates to 400 MB (written once per session: ~1 s)."""
    return write_flate_bomb_pdf(tmp_path_factory.mktemp("bomb") / "bomb.pdf")
