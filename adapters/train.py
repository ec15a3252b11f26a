"""LoRA training with peft, in a process of its own.

A run lives in `DATA/runs/RUN_ID/`: `config.json` (what to train), `status.json`
(state, step, pid), `progress.jsonl` (one line per step: loss, elapsed, eta),
`checkpoint/` (adapter + optimizer + step, written atomically every few steps) and
`log.txt`. Pages and the CLI only read that folder, so a page reload or a second admin
sees the same run. A `cancel` file stops the run at the next step (checkpoint kept).
An interrupted run (killed, machine restarted) resumes from its checkpoint or is
discarded; only a finished run writes an adapter, atomically, into the registry.

The loop is a short explicit one (nanoGPT style) rather than transformers' Trainer:
it is what makes checkpoint-resume, cancel and per-step progress files plain to read.

    python -m adapters.train RUN_DIR      # run (or resume) the run in RUN_DIR
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.datasets import Example, TrainingDataError, read_qa_file, write_examples
from adapters.registry import AdapterError, AdapterInfo, validate_name
from core.config import Settings, get_settings

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")  # LoRA's default targets
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    name: str
    data: str
    style: str = "qa"  # "qa": closed-book answers (fine-tuned mode); "raft": answers from passages (hybrid)
    base_model: str = ""  # the generator id the adapter belongs to (filled from settings)
    model_path: str = ""  # where its weights are (filled from settings; tests use a tiny model)
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(ATTENTION_MODULES))
    learning_rate: float = 3e-4
    epochs: float = 1.0
    max_steps: int = 0  # 0: as many as the epochs need
    batch_size: int = 8  # examples per optimizer step ...
    micro_batch: int = 4  # ... fed this many at a time (gradients accumulated): half the peak memory
    # Tokens per example, prompt and answer. A RAFT prompt (instructions, a worked example,
    # four passages, the question) runs to ~700 tokens on contracts; a longer one is cut from
    # the front, so the model would learn from a prompt it never sees when it answers (384
    # cut 21% of our COVID-QA RAFT examples and 64% of CUAD's). The run counts cut ones.
    max_length: int = 1024
    held_out: float = 0.1
    seed: int = 0
    checkpoint_every: int = 20
    threads: int = 0  # 0: the setting's torch threads (DOCENT_TORCH_THREADS), filled in when the run is made


MIN_LENGTH = 32  # tokens: below this an example keeps too little of its question to learn from


def new_run(config: TrainConfig, settings: Settings) -> Path:
    """Create a run folder for a config (checked now, so a bad file fails before any work)."""
    validate_name(config.name)
    if (settings.adapters_dir / config.name).exists():
        raise AdapterError(f"an adapter named '{config.name}' exists already; delete it or pick another name")
    if config.max_length < MIN_LENGTH:
        raise TrainingDataError(f"the length limit must be at least {MIN_LENGTH} tokens (an answer and the end "
                                f"of its question), not {config.max_length}")
    examples = read_qa_file(Path(config.data))
    if config.style == "raft" and not any(e.passages for e in examples):
        raise TrainingDataError("RAFT training needs examples with passages (python -m core dataset --style raft)")
    if not config.base_model:
        from core.models import resolve_generator_path

        config.base_model = settings.generator_model
        config.model_path = resolve_generator_path(settings)
    config.threads = config.threads or settings.torch_threads
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{config.name}"
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True)
    write_examples(examples, run_dir / "train.jsonl")  # normalised: the adapter keeps it as provenance
    config.data = str(run_dir / "train.jsonl")
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    _write_status(run_dir, state="queued", step=0, total=0)
    return run_dir


def start_in_background(run_dir: Path) -> int:
    """Run training in its own process (the UI stays responsive and survives reloads)."""
    log = open(run_dir / "log.txt", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "adapters.train", str(run_dir)], stdout=log, stderr=log,
                            cwd=Path(__file__).resolve().parent.parent, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    _write_status(run_dir, **{**read_status(run_dir), "state": "starting", "pid": proc.pid})
    return proc.pid


def _write_status(run_dir: Path, **status: Any) -> None:
    tmp = run_dir / "status.json.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(run_dir / "status.json")


def read_status(run_dir: Path) -> dict[str, Any]:
    """The run's state; a 'running' run whose process is gone is reported 'interrupted'."""
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {"state": "unknown"}
    if status.get("state") in ("running", "starting") and not _alive(status.get("pid")):
        status["state"] = "interrupted"
    return status


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours has exited too
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def read_progress(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "progress.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return rows


def cancel(run_dir: Path) -> None:
    (run_dir / "cancel").touch()


def discard(run_dir: Path) -> None:
    status = read_status(run_dir)
    if status.get("state") in ("running", "starting"):
        raise AdapterError("the run is still going: cancel it first")
    shutil.rmtree(run_dir)


def list_runs(settings: Settings) -> list[tuple[Path, dict[str, Any]]]:
    if not settings.runs_dir.is_dir():
        return []
    return [(d, read_status(d)) for d in sorted(settings.runs_dir.iterdir(), reverse=True) if d.is_dir()]


# --- the training itself ---------------------------------------------------------------

def prompt_messages(example: Example) -> list[dict[str, str]]:
    """The same prompts the answer modes use, so training matches inference."""
    from core.answer import CLOSED_BOOK_PROMPT, build_messages

    if example.style == "raft":
        return build_messages(example.question, example.passages)
    return [{"role": "system", "content": CLOSED_BOOK_PROMPT}, {"role": "user", "content": example.question}]


def tokenize(tokenizer, example: Example) -> tuple[list[int], list[int]]:
    """The prompt's token ids (chat template, as at answer time) and the answer's (with end of text)."""
    prompt = tokenizer.apply_chat_template(prompt_messages(example), add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    end = tokenizer.eos_token or ""
    return prompt_ids, tokenizer(example.answer + end, add_special_tokens=False)["input_ids"]


def encode(tokenizer, example: Example, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; only the answer tokens are learned (the prompt is masked)."""
    return fit(*tokenize(tokenizer, example), max_length)


def fit(prompt_ids: list[int], answer_ids: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """Ids and labels within max_length: a long prompt loses its front (the question at its end stays)."""
    prompt_ids = prompt_ids[-(max_length - min(len(answer_ids), max_length // 2)):]  # keep the question end
    answer_ids = answer_ids[: max_length - len(prompt_ids)]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def _batch(tokenizer, pairs: list[tuple[list[int], list[int]]]):
    import torch

    width = max(len(ids) for ids, _ in pairs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(pairs), width), pad, dtype=torch.long)
    labels = torch.full((len(pairs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for row, (i, lab) in enumerate(pairs):
        ids[row, : len(i)] = torch.tensor(i)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(i)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def split(examples: list[Example], held_out: float, seed: int) -> tuple[list[Example], list[Example]]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_held = int(round(len(examples) * held_out)) if len(examples) >= 10 else 0
    held = [examples[i] for i in order[:n_held]]
    return [examples[i] for i in order[n_held:]], held


def run(run_dir: Path, settings: Settings | None = None) -> AdapterInfo | None:
    """Train (or resume) the run in run_dir; returns the registered adapter, or None when cancelled."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = settings or get_settings()
    config = TrainConfig(**json.loads((run_dir / "config.json").read_text()))
    torch.set_num_threads(max(1, config.threads))
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    status: dict[str, Any] = {"state": "running", "pid": os.getpid(), "step": 0, "total": 0}
    _write_status(run_dir, **status)
    try:
        examples = read_qa_file(Path(config.data))
        train, held = split(examples, config.held_out, config.seed)
        tokenizer = AutoTokenizer.from_pretrained(config.model_path)
        model = AutoModelForCausalLM.from_pretrained(config.model_path, dtype=torch.float32)
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=config.rank, lora_alpha=config.alpha,
                                                 lora_dropout=config.dropout, target_modules=config.target_modules))
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
        per_epoch = math.ceil(len(train) / config.batch_size)
        total = config.max_steps or max(1, math.ceil(config.epochs * per_epoch))
        step, elapsed_before = 0, 0.0
        checkpoint = run_dir / "checkpoint"
        if (checkpoint / "state.pt").exists():  # resume where the last checkpoint left off
            set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
            state = torch.load(checkpoint / "state.pt", weights_only=False)
            optimizer.load_state_dict(state["optimizer"])
            step, elapsed_before = state["step"], state["elapsed"]
            torch.set_rng_state(state["rng"])
        tokens = [tokenize(tokenizer, e) for e in train]
        encoded = [fit(*pair, config.max_length) for pair in tokens]
        cut = sum(len(prompt) + len(answer) > config.max_length for prompt, answer in tokens)
        status.update(total=total, step=step, train_examples=len(train), held_out_examples=len(held),
                      cut_examples=cut)
        _write_status(run_dir, **status)
        model.train()
        loss_value = float("nan")
        with open(run_dir / "progress.jsonl", "a") as progress:
            while step < total:
                if (run_dir / "cancel").exists():
                    _save_checkpoint(model, optimizer, step, elapsed_before + time.perf_counter() - started, run_dir)
                    (run_dir / "cancel").unlink()
                    _write_status(run_dir, **{**status, "state": "cancelled", "step": step})
                    return None
                epoch, index = divmod(step, per_epoch)
                order = list(range(len(encoded)))
                random.Random(config.seed * 1000 + epoch).shuffle(order)
                rows = order[index * config.batch_size: (index + 1) * config.batch_size]
                micro = max(1, min(config.micro_batch, len(rows)))
                loss = 0.0
                for start in range(0, len(rows), micro):
                    part = rows[start: start + micro]
                    part_loss = model(**_batch(tokenizer, [encoded[i] for i in part])).loss * len(part) / len(rows)
                    part_loss.backward()
                    loss += part_loss.detach()
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                loss_value = float(loss)
                elapsed = elapsed_before + time.perf_counter() - started
                eta = (elapsed / step) * (total - step)
                progress.write(json.dumps({"step": step, "total": total, "loss": round(loss_value, 5),
                                           "epoch": round(step / per_epoch, 3), "elapsed": round(elapsed, 2),
                                           "eta": round(eta, 1)}) + "\n")
                progress.flush()
                status.update(step=step, loss=loss_value, eta=round(eta, 1))
                _write_status(run_dir, **status)
                if step % config.checkpoint_every == 0 and step < total:
                    _save_checkpoint(model, optimizer, step, elapsed, run_dir)
        held_loss = evaluate_loss(model, tokenizer, [encode(tokenizer, e, config.max_length) for e in held],
                                  config.batch_size)
        train_seconds = elapsed_before + time.perf_counter() - started
        info = _register(model, config, settings, examples, train, held, step, loss_value, held_loss, train_seconds)
        _write_status(run_dir, **{**status, "state": "completed", "adapter": info.name, "held_out_loss": held_loss})
        shutil.rmtree(checkpoint, ignore_errors=True)
        return info
    except Exception as exc:
        _write_status(run_dir, **{**status, "state": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]})
        raise


