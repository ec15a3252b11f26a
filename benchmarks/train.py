"""LoRA training cost: step time, examples/s, adapter size on disk, peak memory.

    .venv/bin/python -m benchmarks.train [--styles qa,raft] [--examples 44] [--steps 5]
        [--qa-data data/bench/covidqa/train.jsonl] [--raft-data data/bench/covidqa/raft.jsonl] [--keep]

The default TrainConfig (rank 16, alpha 32, q/k/v/o, batch 8 as two micro-batches of
4, max length 1024, float32, one thread) on the real SmolLM2-135M, through the
production `adapters.train.new_run` + `run`, into a scratch data folder. A few steps on
a small sample (the first 44 examples: 4 held out, 40 trained = 5 full steps, one
epoch) give the per-step cost; a full run costs about steps x that. Both styles by
default: Q&A (short closed-book prompts, the `finetuned` mode's adapters) and RAFT
(question + retrieved passages, the `hybrid` mode's adapters), each in its own process
so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import PeakSampler, Run, dir_size_mb, markdown_table, peak_rss_mb, percentile, temp_dir


def measure(style: str, data: Path, n_examples: int, steps: int, keep: bool) -> dict:
    from adapters import train as training
    from adapters.datasets import read_qa_file, write_examples
    from core.config import Settings

    examples = read_qa_file(data)[:n_examples]
    with temp_dir(f"bench-train-{style}-", keep=keep) as data_dir:
        settings = Settings(data_dir=data_dir)
        sample = data_dir / "sample.jsonl"
        write_examples(examples, sample)
        run_dir = training.new_run(training.TrainConfig(name="bench", data=str(sample), style=style,
                                                        max_steps=steps), settings)
        config = training.TrainConfig(**json.loads((run_dir / "config.json").read_text()))
        lengths = token_lengths(config, examples)
        started = time.perf_counter()
        with PeakSampler() as mem:
            info = training.run(run_dir, settings)
        total = time.perf_counter() - started
        progress = training.read_progress(run_dir)
        adapter_dir = settings.adapters_dir / "bench"
        adapter = {"dir_mb": dir_size_mb(adapter_dir),
                   "weights_mb": round((adapter_dir / "adapter_model.safetensors").stat().st_size / 2**20, 2),
                   "files": sorted(p.name for p in adapter_dir.iterdir())}
    # `elapsed` is cumulative from the start of run(): step 1 also loads the model and tokenises.
    elapsed = [p["elapsed"] for p in progress]
    steps_s = np.diff(elapsed).tolist()
    train_n = info.data["train"]
    per_epoch = -(-train_n // config.batch_size)
    rows = [min(config.batch_size, train_n - (i % per_epoch) * config.batch_size) for i in range(len(progress))]
    return {
        "style": style, "data": str(data), "examples": len(examples), "train_examples": train_n,
        "held_out_examples": info.data["held_out"], "steps": len(progress), "examples_per_step": rows,
        "total_seconds": round(total, 1), "first_step_done_s": elapsed[0] if elapsed else None,
        "step_seconds": {"after_first": [round(s, 2) for s in steps_s],
                         "mean": round(float(np.mean(steps_s)), 2) if steps_s else None,
                         "p50": percentile(steps_s, 50)},
        "examples_per_s": round(sum(rows[1:]) / sum(steps_s), 3) if steps_s else None,
        "tokens_per_example": {"mean": round(float(np.mean(lengths)), 1), "max": int(max(lengths))},
        "train_loss": info.train_loss, "held_out_loss": info.held_out_loss, "adapter": adapter,
        "memory_mb": {"peak_sampled_during_run": round(mem.peak_mb, 1), "process_ru_maxrss": peak_rss_mb()},
        "train_config": {k: v for k, v in vars(config).items() if k not in ("data", "name")},
    }


def token_lengths(config, examples) -> list[int]:
    """Tokens per training example (prompt + answer, truncated as training does)."""
    from transformers import AutoTokenizer

    from adapters.train import encode

    tokenizer = AutoTokenizer.from_pretrained(config.model_path)
    return [len(encode(tokenizer, e, config.max_length)[0]) for e in examples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default="qa,raft")
    parser.add_argument("--qa-data", default="data/bench/covidqa/train.jsonl")
    parser.add_argument("--raft-data", default="data/bench/covidqa/raft.jsonl")
    parser.add_argument("--examples", type=int, default=44, help="first N examples of each file")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps (0: one epoch)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data folders")
    parser.add_argument("--one", choices=["qa", "raft"], help=argparse.SUPPRESS)  # internal: one style, print JSON
    args = parser.parse_args(argv)
    # The converted SmolLM2 is shared: never convert it again into a scratch folder.
    os.environ.setdefault("DOCENT_MODELS_DIR", str(Path("data/models").resolve()))
    data = {"qa": Path(args.qa_data), "raft": Path(args.raft_data)}
    if args.one:
        print("RESULT " + json.dumps(measure(args.one, data[args.one], args.examples, args.steps, args.keep)))
        return 0

    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    run = Run("train", {"styles": styles, "data": {s: str(data[s]) for s in styles}, "examples": args.examples,
                        "steps": args.steps, "torch_threads": os.environ.get("DOCENT_TORCH_THREADS", "1")})
    results, skipped = {}, {}
    for style in styles:
        if not data[style].exists():
            skipped[style] = f"no training data at {data[style]}"
            continue
        cmd = [sys.executable, "-m", "benchmarks.train", "--one", style, "--examples", str(args.examples),
               "--steps", str(args.steps), f"--{style}-data", str(data[style])]
        out = subprocess.run(cmd + (["--keep"] if args.keep else []), stdout=subprocess.PIPE, text=True,
                             check=True).stdout
        results[style] = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    rows = [[s, f"{r['train_examples']}/{r['held_out_examples']}", r["steps"], r["train_config"]["batch_size"],
             r["step_seconds"]["mean"], r["examples_per_s"], r["tokens_per_example"]["mean"],
             r["adapter"]["weights_mb"], r["memory_mb"]["peak_sampled_during_run"], r["total_seconds"]]
            for s, r in results.items()]
    rows += [[s, "skipped: " + why] + [None] * 8 for s, why in skipped.items()]
    table = markdown_table(["style", "train/held out", "steps", "batch", "s/step", "examples/s", "tokens/example",
                            "adapter MB", "peak RSS MB", "total s"], rows)
    run.finish({"styles": results, "skipped": skipped, "notes": [
        "s/step: mean of steps 2..N (step 1 also loads the model and tokenises the data)",
        "examples/s: examples of steps 2..N / their seconds",
        "total s: training run() as a whole: model load, steps, held-out loss, saving the adapter",
        "tokens/example: prompt + answer after truncation to max_length, as training feeds them",
        "each style in its own process: peak RSS sampled during run() is that style's alone"]}, [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
