"""How the Chroma store scales: add throughput, k=10 query latency, memory and disk at
10k, 100k and 1M chunks.

    .venv/bin/python -m benchmarks.scale [--sizes 10000,100000,1000000] [--queries 200]
        [--filtered-queries 50] [--recall-queries 50] [--batch 5000] [--keep]

The vectors are synthetic: random 384-d unit vectors (all-MiniLM-L6-v2's size), seeded,
no documents, one small metadata field per vector (`doc_id`, one of 100 documents). Each
size gets a fresh embedded PersistentClient in a scratch folder under data/, a
collection made as Docent makes its chunk collections (cosine HNSW), filled with
`collection.add` in batches. Queries are random unit vectors too, k=10: without a
filter (what Docent's retriever asks first), with the filter it falls back to while a
document is being written (`doc_id $in` the committed documents, here all 100), and with
the one-document filter a question that names a document gets (`doc_id` = one of the
100, 1% of the vectors); fewer of the filtered ones, as a filter can cost time linear in
the size. Recall@10 of the HNSW index against exact search is measured on a few queries:
random vectors in 384 dimensions are the hardest case for approximate search (every
point is almost equally far from every other), so it is a floor, not what real
embeddings get. The 1M step takes over an hour on this machine: each step's time is
recorded, and the JSON is written after every size.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import PeakSampler, Run, dir_size_mb, latency_summary, markdown_table, rss_mb, temp_dir

DIM = 384
DOCS = 100
SEED = 0


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def batches(size: int, batch: int):
    """(start, vectors) for the whole collection, each batch seeded so it can be made again."""
    for n, start in enumerate(range(0, size, batch)):
        yield start, unit_vectors(min(batch, size - start), SEED * 1_000_003 + n + 1)


def exact_top10(queries: np.ndarray, size: int, batch: int) -> list[set[str]]:
    """Brute-force cosine top-10 ids, streamed batch by batch (no 1M x 384 matrix held at once)."""
    best_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 10), dtype=np.int64)
    for start, vectors in batches(size, batch):
        scores = queries @ vectors.T
        all_scores = np.concatenate([best_scores, scores], axis=1)
        all_ids = np.concatenate([best_ids, np.broadcast_to(np.arange(start, start + len(vectors)),
                                                            scores.shape)], axis=1)
        top = np.argsort(-all_scores, axis=1)[:, :10]
        best_scores = np.take_along_axis(all_scores, top, axis=1)
        best_ids = np.take_along_axis(all_ids, top, axis=1)
    return [{f"v{i}" for i in row} for row in best_ids]


def measure(size: int, folder: Path, batch: int, n_queries: int, n_filtered: int, n_recall: int) -> dict:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
    rss_before = rss_mb()
    batch = min(batch, client.get_max_batch_size())
    collection = client.create_collection("docent.bench", metadata={"hnsw:space": "cosine"},
                                          embedding_function=None)
    add_seconds: list[float] = []
    started = time.perf_counter()
    with PeakSampler(interval=0.2) as build_mem:
        for start, vectors in batches(size, batch):
            t0 = time.perf_counter()
            collection.add(ids=[f"v{i}" for i in range(start, start + len(vectors))], embeddings=vectors,
                           metadatas=[{"doc_id": f"doc{i % DOCS}"} for i in range(start, start + len(vectors))])
            add_seconds.append(time.perf_counter() - t0)
            done = start + len(vectors)
            if len(add_seconds) % 20 == 0 or done == size:
                rate = done / (time.perf_counter() - started)
                print(f"{size:,}: added {done:,} ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    build_seconds = time.perf_counter() - started
    tenth = max(1, len(add_seconds) // 10)
    queries = unit_vectors(n_queries + 5, seed=10_000 + size % 9973)
    for q in queries[:5]:  # warm-up
        collection.query(query_embeddings=[q], n_results=10, include=[])
    plain, filtered, one_document, found = [], [], [], []
    where = {"doc_id": {"$in": [f"doc{d}" for d in range(DOCS)]}}
    for n, q in enumerate(queries[5:]):
        t0 = time.perf_counter()
        res = collection.query(query_embeddings=[q], n_results=10, include=[])
        plain.append(time.perf_counter() - t0)
        found.append(set(res["ids"][0]))
        if n < n_filtered:  # the filter costs ~linear time in the size: fewer of these at 1M
            t0 = time.perf_counter()
            collection.query(query_embeddings=[q], n_results=10, where=where, include=[])
            filtered.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            collection.query(query_embeddings=[q], n_results=10, where={"doc_id": f"doc{n % DOCS}"}, include=[])
            one_document.append(time.perf_counter() - t0)
    exact = exact_top10(queries[5: 5 + n_recall], size, batch)
    recall = float(np.mean([len(f & e) / 10 for f, e in zip(found, exact)]))
    rss_after = rss_mb()
    count = collection.count()
    del collection, client
    return {
        "size": size, "count": count, "batch": batch,
        "add": {"seconds": round(build_seconds, 1), "vectors_per_s": round(size / build_seconds, 1),
                "first_10pct_vectors_per_s": round(tenth * batch / sum(add_seconds[:tenth]), 1),
                "last_10pct_vectors_per_s": round(sum(min(batch, size - batch * i) for i in
                                                      range(len(add_seconds) - tenth, len(add_seconds)))
                                                  / sum(add_seconds[-tenth:]), 1)},
        "query_k10": latency_summary(plain),
        "query_k10_filtered": latency_summary(filtered),
        "query_k10_one_document": latency_summary(one_document),
        "recall@10_vs_exact": round(recall, 4), "recall_queries": len(exact),
        "rss_mb": {"before": rss_before, "after": rss_after, "peak_during_add": round(build_mem.peak_mb, 1)},
        "disk_mb": dir_size_mb(folder),
    }


def growth(results: list[dict], key: str) -> float | None:
    """Exponent e in cost ~ size^e between the smallest and largest size (1 = linear)."""
    if len(results) < 2:
        return None
    a, b = results[0], results[-1]
    values = {"p50": lambda r: r["query_k10"]["p50_ms"], "filtered_p50": lambda r: r["query_k10_filtered"]["p50_ms"],
              "one_document_p50": lambda r: r["query_k10_one_document"]["p50_ms"],
              "disk": lambda r: r["disk_mb"], "add_s": lambda r: r["add"]["seconds"]}[key]
    if not values(a) or not values(b) or a["size"] == b["size"]:
        return None
    return round(math.log(values(b) / values(a)) / math.log(b["size"] / a["size"]), 3)


def write(run: Run, results: list[dict], failed: dict[int, str]) -> None:
    table = markdown_table(
        ["chunks", "add s", "add vectors/s", "query p50 ms", "query p95 ms", "filtered p50 ms", "filtered p95 ms",
         "one-document p50 ms", "one-document p95 ms", "recall@10 vs exact", "RSS MB", "disk MB"],
        [[r["size"], r["add"]["seconds"], r["add"]["vectors_per_s"], r["query_k10"]["p50_ms"],
          r["query_k10"]["p95_ms"], r["query_k10_filtered"]["p50_ms"], r["query_k10_filtered"]["p95_ms"],
          r["query_k10_one_document"]["p50_ms"], r["query_k10_one_document"]["p95_ms"],
          r["recall@10_vs_exact"], r["rss_mb"]["after"], r["disk_mb"]] for r in results]
        + [[size, "failed: " + why] + [None] * 10 for size, why in failed.items()])
    run.finish({"sizes": results, "failed": {str(k): v for k, v in failed.items()},
                "growth_exponent": {key: growth(results, key)
                                    for key in ("p50", "filtered_p50", "one_document_p50", "add_s", "disk")},
                "notes": ["synthetic random 384-d unit vectors (not real embeddings), no documents, one metadata "
                          "field; query = no filter, as the retriever asks first; filtered = where doc_id $in all "
                          "100 documents, its fallback while a document is being written; one_document = where "
                          "doc_id is one of the 100 (1% of the vectors), as for a question naming a document",
                          "growth_exponent e: cost ~ size^e from the smallest to the largest size (1 = linear)",
                          "each size runs in a fresh process; RSS is that process after the queries (embedded "
                          "Chroma keeps the HNSW index in it), 'before' is with chromadb imported and the client open",
                          "step_seconds: the whole step for one size (add, queries, exact search for recall)"]},
               [table])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--filtered-queries", type=int, default=50, help="queries with the retriever's filter")
    parser.add_argument("--recall-queries", type=int, default=50, help="queries checked against exact search")
    parser.add_argument("--batch", type=int, default=5000, help="vectors per collection.add")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data folders")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args(argv)
    if args.one:
        with temp_dir(f"bench-scale-{args.one}-", keep=args.keep) as folder:
            result = measure(args.one, folder, args.batch, args.queries, args.filtered_queries,
                             min(args.recall_queries, args.queries))
        print("RESULT " + json.dumps(result))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    run = Run("scale", {"sizes": sizes, "dim": DIM, "queries": args.queries, "filtered_queries": args.filtered_queries,
                        "recall_queries": args.recall_queries,
                        "batch": args.batch, "documents": DOCS, "seed": SEED, "hnsw": "chromadb defaults, cosine"})
    results: list[dict] = []
    failed: dict[int, str] = {}
    for size in sizes:
        # A process per size: its RSS is that size's alone, not what the previous one left behind.
        cmd = [sys.executable, "-m", "benchmarks.scale", "--one", str(size), "--batch", str(args.batch),
               "--queries", str(args.queries), "--filtered-queries", str(args.filtered_queries),
               "--recall-queries", str(args.recall_queries)]
        started = time.perf_counter()
        proc = subprocess.run(cmd + (["--keep"] if args.keep else []), stdout=subprocess.PIPE, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            failed[size] = f"exit status {proc.returncode} after {time.perf_counter() - started:.0f} s"
        else:
            results.append({**json.loads(lines[0][7:]), "step_seconds": round(time.perf_counter() - started, 1)})
            r = results[-1]
            print(f"{size:,}: add {r['add']['seconds']} s, query p50 {r['query_k10']['p50_ms']} ms, "
                  f"whole step {r['step_seconds']} s", file=sys.stderr)
        write(run, results, failed)  # after every size: a long 1M step never loses the smaller ones
    return 0


if __name__ == "__main__":
    sys.exit(main())
