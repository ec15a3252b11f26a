from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The SmolLM2 GGUF is converted once (~30 s) and reused by every test and later runs.
os.environ.setdefault("DOCENT_MODELS_DIR", str(Path(__file__).resolve().parent.parent / "data" / "models"))

from core.config import Settings  # noqa: E402
from knowledge.store import Store  # noqa: E402
from tests.fixtures import write_contract_pdf  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", embed_batch_size=16)


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings)


@pytest.fixture
def contract_pdf(tmp_path: Path) -> Path:
    return write_contract_pdf(tmp_path / "supply_contract.pdf")
