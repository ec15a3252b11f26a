"""Answer latency per mode: time to first token, tokens/s, end-to-end p50/p95, peak memory.

    .venv/bin/python -m benchmarks.answer [--data data/bench/covidqa/eval.jsonl] [--n 20]
        [--data-dir data/bench/store] [--kb covidqa] [--baseline-kb covidqa-plain]
        [--qa-adapter covid-qa] [--raft-adapter covid-raft] [--modes rag,hybrid,finetuned,base,plain]

Every question goes through `core.answer.iter_answer`, the path the chat page, the CLI
and `eval` use, for each mode in turn (as `python -m core eval` passes them: the Q&A
adapter for `finetuned`, the RAFT adapter for `hybrid`, the plain baseline knowledge
base for `plain`). One warm-up question per mode loads its models and is not counted.
A mode whose knowledge base or adapter is missing is skipped with a note.

Time to first token and tokens/s are over the answers the model generated; an answer
refused before generation (no relevant passage) has neither and is counted apart.
tokens/s = generated tokens (the answer re-tokenised) / generation seconds (prefill
included); decode tokens/s leaves the prefill out: (tokens - 1) / (generation seconds -
(first token - retrieval seconds)).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.common import PeakSampler, Run, latency_summary, markdown_table, percentile, rss_mb


def run_mode(questions: list[str], warmup: str, mode: str, kb, settings, adapter: str | None) -> dict:
    from core.answer import Answer, iter_answer

    def ask(question: str) -> tuple[Answer, float, float | None]:
        started = time.perf_counter()
        first_piece = None
        final = None
        for item in iter_answer(question, None, mode, kb, settings, adapter):
            if isinstance(item, Answer):
                final = item
            elif first_piece is None:
                first_piece = time.perf_counter() - started
        assert final is not None
        return final, time.perf_counter() - started, first_piece

    started = time.perf_counter()
    ask(warmup)
    warmup_seconds = time.perf_counter() - started
    totals, first_tokens, rates, decode_rates, tokens, retrieval = [], [], [], [], [], []
    refused_early = refused = 0
    with PeakSampler() as mem:
        for n, question in enumerate(questions, start=1):
            final, seconds, _ = ask(question)
            totals.append(seconds)
            t = final.timings
            refused += final.refused
            if "retrieval" in t:
                retrieval.append(t["retrieval"])
            if "first_token" not in t:
                refused_early += 1
                continue
            first_tokens.append(t["first_token"])
            tokens.append(t.get("tokens", 0))
            if t.get("generation"):
                rates.append(t.get("tokens", 0) / t["generation"])
                # decode only: generation minus the prefill (first token minus what came before generation)
                decode = t["generation"] - (t["first_token"] - t.get("retrieval", 0.0))
                if t.get("tokens", 0) > 1 and decode > 0:
                    decode_rates.append((t["tokens"] - 1) / decode)
            print(f"{mode} {n}/{len(questions)}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return {"adapter": adapter, "questions": len(questions), "warmup_seconds": round(warmup_seconds, 2),
            "end_to_end": latency_summary(totals), "first_token": latency_summary(first_tokens),
            "retrieval": latency_summary(retrieval) if retrieval else None,
            "tokens_per_s": {"p50": percentile(rates, 50), "mean": round(sum(rates) / len(rates), 2) if rates
                             else None},
            "decode_tokens_per_s": {"p50": percentile(decode_rates, 50)},
            "tokens_per_answer_mean": round(sum(tokens) / len(tokens), 1) if tokens else None,
            "refused_before_generation": refused_early, "refused": refused,
            "peak_rss_mb": round(mem.peak_mb, 1), "rss_after_mb": rss_mb()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/bench/covidqa/eval.jsonl")
    parser.add_argument("--n", type=int, default=20, help="questions per mode (the first N of the file)")
    parser.add_argument("--data-dir", default="data/bench/store")
    parser.add_argument("--kb", default="covidqa")
    parser.add_argument("--baseline-kb", default="covidqa-plain", help="knowledge base of the plain mode")
    parser.add_argument("--qa-adapter", default="covid-qa", help="adapter of the finetuned mode")
    parser.add_argument("--raft-adapter", default="covid-raft", help="adapter of the hybrid mode")
    parser.add_argument("--modes", default="rag,hybrid,finetuned,base,plain")
    args = parser.parse_args(argv)

    from adapters.registry import AdapterError, get_adapter
    from core.config import Settings
    from core.evaluate import load_dataset
    from knowledge.store import Store

    if not Path(args.data).exists():
        print(f"no dataset at {args.data} (python -m benchmarks.prepare_covidqa makes it)", file=sys.stderr)
        return 2
    items = load_dataset(Path(args.data))
    questions = [item.question for item in items[: args.n]]
    warmup = items[-1].question if len(items) > args.n else questions[0]
    os.environ.setdefault("DOCENT_MODELS_DIR", str(Path(args.data_dir) / "models"))
    settings = Settings(data_dir=Path(args.data_dir))
    run = Run("answer", {**settings.describe(), "dataset": args.data, "n": len(questions), "kb": args.kb,
                         "baseline_kb": args.baseline_kb, "qa_adapter": args.qa_adapter,
                         "raft_adapter": args.raft_adapter})
    store = Store(settings)
    kbs = store.list_kbs()
    adapters = {"finetuned": args.qa_adapter, "hybrid": args.raft_adapter}
    kb_of = {"rag": args.kb, "hybrid": args.kb, "plain": args.baseline_kb}
    modes, skipped = {}, {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode in kb_of and kb_of[mode] not in kbs:
            skipped[mode] = f"no knowledge base '{kb_of[mode]}' in {args.data_dir}"
            continue
        if mode in adapters:
            try:
                get_adapter(settings, adapters[mode])
            except AdapterError as exc:
                skipped[mode] = str(exc)
                continue
        kb = store.kb(kb_of[mode]) if mode in kb_of else None
        modes[mode] = run_mode(questions, warmup, mode, kb, settings, adapters.get(mode))
    rows = [[m + (f" ({r['adapter']})" if r["adapter"] else ""), r["questions"], r["first_token"]["p50_ms"],
             r["tokens_per_s"]["p50"], r["decode_tokens_per_s"]["p50"], r["end_to_end"]["p50_ms"],
             r["end_to_end"]["p95_ms"],
             r["refused_before_generation"], r["peak_rss_mb"]] for m, r in modes.items()]
    rows += [[m, "skipped: " + why, None, None, None, None, None, None, None] for m, why in skipped.items()]
    table = markdown_table(["mode", "questions", "first token p50 ms", "tokens/s p50", "decode tokens/s p50",
                            "end-to-end p50 ms",
                            "end-to-end p95 ms", "refused before generation", "peak RSS MB"], rows)
    run.finish({"modes": modes, "skipped": skipped,
                "notes": ["iter_answer, one question at a time, modes in turn in one process (models stay loaded)",
                          "first token: from the call to the first generated piece (retrieval included)",
                          "tokens/s: tokens / generation s (prefill included); decode tokens/s: (tokens - 1) / "
                          "(generation s - prefill s)",
                          "peak RSS per mode: sampled while that mode ran (models of earlier modes stay loaded)"]},
               [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