def evaluate_loss(model, tokenizer, pairs, batch_size: int) -> float | None:
    import torch

    if not pairs:
        return None
    model.eval()
    losses = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            losses.append(float(model(**_batch(tokenizer, pairs[i: i + batch_size])).loss))
    model.train()
    return round(sum(losses) / len(losses), 5)


def _save_checkpoint(model, optimizer, step: int, elapsed: float, run_dir: Path) -> None:
    """Adapter weights + optimizer + step, swapped in atomically (a kill mid-save keeps the old one)."""
    import torch

    tmp = run_dir / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed,
                "rng": torch.get_rng_state()}, tmp / "state.pt")
    old = run_dir / "checkpoint.old"
    shutil.rmtree(old, ignore_errors=True)
    if (run_dir / "checkpoint").exists():
        (run_dir / "checkpoint").rename(old)
    tmp.rename(run_dir / "checkpoint")
    shutil.rmtree(old, ignore_errors=True)


def _register(model, config: TrainConfig, settings: Settings, examples, train, held, steps: int,
              train_loss: float, held_loss: float | None, seconds: float) -> AdapterInfo:
    """Save the finished adapter with peft's save_pretrained, then move it into place."""
    target = settings.adapters_dir / config.name
    tmp = settings.adapters_dir / f".{config.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    data = Path(config.data).read_bytes()
    shutil.copyfile(config.data, tmp / "train.jsonl")
    hyper = {k: v for k, v in asdict(config).items() if k not in ("name", "data", "base_model", "model_path")}
    info = AdapterInfo(name=config.name, base_model=config.base_model, style=config.style,
                       created=datetime.now(UTC).isoformat(timespec="seconds"),
                       data={"examples": len(examples), "train": len(train), "held_out": len(held),
                             "file": Path(config.data).name, "sha256": hashlib.sha256(data).hexdigest()},
                       hyperparameters=hyper, train_seconds=round(seconds, 1), steps=steps,
                       train_loss=round(train_loss, 5), held_out_loss=held_loss,
                       peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    (tmp / "docent.json").write_text(json.dumps({k: v for k, v in info.to_dict().items() if k != "path"}, indent=2))
    if target.exists():
        raise AdapterError(f"an adapter named '{config.name}' appeared while training; kept the run's checkpoint")
    tmp.rename(target)
    info.path = str(target)
    return info


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: (Path(args[0]) / "cancel").touch())
    info = run(Path(args[0]))
    print(json.dumps(info.to_dict() if info else {"state": "cancelled"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
