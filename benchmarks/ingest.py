"""Ingestion throughput: a folder of documents into a fresh knowledge base, then again unchanged.

    .venv/bin/python -m benchmarks.ingest [FOLDER] [--limit N] [--sample N] [--keep]

FOLDER defaults to ../shared/datasets/cuad/contracts_pdf. The whole of CUAD's 102
PDFs took ~16 minutes on this machine, so by default only the first 40 files (sorted by
name, as the CLI walks a folder) are ingested, which fits in about 10 minutes.

Each file goes through `KnowledgeBase.ingest_file`, the path the app and the CLI use
(load, clean, chunk, embed, write to Chroma all or nothing). We report pages/s and
chunks/s over the whole run, the embedding throughput of `Embedder.embed` alone on a
sample of the stored chunks (how much of the time is the model), the peak memory, and
the time of a second ingest of the same files (every one `unchanged`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import PeakSampler, Run, dir_size_mb, markdown_table, temp_dir

DEFAULT_FOLDER = "../shared/datasets/cuad/contracts_pdf"
DEFAULT_LIMIT = 40


def ingest_all(kb, files: list[Path]) -> tuple[list, float]:
    """Ingest the files one by one (as `python -m core ingest` does); results and seconds."""
    results = []
    started = time.perf_counter()
    for n, path in enumerate(files, start=1):
        result = kb.ingest_file(path)
        results.append(result)
        print(f"[{n}/{len(files)}] {result.line()} {result.seconds:.1f} s", file=sys.stderr, flush=True)
    return results, time.perf_counter() - started


def embedding_throughput(kb, settings, sample: int) -> dict:
    """Chunks/s of Embedder.embed alone, on the embedding texts of stored chunks."""
    from knowledge.store import chunk_from_record

    got = kb.chunks.get(limit=sample, include=["documents", "metadatas"])
    texts = [chunk_from_record(t, m).embedding_text() for t, m in zip(got["documents"], got["metadatas"])]
    if not texts:
        return {"chunks": 0}
    started = time.perf_counter()
    kb.embedder.embed(texts, settings.embed_batch_size)
    seconds = time.perf_counter() - started
    return {"chunks": len(texts), "seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 2),
            "mean_chars": round(sum(map(len, texts)) / len(texts))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="first N files (0: all)")
    parser.add_argument("--sample", type=int, default=256, help="chunks for the embedding-only measurement")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data folder")
    args = parser.parse_args(argv)

    from core.__main__ import expand_paths
    from core.config import Settings
    from knowledge.store import Store

    all_files = expand_paths([args.folder])
    files = all_files[: args.limit or None]
    if not files:
        print(f"no files in {args.folder}", file=sys.stderr)
        return 2
    with temp_dir("bench-ingest-", keep=args.keep) as data_dir:
        settings = Settings(data_dir=data_dir)
        run = Run("ingest", {**settings.describe(), "folder": args.folder, "limit": args.limit,
                             "files": len(files), "files_in_folder": len(all_files)})
        started = time.perf_counter()
        kb = Store(settings).kb("bench", create=True)
        _ = kb.embedder  # load the model outside the timed ingest
        load_seconds = time.perf_counter() - started
        with PeakSampler() as first_mem:
            first, first_seconds = ingest_all(kb, files)
        with PeakSampler() as second_mem:
            second, second_seconds = ingest_all(kb, files)
        embed = embedding_throughput(kb, settings, args.sample)
        disk_mb = dir_size_mb(settings.chroma_dir)
        stored_chunks = kb.count_chunks()

    added = [r for r in first if r.status in ("added", "replaced")]
    pages, chunks = sum(r.pages for r in added), sum(r.chunks for r in added)
    first_run = {"seconds": round(first_seconds, 1), "statuses": dict(Counter(r.status for r in first)),
                 "pages": pages, "chunks": chunks, "pages_per_s": round(pages / first_seconds, 2),
                 "chunks_per_s": round(chunks / first_seconds, 2), "peak_rss_mb": round(first_mem.peak_mb, 1),
                 "failed": {r.source: r.message for r in first if r.status == "failed"}}
    second_run = {"seconds": round(second_seconds, 2), "statuses": dict(Counter(r.status for r in second)),
                  "peak_rss_mb": round(second_mem.peak_mb, 1)}
    embed_share = (chunks / embed["chunks_per_s"]) / first_seconds if embed.get("chunks_per_s") else None
    table = markdown_table(
        ["files", "pages", "chunks", "ingest s", "pages/s", "chunks/s", "embed-only chunks/s", "peak RSS MB",
         "unchanged re-ingest s"],
        [[len(files), pages, chunks, first_run["seconds"], first_run["pages_per_s"], first_run["chunks_per_s"],
          embed.get("chunks_per_s"), max(first_mem.peak_mb, second_mem.peak_mb), second_run["seconds"]]])
    run.finish({"first_ingest": first_run, "second_ingest": second_run, "embedding_only": embed,
                "embedding_share_of_ingest": round(embed_share, 3) if embed_share else None,
                "model_load_seconds": round(load_seconds, 1), "chroma_disk_mb": disk_mb,
                "stored_chunks": stored_chunks,
                "per_file": [{"source": r.source, "status": r.status, "pages": r.pages, "chunks": r.chunks,
                              "seconds": round(r.seconds, 2)} for r in first],
                "notes": [f"first {len(files)} of {len(all_files)} files (sorted by name): the whole CUAD folder "
                          "took ~16 min earlier, so the default limit keeps the run near 10 min",
                          "ingest time excludes loading the embedding model (model_load_seconds)",
                          "embedding_share_of_ingest: chunks / embed-only rate, over the ingest time"]},
               [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
