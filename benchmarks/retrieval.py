"""Retrieval quality and latency on BEIR SciFact: dense, BM25, and the fused retrieval Docent uses.

    .venv/bin/python -m benchmarks.retrieval [--scifact ../shared/datasets/scifact] [--queries N]
        [--recompute] [--reranker ID] [--keep]

The 5,183 abstracts (title + text) go into a real knowledge base in a scratch data
folder, one chunk per abstract (the title as the chunk's heading, so both the
embedding and BM25 see "title\\ntext"), and every query runs through the production
`core.retrieval.Retriever` (dense search, exact at this size, the BM25Index, the fusion `DOCENT_FUSION` names)
with the production settings: nDCG@10 from `search(k=10)` (20 candidates per
retriever), Recall@100 from `search(k=100)` (100 candidates per retriever).
Embeddings are cached under data/cache/scifact/ (git-ignored); --recompute redoes them.

nDCG@10 and Recall@100 are computed here as BEIR computes them with pytrec_eval
(trec_eval's ndcg_cut_10 and recall_100): gains are the qrels scores (linear, not
2^rel - 1), the discount is log2(rank + 1), the ideal DCG is made from the query's
qrels, a document with relevance >= 1 counts as relevant, and the figure is the mean
over all test queries. Unlike BEIR's default we do not drop retrieved documents whose
id equals the query id (SciFact's query and corpus ids are different number ranges).
Published references (BEIR / MTEB): BM25 (Elasticsearch) 0.665, all-MiniLM-L6-v2 0.645.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, Run, latency_summary, markdown_table, temp_dir

REFERENCE_NDCG10 = {"bm25": 0.665, "dense": 0.645}
DOC_ID = "scifact-corpus"
DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"


# --- metrics (as pytrec_eval computes them) ---------------------------------------------

def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k of one ranked list: linear gains from the qrels, log2(rank + 1) discount."""
    dcg = sum(qrels.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1)
              if qrels.get(doc, 0) > 0)
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 100) -> float:
    relevant = {doc for doc, g in qrels.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


# --- data ----------------------------------------------------------------------------------

def load_scifact(folder: Path) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus rows, query texts by id, and test qrels {query id: {doc id: score}}."""
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    queries = {}
    for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            queries[str(row["_id"])] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate((folder / "qrels" / "test.tsv").read_text().splitlines()):
        parts = line.split("\t")
        if n == 0 and not parts[-1].strip().lstrip("-").isdigit():
            continue  # header
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return corpus, queries, qrels


def corpus_chunks(corpus: list[dict]):
    """One chunk per abstract; `page` is its position in the corpus (1-based), the title its heading."""
    from knowledge.chunking import Chunk

    return [Chunk(text=row["text"], source="scifact", doc_id=DOC_ID, page=i + 1, start=0, end=len(row["text"]),
                  heading=row.get("title", "").strip(), index=i) for i, row in enumerate(corpus)]


def embed_corpus(texts: list[str], settings, cache_dir: Path, recompute: bool) -> tuple[np.ndarray, dict]:
    """MiniLM vectors for the texts, cached by model, dtype and text hash."""
    from core.models import get_embedder

    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    key = f"{settings.embedding_model.replace('/', '_')}-{settings.embedding_dtype}-{digest}"
    path = cache_dir / f"{key}.npy"
    if path.exists() and not recompute:
        return np.load(path), {"cached": True, "file": str(path.relative_to(ROOT))}
    embedder = get_embedder(settings)
    # Longest first, so each batch pads to similar lengths (the Embedder batches in the given order).
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % (settings.embed_batch_size * 10) == 0 or done == total:
            rate = done / (time.perf_counter() - started)
            print(f"embedded {done}/{total} ({rate:.1f}/s)", file=sys.stderr, flush=True)

    vectors = embedder.embed([texts[i] for i in order], settings.embed_batch_size, progress)
    seconds = time.perf_counter() - started
    out = np.zeros((len(texts), len(vectors[0])), dtype=np.float32)
    out[order] = np.asarray(vectors, dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out, {"cached": False, "file": str(path.relative_to(ROOT)), "seconds": round(seconds, 1),
                 "docs_per_s": round(len(texts) / seconds, 2)}


def build_kb(settings, chunks, vectors: np.ndarray):
    """A real knowledge base holding the corpus, written the way `KnowledgeBase._write_document`
    writes one document (pending record, chunks, then committed), with the cached vectors."""
    from knowledge.store import Store

    kb = Store(settings).kb("scifact", create=True)
    meta = {"source": "scifact", "pages": len(chunks), "chunks": len(chunks), "size": 0, "file_type": "jsonl",
            "status": "pending", "added_at": ""}
    kb.docs.upsert(ids=[DOC_ID], embeddings=[[1.0]], metadatas=[meta])
    batch = min(1000, kb.store.client.get_max_batch_size())
    for i in range(0, len(chunks), batch):
        part = chunks[i: i + batch]
        kb.chunks.add(ids=[c.id for c in part], embeddings=vectors[i: i + batch], documents=[c.text for c in part],
                      metadatas=[c.metadata() for c in part])
    kb.docs.update(ids=[DOC_ID], metadatas=[{**meta, "status": "committed"}])
    return kb


def reranker_status(model_id: str) -> str:
    """'available', or why not (no hub access here: only a model already on disk loads)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import CrossEncoder

        CrossEncoder(model_id, device="cpu")
        return "available"
    except Exception as exc:  # offline: OSError / LocalEntryNotFoundError from the hub client
        return f"not available offline ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"


def run_method(kb, settings, method: str, queries: list[tuple[str, str]], corpus_ids: list[str],
               qrels: dict[str, dict[str, int]]) -> dict:
    """Every test query through Retriever.search: k=10 (timed) for nDCG@10, k=100 for Recall@100."""
    from core.retrieval import Retriever

    retriever = Retriever(kb, settings, method=method)
    retriever.search(queries[0][1], k=10)  # warm-up (model, BM25 index), not timed
    ndcgs, recalls, seconds = [], [], []
    for n, (qid, text) in enumerate(queries, start=1):
        started = time.perf_counter()
        hits = retriever.search(text, k=10)
        seconds.append(time.perf_counter() - started)
        ndcgs.append(ndcg_at_k([corpus_ids[h.chunk.page - 1] for h in hits], qrels[qid], 10))
        hits100 = retriever.search(text, k=100)
        recalls.append(recall_at_k([corpus_ids[h.chunk.page - 1] for h in hits100], qrels[qid], 100))
        if n % 50 == 0:
            print(f"{method}: {n}/{len(queries)} nDCG@10 so far {np.mean(ndcgs):.4f}", file=sys.stderr, flush=True)
    return {"ndcg@10": round(float(np.mean(ndcgs)), 4), "recall@100": round(float(np.mean(recalls)), 4),
            "latency_k10": latency_summary(seconds), "queries": len(queries)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", default="../shared/datasets/scifact", type=Path)
    parser.add_argument("--queries", type=int, default=0, help="only the first N test queries (0: all 300)")
    parser.add_argument("--cache", default=ROOT / "data" / "cache" / "scifact", type=Path)
    parser.add_argument("--recompute", action="store_true", help="embed the corpus again, ignoring the cache")
    parser.add_argument("--reranker", default=DEFAULT_RERANKER, help="cross-encoder to try (offline only)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data folder")
    args = parser.parse_args(argv)

    from core.config import Settings
    from core.retrieval import RRF_K, searches_exactly

    fusion_names = {"convex": "convex: scores as shares of the best, half and half", "rrf": f"RRF k={RRF_K}"}

    corpus, query_texts, qrels = load_scifact(args.scifact)
    queries = [(qid, query_texts[qid]) for qid in qrels][: args.queries or None]
    corpus_ids = [str(row["_id"]) for row in corpus]
    with temp_dir("bench-retrieval-", keep=args.keep) as data_dir:
        settings = Settings(data_dir=data_dir, reranker_model="")
        run = Run("retrieval", {**settings.describe(), "rrf_k": RRF_K, "queries": len(queries),
                                "corpus_docs": len(corpus), "scifact": str(args.scifact)})
        chunks = corpus_chunks(corpus)
        vectors, embedding = embed_corpus([c.embedding_text() for c in chunks], settings, args.cache, args.recompute)
        started = time.perf_counter()
        kb = build_kb(settings, chunks, vectors)
        kb_seconds = time.perf_counter() - started
        methods: dict[str, dict] = {}
        for method in ("dense", "bm25", "fused"):
            methods[method] = run_method(kb, settings, method, queries, corpus_ids, qrels)
        rerank = reranker_status(args.reranker)
        if rerank == "available":
            methods["fused+rerank"] = run_method(kb, replace(settings, reranker_model=args.reranker), "fused",
                                                 queries, corpus_ids, qrels)
    dense_search = "exact" if searches_exactly(kb) else "Chroma HNSW"
    names = {"dense": f"dense (all-MiniLM-L6-v2, {dense_search})", "bm25": "BM25 (core.retrieval.BM25Index)",
             "fused": f"fused ({fusion_names[settings.fusion]}, production)",
             "fused+rerank": f"fused + rerank ({args.reranker})"}
    rows = [[names[m], r["ndcg@10"], REFERENCE_NDCG10.get(m), r["recall@100"], r["latency_k10"]["p50_ms"],
             r["latency_k10"]["p95_ms"]] for m, r in methods.items()]
    if "fused+rerank" not in methods:
        rows.append([names["fused+rerank"], rerank.split(" (")[0], None, None, None, None])
    table = markdown_table(["method", "nDCG@10", "reference", "Recall@100", "p50 ms (k=10)", "p95 ms (k=10)"], rows)
    fused = methods["fused"]["ndcg@10"]
    target = {"fused_ndcg@10": fused, "beats_bm25_reference": fused > REFERENCE_NDCG10["bm25"],
              "beats_dense_reference": fused > REFERENCE_NDCG10["dense"],
              "beats_measured_bm25_and_dense": fused > max(methods["bm25"]["ndcg@10"], methods["dense"]["ndcg@10"])}
    run.finish({"methods": methods, "reference_ndcg@10": REFERENCE_NDCG10, "reranker": rerank, "target": target,
                "embedding": embedding, "kb_build_seconds": round(kb_seconds, 1),
                "notes": ["one chunk per abstract (title as heading: 'title\\ntext' is embedded and BM25-indexed)",
                          "nDCG@10 from Retriever.search(k=10) with DOCENT_CANDIDATES=20; Recall@100 from "
                          "search(k=100), which takes 100 candidates per retriever",
                          "latency: one Retriever.search(k=10) call, query embedding, dense search and BM25 included",
                          "metrics as pytrec_eval (ndcg_cut_10, recall_100), mean over all test queries"]},
               [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
