from __future__ import annotations

import os
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", embed_batch_size=16)


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings)


@pytest.fixture
def contract_pdf(tmp_path: Path) -> Path:
    return write_contract_pdf(tmp_path / "supply_contract.pdf")


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
def flate_bomb_pdf(tmp_path_factory) -> Path:
    """A 2 MB PDF whose second page inflates to 400 MB (written once per session: ~1 s)."""
    return write_flate_bomb_pdf(tmp_path_factory.mktemp("bomb") / "bomb.pdf")
