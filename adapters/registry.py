"""Adapters on disk: `DATA/adapters/NAME/` holds peft's files (adapter_config.json,
adapter_model.safetensors: any peft user can load them), `docent.json` (metadata) and
`train.jsonl` (the training data, for provenance). `active.json` names the active one."""

from __future__ import annotations

import functools
import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.config import Settings

ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AdapterError(Exception):
    pass


@dataclass
class AdapterInfo:
    name: str
    base_model: str
    style: str
    created: str
    data: dict[str, Any] = field(default_factory=dict)  # examples, train/held-out sizes, file, sha256
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    steps: int = 0
    train_loss: float | None = None
    held_out_loss: float | None = None
    peak_memory_mb: float | None = None
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_name(name: str) -> str:
    if not ADAPTER_NAME.match(name or ""):
        raise AdapterError(f"invalid adapter name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
    return name


def list_adapters(settings: Settings) -> list[AdapterInfo]:
    out = []
    if settings.adapters_dir.is_dir():
        for meta in sorted(settings.adapters_dir.glob("*/docent.json")):
            try:
                out.append(_read(meta))
            except (OSError, ValueError, TypeError):
                continue  # a half-written or foreign folder is not an adapter
    return out


def _read(meta: Path) -> AdapterInfo:
    info = AdapterInfo(**json.loads(meta.read_text()))
    info.path = str(meta.parent)
    return info


def peft_base_model(folder: Path) -> str:
    """The base model a peft adapter folder names in its adapter_config.json ('' if none)."""
    try:
        return str(json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def get_adapter(settings: Settings, name: str) -> AdapterInfo:
    folder = settings.adapters_dir / validate_name(name)
    meta = folder / "docent.json"
    if not meta.exists():
        if (folder / "adapter_config.json").exists():
            raise AdapterError(
                f"adapter '{name}' is a peft adapter made outside Docent, for the base model "
                f"'{peft_base_model(folder) or 'unknown'}'; the configured base model is "
                f"'{settings.generator_model}'. Docent uses the adapters it trained (they carry docent.json)")
        known = ", ".join(a.name for a in list_adapters(settings)) or "none yet"
        raise AdapterError(f"no adapter named '{name}' (available: {known})")
    try:
        info = _read(meta)
    except (OSError, ValueError, TypeError) as exc:
        raise AdapterError(f"adapter '{name}' is damaged: its docent.json cannot be read ({type(exc).__name__}: "
                           f"{exc}); `python -m core doctor --repair` moves it aside") from None
    check_base_model(info, settings)
    return info


def check_base_model(info: AdapterInfo, settings: Settings) -> None:
    """An adapter only fits the base model it was trained on."""
    if info.base_model != settings.generator_model:
        raise AdapterError(f"adapter '{info.name}' was trained on '{info.base_model}', but the configured "
                           f"base model is '{settings.generator_model}'")
    peft_config = Path(info.path) / "adapter_config.json"
    if not peft_config.exists():
        raise AdapterError(f"adapter '{info.name}' has no adapter_config.json: not a peft adapter")


def _train_file(info: AdapterInfo) -> tuple[str, int] | None:
    """The training data kept beside the adapter and its mtime (a name can be trained
    again), or None for an adapter made elsewhere."""
    data = Path(info.path) / "train.jsonl"
    try:
        return str(data), data.stat().st_mtime_ns
    except OSError:
        return None


@functools.cache
def _kept_examples(train_file: str, modified: int) -> tuple[Any, ...]:
    from adapters.datasets import TrainingDataError, read_qa_file

    try:
        return tuple(read_qa_file(Path(train_file)))
    except (OSError, TrainingDataError):
        return ()


@functools.cache
def _sentence_forms(train_file: str, modified: int) -> frozenset[str]:
    from adapters.datasets import sentence_forms

    return sentence_forms(_kept_examples(train_file, modified))


def adapter_reasons(info: AdapterInfo) -> bool:
    """Whether the adapter was trained to quote its sentence before answering
    (`adapters.datasets.with_reason`): its kept training data says so."""
    from adapters.datasets import REASON_MARK

    key = _train_file(info)
    return bool(key) and any(REASON_MARK in e.answer for e in _kept_examples(*key))


def adapter_sentence_forms(info: AdapterInfo) -> frozenset[str]:
    """The question forms whose answers in the adapter's training data are mostly whole
    sentences (`adapters.datasets.sentence_forms`): hybrid answers those with the sentence."""
    key = _train_file(info)
    return _sentence_forms(*key) if key else frozenset()


def delete_adapter(settings: Settings, name: str) -> None:
    folder = settings.adapters_dir / validate_name(name)
    if not folder.exists():
        raise AdapterError(f"no adapter named '{name}'")
    if active_adapter(settings) == name:
        (settings.adapters_dir / "active.json").unlink(missing_ok=True)
    shutil.rmtree(folder)


def activate_adapter(settings: Settings, name: str) -> AdapterInfo:
    info = get_adapter(settings, name)
    (settings.adapters_dir / "active.json").write_text(json.dumps({"name": name}))
    return info


def active_adapter(settings: Settings) -> str | None:
    path = settings.adapters_dir / "active.json"
    try:
        return json.loads(path.read_text())["name"]
    except (OSError, ValueError, KeyError):
        return None


def default_adapter(settings: Settings, mode: str) -> str | None:
    """The adapter a mode uses when none is named: the active one, else the newest of the
    fitting style (RAFT for hybrid, Q&A for fine-tuned)."""
    active = active_adapter(settings)
    if active:
        return active
    wanted = "raft" if mode == "hybrid" else "qa"
    fitting = [a for a in list_adapters(settings) if a.base_model == settings.generator_model]
    preferred = [a for a in fitting if a.style == wanted] or fitting
    return max(preferred, key=lambda a: a.created).name if preferred else None
