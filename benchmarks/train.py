"""LoRA training cost: step time, examples/s, adapter size on disk, peak memory.

    .venv/bin/python -m benchmarks.train [--data data/bench/covidqa/train.jsonl] [--examples 40]
        [--steps 5] [--style qa|raft] [--keep]

The default TrainConfig (rank 16, alpha 32, q/k/v/o, batch 8 as two micro-batches of
4, max length 384, float32, one thread) on the real SmolLM2-135M, through the
production `adapters.train.new_run` + `run` in this process, into a scratch data folder.
A few steps on a small sample (default: the first 40 examples, 10% held out, 5 steps,
one epoch) give the per-step cost; a full run costs about steps x that. `--style raft`
with data/bench/covidqa/raft.jsonl measures the longer RAFT prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import PeakSampler, Run, dir_size_mb, markdown_table, peak_rss_mb, percentile, temp_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/bench/covidqa/train.jsonl")
    parser.add_argument("--examples", type=int, default=40, help="first N examples of the file")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps (0: one epoch)")
    parser.add_argument("--style", choices=["qa", "raft"], default="qa")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data folder")
    args = parser.parse_args(argv)

    from adapters import train as training
    from adapters.datasets import read_qa_file, write_examples
    from core.config import Settings

    if not Path(args.data).exists():
        print(f"no training data at {args.data}", file=sys.stderr)
        return 2
    # The converted SmolLM2 is shared: never convert it again into the scratch folder.
    os.environ.setdefault("DOCENT_MODELS_DIR", str(Path("data/models").resolve()))
    examples = read_qa_file(Path(args.data))[: args.examples]
    with temp_dir("bench-train-", keep=args.keep) as data_dir:
        settings = Settings(data_dir=data_dir)
        sample = data_dir / "sample.jsonl"
        write_examples(examples, sample)
        config = training.TrainConfig(name="bench", data=str(sample), style=args.style, max_steps=args.steps)
        run_dir = training.new_run(config, settings)
        config = training.TrainConfig(**json.loads((run_dir / "config.json").read_text()))
        run = Run("train", {"train_config": {k: v for k, v in vars(config).items() if k not in ("data",)},
                            "data": args.data, "examples": len(examples), "steps": args.steps,
                            **{k: v for k, v in settings.describe().items() if k in ("generator_model",
                                                                                     "torch_threads")}})
        lengths = token_lengths(config, examples)
        started = time.perf_counter()
        with PeakSampler() as mem:
            info = training.run(run_dir, settings)
        total = time.perf_counter() - started
        progress = training.read_progress(run_dir)
        adapter_dir = settings.adapters_dir / "bench"
        weights = adapter_dir / "adapter_model.safetensors"
        adapter = {"dir_mb": dir_size_mb(adapter_dir), "weights_mb": round(weights.stat().st_size / 2**20, 2),
                   "files": sorted(p.name for p in adapter_dir.iterdir())}
    # elapsed is cumulative from the start of run(): step 1 includes loading and tokenising
    elapsed = [p["elapsed"] for p in progress]
    steps = np.diff(elapsed).tolist()
    step_mean = float(np.mean(steps)) if steps else None
    result = {
        "steps": len(progress), "train_examples": info.data["train"], "held_out_examples": info.data["held_out"],
        "total_seconds": round(total, 1), "first_step_done_s": elapsed[0] if elapsed else None,
        "step_seconds": {"each_after_first": [round(s, 2) for s in steps], "mean": round(step_mean, 2)
                         if step_mean else None, "p50": percentile(steps, 50)},
        "examples_per_s": round(config.batch_size / step_mean, 3) if step_mean else None,
        "tokens_per_example": {"mean": round(float(np.mean(lengths)), 1), "max": int(max(lengths))},
        "train_loss": info.train_loss, "held_out_loss": info.held_out_loss, "adapter": adapter,
        "peak_rss_mb": {"sampled_during_run": round(mem.peak_mb, 1), "process_ru_maxrss": peak_rss_mb()},
    }
    table = markdown_table(
        ["style", "examples (train/held out)", "steps", "batch", "s/step", "examples/s", "tokens/example",
         "adapter MB", "peak RSS MB", "total s"],
        [[args.style, f"{info.data['train']}/{info.data['held_out']}", len(progress), config.batch_size,
          result["step_seconds"]["mean"], result["examples_per_s"], result["tokens_per_example"]["mean"],
          adapter["weights_mb"], result["peak_rss_mb"]["sampled_during_run"], result["total_seconds"]]])
    run.finish({**result, "notes": [
        "s/step: mean of steps 2..N (step 1 also loads the model and tokenises the data)",
        "examples/s = batch size / s/step", "total s includes model load, held-out loss and saving the adapter",
        "tokens/example: prompt + answer after truncation to max_length, as training feeds them"]}, [table])
    return 0


def token_lengths(config, examples) -> list[int]:
    """Tokens per training example (prompt + answer, truncated as training does)."""
    from transformers import AutoTokenizer

    from adapters.train import encode

    tokenizer = AutoTokenizer.from_pretrained(config.model_path)
    return [len(encode(tokenizer, e, config.max_length)[0]) for e in examples]


if __name__ == "__main__":
    sys.exit(main())
