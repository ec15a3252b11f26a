"""What Docent's exact dense search costs as a knowledge base grows: top-20 latency of
`CorpusIndex.nearest` (numpy over the unit vectors kept with the keyword indexes), in the
whole base and in one document, and the memory the vectors take.

    .venv/bin/python -m benchmarks.exact_search [--sizes 10000,100000,200000] [--queries 200]

Up to `DOCENT_EXACT_SEARCH_CHUNKS` (200k) chunks the retriever searches this way instead
of Chroma's approximate HNSW index (whose latency `benchmarks.scale` measures). The
vectors are synthetic, as in `benchmarks.scale`: seeded random 384-d unit vectors, 100
documents; exact search costs the same whatever the vectors hold.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import Run, latency_summary, markdown_table
from benchmarks.scale import DIM, DOCS, unit_vectors
from core.retrieval import BM25Index, CorpusIndex
from knowledge.chunking import Chunk


def corpus_of(size: int) -> CorpusIndex:
    """A CorpusIndex holding `size` chunks of DOCS documents and their vectors (no text:
    the BM25 indexes stay empty, as only `nearest` is timed)."""
    chunks = {}
    for n in range(size):
        chunk = Chunk(text="", source=f"doc{n % DOCS}.pdf", doc_id=f"doc{n % DOCS}", page=1, start=0, end=0,
                      index=n // DOCS)
        chunks[chunk.id] = chunk
    ids = list(chunks)
    empty = BM25Index([], [])
    empty.ids = ids
    return CorpusIndex(empty, chunks, BM25Index([], []), unit_vectors(size, seed=0))


def measure(size: int, n_queries: int) -> dict:
    corpus = corpus_of(size)
    queries = unit_vectors(n_queries, seed=1)
    whole, one = [], []
    for n, q in enumerate(queries):
        started = time.perf_counter()
        corpus.nearest(q.tolist(), 20)
        whole.append(time.perf_counter() - started)
        started = time.perf_counter()
        corpus.nearest(q.tolist(), 20, f"doc{n % DOCS}")
        one.append(time.perf_counter() - started)
    return {"size": size, "top20": latency_summary(whole), "top20_one_document": latency_summary(one),
            "vectors_mb": round(corpus.vectors.nbytes / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,200000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    run = Run("exact_search", {"sizes": args.sizes, "queries": args.queries, "dim": DIM, "docs": DOCS})
    results = [measure(int(s), args.queries) for s in args.sizes.split(",")]
    table = markdown_table(["chunks", "top-20 p50 ms", "top-20 p95 ms", "one-document p50 ms", "one-document p95 ms",
                            "vectors MB"],
                           [[r["size"], r["top20"]["p50_ms"], r["top20"]["p95_ms"], r["top20_one_document"]["p50_ms"],
                             r["top20_one_document"]["p95_ms"], r["vectors_mb"]] for r in results])
    print(table)
    run.finish({"sizes": results, "notes": ["synthetic random 384-d unit vectors, 100 documents; one thread",
                                            "one_document: the chunks of one of the 100 documents (1%)"]}, [table])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
