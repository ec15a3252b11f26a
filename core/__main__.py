"""The command line over the same core the app uses.

    python -m core kbs [--create NAME] [--json]
    python -m core ingest PATH... [--kb NAME]
    python -m core docs [--kb NAME] [--json]
    python -m core remove NAME_OR_ID [--kb NAME]
    python -m core ask "QUESTION" [--kb NAME] [--mode rag|finetuned|hybrid|base|plain] [--adapter NAME] [--json]
    python -m core eval DATASET.jsonl [--kb NAME] [--modes rag,finetuned,hybrid,base,plain] [--adapter NAME]
    python -m core dataset (--from-kb NAME | --from-file F) [--style qa|raft] --out FILE.jsonl
    python -m core train --data FILE.jsonl --name NAME [--style qa|raft] [--epochs N] [--max-steps N]
    python -m core adapters [--json] [--activate NAME] [--delete NAME]
    python -m core doctor [--repair] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from adapters.datasets import TrainingDataError
from adapters.registry import AdapterError
from adapters.train import ATTENTION_MODULES, TrainConfig
from core.config import Settings, get_settings
from core.evaluate import DatasetError
from knowledge.store import IngestResult, KnowledgeBaseError, Store


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given, folders walked recursively (hidden files skipped), sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def ingest_paths(store: Store, kb_name: str, files: list[Path], show_progress: bool = True) -> list[IngestResult]:
    """Ingest files one by one, printing one line per file as it finishes."""
    from tqdm import tqdm

    kb = store.kb(kb_name, create=True)
    results = []
    overall = tqdm(total=len(files), unit="file", desc=f"ingest into '{kb.name}'", disable=not show_progress,
                   file=sys.stderr, leave=False)
    for path in files:
        bar = tqdm(unit="chunk", desc=path.name[:40], disable=not show_progress, file=sys.stderr, leave=False)

        def progress(done: int, total: int, bar=bar) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = kb.ingest_file(path, progress=progress)
        bar.close()
        overall.update(1)
        tqdm.write(result.line(), file=sys.stdout)
        results.append(result)
    overall.close()
    return results


def summary_line(results: list[IngestResult], seconds: float) -> str:
    counts = Counter(r.status for r in results)
    new = [r for r in results if r.status in ("added", "replaced")]
    pages, chunks = sum(r.pages for r in new), sum(r.chunks for r in new)
    parts = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("added", "replaced", "unchanged", "failed"))
    rate = f"; {pages / seconds:.1f} pages/s, {chunks / seconds:.1f} chunks/s" if new and seconds > 0 else ""
    return f"{len(results)} files: {parts} in {seconds:.1f} s{rate}"


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    files = expand_paths(args.paths)
    if not files:
        print("no files found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = ingest_paths(Store(settings), args.kb or settings.default_kb, files, show_progress=not args.quiet)
    print(summary_line(results, time.perf_counter() - started))
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    kb = Store(settings).kb(args.kb or settings.default_kb)
    docs = kb.documents()
    if args.json:
        print(json.dumps({"kb": kb.name, "embedder": kb.embedder_id, "documents": [d.to_dict() for d in docs]},
                         indent=2))
        return 0
    print(f"knowledge base '{kb.name}' ({kb.embedder_id}): {len(docs)} documents")
    for d in docs:
        print(f"  {d.doc_id}  {d.pages:4d} pages {d.chunks:5d} chunks  {d.added_at}  {d.source}")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    info = Store(settings).kb(args.kb or settings.default_kb).remove(args.document)
    print(f"removed {info.source} ({info.doc_id}, {info.chunks} chunks)")
    return 0


def cmd_kbs(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings)
    if args.create:
        store.kb(args.create, create=True)
    names = store.list_kbs()
    if args.json:
        print(json.dumps(names))
    else:
        print("\n".join(names) if names else "no knowledge bases yet (create one with --create NAME)")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from core.answer import Answer, iter_answer

    kb = None if args.mode in ("base", "finetuned") else Store(settings).kb(args.kb or settings.default_kb)
    final: Answer | None = None
    for item in iter_answer(args.question, None, args.mode, kb, settings, args.adapter):
        if isinstance(item, Answer):
            final = item
        elif not args.json:
            print(item, end="", flush=True)
    assert final is not None
    if args.json:
        print(json.dumps(final.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print()
    if final.refused:
        print(f"\n[refused: {final.reason}] {final.text}")
    others = [s for s in final.sources if not s.cited and s.kind == "retrieved"]
    training = [s for s in final.sources if s.kind == "training"]
    for label, sources in (("cited", final.cited_sources), ("also retrieved", others),
                           ("training material behind this answer (not retrieved evidence)", training)):
        if sources:
            print(f"\n{label}:")
        for s in sources:
            print(f"  {s.source} p.{s.page} (score {s.score:.2f}): \"{' '.join(s.sentence.split())}\"")
    print("\ntimings: " + ", ".join(f"{k} {v}" for k, v in final.timings.items()))
    return 0


def run_provenance() -> dict:
    """When, where and from which commit an evaluation ran (the benchmarks record the same)."""
    from datetime import UTC, datetime

    run = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    try:  # the repository's benchmarks package; absent when core is used on its own
        from benchmarks.common import git_commit, machine_info, package_versions
    except ImportError:
        return run
    return run | {"commit": git_commit(), "machine": machine_info(), "versions": package_versions()}


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from adapters.registry import default_adapter
    from core.answer import MODES, answer
    from core.evaluate import format_comparisons, format_table, load_dataset, run_eval

    items = load_dataset(Path(args.dataset))[: args.limit or None]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise KnowledgeBaseError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    store = Store(settings)
    kb = store.kb(args.kb or settings.default_kb)
    # The plain baseline is measured on its own knowledge base when one is given
    # (e.g. built with DOCENT_CHUNK_SIZE=1000 DOCENT_CHUNK_OVERLAP=200).
    baseline_kb = store.kb(args.baseline_kb) if args.baseline_kb else kb
    bar = tqdm(total=len(items) * len(modes), unit="q", file=sys.stderr, disable=args.quiet)
    started = time.perf_counter()
    run = run_provenance()  # at the start: the commit whose code answers (a long run outlives later commits)

    # Resolved once, before the first question: the report names the adapter that answered,
    # and an adapter that finishes training during a long run does not take over halfway.
    adapters = {"finetuned": args.adapter or args.qa_adapter, "hybrid": args.adapter or args.raft_adapter}
    adapters = {mode: name or default_adapter(settings, mode) for mode, name in adapters.items() if mode in modes}

    def answer_fn(question: str, mode: str):
        return answer(question, None, mode, baseline_kb if mode == "plain" else kb, settings, adapters.get(mode))

    def progress(done: int, total: int, mode: str) -> None:
        bar.set_description(mode)
        bar.update(1)

    report = run_eval(items, modes, answer_fn, progress)
    bar.close()
    report["dataset"] = str(args.dataset)
    report["kb"] = kb.name
    report["baseline_kb"] = baseline_kb.name
    report["settings"] = replace(settings).describe()
    report["adapters"] = adapters
    report["run"] = run | {"seconds": round(time.perf_counter() - started, 1)}
    print(format_table(report["summary"]))
    if report["comparisons"]:
        print(format_comparisons(report["comparisons"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"wrote {args.json}")
    return 0


def cmd_dataset(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from adapters.datasets import generate_from_kb, make_raft, read_qa_file, write_examples

    store = Store(settings)
    bar = tqdm(unit="ex", file=sys.stderr, disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.refresh()

    if args.from_file:
        examples = read_qa_file(Path(args.from_file))[: args.limit or None]
    else:
        bar.set_description("generating questions")
        examples = generate_from_kb(store.kb(args.from_kb), settings, limit=args.limit or 200, progress=progress)
    if args.style == "raft":
        kb = store.kb(args.kb or args.from_kb or settings.default_kb)
        bar.set_description("retrieving passages")
        examples = make_raft(examples, kb, settings, drop_oracle=args.drop_oracle, progress=progress,
                             oracle_sentence=args.oracle_sentence, oracle_passage=args.oracle_passage,
                             reason=args.reason)
    bar.close()
    n = write_examples(examples, Path(args.out))
    print(f"wrote {n} {args.style} examples to {args.out}")
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from adapters import train as training

    if args.resume or args.discard:
        run_dir = settings.runs_dir / (args.resume or args.discard)
        if not run_dir.is_dir():
            raise KnowledgeBaseError(f"no training run {run_dir.name}")
        if args.discard:
            training.discard(run_dir)
            print(f"discarded {run_dir.name}")
            return 0
    else:
        if not args.data or not args.name:
            raise KnowledgeBaseError("train needs --data FILE.jsonl and --name NAME (or --resume RUN_ID)")
        config = training.TrainConfig(name=args.name, data=args.data, style=args.style, epochs=args.epochs,
                                      max_steps=args.max_steps, batch_size=args.batch_size,
                                      learning_rate=args.lr, rank=args.rank, alpha=args.alpha, seed=args.seed,
                                      target_modules=args.target_modules, max_length=args.max_length)
        run_dir = training.new_run(config, settings)
    print(f"run {run_dir.name} ({run_dir})", flush=True)
    if args.background:
        pid = training.start_in_background(run_dir)
        print(f"training in the background (pid {pid}); follow it on the Fine-tuning page")
        return 0
    info = training.run(run_dir, settings)
    if info is None:
        print("cancelled; resume with --resume " + run_dir.name)
        return 1
    print(json.dumps(info.to_dict(), indent=2))
    cut = training.read_status(run_dir).get("cut_examples")
    if cut:
        print(f"warning: {cut} training examples were longer than the length limit (--max-length): "
              "their prompts lost their start", file=sys.stderr)
    return 0


def cmd_adapters(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.registry import (
        activate_adapter,
        active_adapter,
        adapter_sentence_forms,
        delete_adapter,
        list_adapters,
    )

    if args.activate:
        activate_adapter(settings, args.activate)
    if args.delete:
        delete_adapter(settings, args.delete)
    infos = list_adapters(settings)
    active = active_adapter(settings)
    if args.json:
        print(json.dumps({"active": active, "adapters": [a.to_dict() for a in infos]}, indent=2))
        return 0
    if not infos:
        print("no adapters yet (python -m core train ...)")
    for a in infos:
        mark = "*" if a.name == active else " "
        forms = ", ".join(sorted(adapter_sentence_forms(a)))
        print(f"{mark} {a.name:24} {a.style:5} {a.steps:5d} steps  train loss {a.train_loss}  "
              f"held-out {a.held_out_loss}  {a.train_seconds:.0f} s  {a.created}"
              + (f"  sentence answers for: {forms}" if forms else ""))
    return 0


def cmd_hash_password(args: argparse.Namespace, settings: Settings) -> int:
    """Print a hash for DOCENT_ADMIN_PASSWORD_HASH, so no plain password sits in the environment."""
    import getpass

    from core.auth import hash_password

    password = getpass.getpass("Admin password: ")
    if not password or password != getpass.getpass("Again: "):
        print("error: empty, or the two entries differ", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check the data folder, the store and the adapters; with --repair fix what is safe."""
    from knowledge.health import check, repair

    report = check(settings)
    done: list[str] = []
    if args.repair and not report.ok:
        done = repair(settings, report)
        report = check(settings)
    if args.json:
        print(json.dumps({**report.to_dict(), "repaired": done}, indent=2))
    else:
        for line in done:
            print(f"repaired: {line}")
        for line in report.checked:
            print(f"ok: {line}")
        if not report.ok:
            print(report.message())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Docent: domain Q&A over your documents")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add files or folders to a knowledge base")
    p.add_argument("paths", nargs="+")
    p.add_argument("--kb", help="knowledge base (created when missing; default DOCENT_DEFAULT_KB)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("docs", help="list the documents of a knowledge base")
    p.add_argument("--kb")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("remove", help="remove a document (file name or id) and all its chunks")
    p.add_argument("document")
    p.add_argument("--kb")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("ask", help="answer a question")
    p.add_argument("question")
    p.add_argument("--kb")
    p.add_argument("--mode", default="rag", choices=["rag", "finetuned", "hybrid", "base", "plain"])
    p.add_argument("--adapter", help="adapter for finetuned/hybrid (default: the active or newest one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="score answer modes on a JSONL dataset")
    p.add_argument("dataset")
    p.add_argument("--kb")
    p.add_argument("--baseline-kb", help="knowledge base for the plain baseline (default: --kb)")
    p.add_argument("--modes", default="rag")
    p.add_argument("--json", metavar="OUT")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--adapter", help="one adapter for both finetuned and hybrid")
    p.add_argument("--qa-adapter", help="adapter for the finetuned mode")
    p.add_argument("--raft-adapter", help="adapter for the hybrid mode")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("dataset", help="build training data (JSONL)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-kb", metavar="NAME")
    source.add_argument("--from-file", metavar="F", help="JSONL or CSV with question,answer")
    p.add_argument("--style", choices=["qa", "raft"], default="qa")
    p.add_argument("--kb", help="knowledge base for RAFT passages (default: --from-kb)")
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--drop-oracle", type=float, default=0.2, help="share of RAFT examples without the oracle")
    p.add_argument("--oracle-sentence", action="store_true",
                   help="RAFT: when the chosen sentences of the retrieved oracle miss the answer, add the one that "
                        "states it (instead of skipping the question)")
    p.add_argument("--oracle-passage", action="store_true",
                   help="RAFT: when retrieval misses the answer's passage, put the source document's chunk that "
                        "holds it among the retrieved ones (instead of answering \"I don't know.\")")
    p.add_argument("--reason", action="store_true",
                   help="RAFT: each target quotes the passage sentence that states the answer, then gives it")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_dataset)

    p = sub.add_parser("train", help="train a LoRA adapter")
    p.add_argument("--data")
    p.add_argument("--name")
    p.add_argument("--style", choices=["qa", "raft"], default="qa")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=int, default=32)
    p.add_argument("--max-length", type=int, default=TrainConfig.max_length,
                   help="tokens per example, prompt and answer; a longer prompt loses its start")
    p.add_argument("--target-modules", type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
                   default=list(ATTENTION_MODULES),
                   help="comma-separated linear layers that get LoRA (add gate_proj,up_proj,down_proj for the MLP)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the LoRA initialisation, the held-out split and the example order")
    p.add_argument("--background", action="store_true", help="run in its own process and return")
    p.add_argument("--resume", metavar="RUN_ID")
    p.add_argument("--discard", metavar="RUN_ID")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("adapters", help="list, activate or delete adapters")
    p.add_argument("--json", action="store_true")
    p.add_argument("--activate", metavar="NAME")
    p.add_argument("--delete", metavar="NAME")
    p.set_defaults(func=cmd_adapters)

    p = sub.add_parser("doctor", help="check the data folder, the store and the adapters (--repair fixes them)")
    p.add_argument("--repair", action="store_true", help="move damaged things aside, drop half-written documents")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("kbs", help="list (or create) knowledge bases")
    p.add_argument("--create", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kbs)

    p = sub.add_parser("hash-password", help="print a hash to put in DOCENT_ADMIN_PASSWORD_HASH")
    p.set_defaults(func=cmd_hash_password)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, get_settings())
    except (KnowledgeBaseError, DatasetError, AdapterError, TrainingDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
