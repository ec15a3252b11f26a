"""The benchmark metrics on hand-made examples (fast; no ../shared data, no models)."""

from __future__ import annotations

import math

import pytest

from benchmarks.common import latency_summary, markdown_table, percentile
from benchmarks.retrieval import ndcg_at_k, recall_at_k


def test_ndcg_uses_linear_gains_log2_discount_and_the_ideal_from_the_qrels():
    qrels = {"a": 2, "b": 1, "c": 1, "z": 0}
    # a relevant document at ranks 2 and 3, "a" (gain 2) missed; ideal order a, b, c
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(["x", "b", "c", "z"], qrels, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b", "c"], qrels, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], qrels, 10) == 0.0


def test_ndcg_cuts_both_the_ranking_and_the_ideal_at_k():
    qrels = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["a", "x", "b"], qrels, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "x2", "a"], qrels, 2) == 0.0


def test_recall_counts_relevant_documents_in_the_top_k():
    qrels = {"a": 1, "b": 1, "c": 0}
    assert recall_at_k(["a", "c", "x"], qrels, 100) == 0.5
    assert recall_at_k(["x", "a", "b"], qrels, 2) == 0.5
    assert recall_at_k(["a", "b"], {}, 100) == 0.0


def test_percentiles_and_tables():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([], 95) is None
    summary = latency_summary([0.010, 0.020, 0.030])
    assert summary["p50_ms"] == pytest.approx(20.0) and summary["n"] == 3
    assert markdown_table(["a", "b"], [[1, None]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | - |"]


def test_quality_chart_is_drawn_from_eval_runs(tmp_path):
    import json

    from benchmarks import plots

    def stat(mean: float) -> dict:
        return {"mean": mean, "ci95": [mean - 0.05, mean + 0.05], "n": 10}

    summary = {mode: {"containment": stat(c), "f1": stat(f)}
               for mode, c, f in (("rag", 0.3, 0.25), ("hybrid", 0.35, 0.3), ("plain", 0.1, 0.1))}
    (tmp_path / "eval_cuad_modes.json").write_text(json.dumps({"summary": summary, "items": []}))
    assert plots.main(["--results", str(tmp_path), "--out", str(tmp_path / "img")]) == 0
    assert (tmp_path / "img" / "quality.png").stat().st_size > 10_000
    assert not (tmp_path / "img" / "comparisons.png").exists()  # a report from before comparisons: skipped
    pair = {"difference": 0.1, "ci95": [0.05, 0.15], "n": 10, "wins": 2, "losses": 1}
    comparisons = [{"mode": m, "against": a, "n": 10, "containment": pair, "f1": pair, "em": pair}
                   for m, a in (("rag", "plain"), ("hybrid", "rag"))]
    (tmp_path / "eval_cuad_modes.json").write_text(json.dumps({"summary": summary, "items": [],
                                                                "comparisons": comparisons}))
    assert plots.main(["--results", str(tmp_path), "--out", str(tmp_path / "img")]) == 0
    assert (tmp_path / "img" / "comparisons.png").stat().st_size > 10_000
    assert not (tmp_path / "img" / "scale.png").exists()  # no scale.json: skipped, not drawn


def _cuad_row(name: str, first: str, second: str, law: str = "Delaware", renewal: str = "[]") -> dict[str, str]:
    return {"Filename": f"{name}.pdf", "Document Name-Answer": "SUPPLY AGREEMENT",
            "Parties-Answer": f'{first} Inc. ("{first}"); {second} Ltd. ("{second}")',
            "Governing Law-Answer": law, "Agreement Date-Answer": "3/1/2001", "Agreement Date": "['March 1, 2001']",
            "Effective Date-Answer": "", "Effective Date": "[]", "Expiration Date": "[]", "Expiration Date-Answer": "",
            "Renewal Term-Answer": renewal, "Renewal Term": "[]" if renewal == "[]" else f"['{renewal}']",
            "Notice Period To Terminate Renewal": "[]", "Notice Period To Terminate Renewal- Answer": ""}


def _cuad_source(src) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A CUAD folder: 6 contracts with PDFs (the knowledge base's), 20 without, every one
    annotated in master_clauses.csv and with a text file; returns (ours, others)."""
    import csv

    (src / "contracts_pdf").mkdir(parents=True)
    (src / "contracts_txt").mkdir()
    words = "Acme Birch Cobalt Delta Ember Falcon Garnet Harbor Indigo Juniper Kestrel Lumen".split()
    ours = [_cuad_row(f"OURS{i}", words[i], words[i + 6], renewal="1 year" if i % 2 else "[]") for i in range(6)]
    others = [_cuad_row(f"OTHER{i}", f"Out{chr(65 + i)}", f"Side{chr(65 + i)}") for i in range(20)]
    for row in ours:
        (src / "contracts_pdf" / row["Filename"].upper()).write_bytes(b"%PDF-1.4")  # only the names are read
    for row in ours + others:
        (src / "contracts_txt" / (row["Filename"].removesuffix(".pdf") + ".txt")).write_text(f"{row['Filename']} text")
    with open(src / "master_clauses.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ours[0]))
        writer.writeheader()
        writer.writerows(ours + others)
    return ours, others


def test_prepare_cuad_splits_by_contract_and_keeps_refusal_questions_apart(tmp_path):
    import json

    from benchmarks.prepare_cuad import main

    src, out = tmp_path / "cuad", tmp_path / "out"
    ours, others = _cuad_source(src)

    assert main(["--src", str(src), "--out", str(out), "--eval-contracts", "2", "--dev-contracts", "2",
                 "--refusal-dev-outside", "3"]) == 0
    split = {name: [json.loads(line) for line in open(out / f"{name}.jsonl")]
             for name in ("train", "dev", "eval", "refusal_dev")}
    contracts = {name: {r["source"] for r in rows if r.get("source")} for name, rows in split.items()}
    assert len(contracts["eval"]) == 2 and len(contracts["dev"]) == 2 and len(contracts["train"]) == 2
    assert not contracts["eval"] & contracts["dev"] and not contracts["train"] & (contracts["eval"] | contracts["dev"])
    assert any(not r["answerable"] for r in split["eval"]) and all(r["answerable"] for r in split["train"])
    law = next(r for r in split["eval"] if r["kind"] == "governing_law")
    assert law["answers"][0] == "Delaware" and " between " in law["question"]

    refusals = split["refusal_dev"]
    assert all(not r["answerable"] and not r["answers"] for r in refusals)
    outside = [r for r in refusals if r["kind"].startswith("not_in_kb_")]
    absent = [r for r in refusals if r["kind"] == "absent_renewal_term"]
    assert len(outside) == 3 and {r["source"] for r in absent} <= contracts["train"]
    assert len(absent) == sum(r["Renewal Term-Answer"] == "[]" and r["Filename"].upper() in contracts["train"]
                              for r in ours)
    asked = {r["question"] for name in ("dev", "eval") for r in split[name]}
    assert not asked & {r["question"] for r in refusals}  # tuning refusals never sees a dev or eval question


def test_extra_cuad_training_questions_never_use_a_contract_eval_dev_or_refusal_dev_names(tmp_path):
    import json

    from benchmarks.prepare_cuad import main as prepare
    from benchmarks.prepare_cuad_extra import main as prepare_extra

    src, out = tmp_path / "cuad", tmp_path / "out"
    _cuad_source(src)
    assert prepare(["--src", str(src), "--out", str(out), "--eval-contracts", "2", "--dev-contracts", "2",
                    "--refusal-dev-outside", "3"]) == 0
    assert prepare_extra(["--src", str(src), "--out", str(out), "--contracts", "100"]) == 0

    extra = [json.loads(line) for line in open(out / "extra_train.jsonl")]
    named = {json.loads(line)["id"].split("-")[-2] for name in ("eval", "dev", "refusal_dev")
             for line in open(out / f"{name}.jsonl")}
    used = {r["id"].split("-")[-2] for r in extra}
    assert extra and all(r["answerable"] and r["answers"] for r in extra)
    assert not used & named  # no contract an unanswerable (or any) eval, dev or refusal_dev question names
    assert not used & {f"ours{i}" for i in range(6)}  # nor one of the knowledge base's contracts
    assert sorted(p.name for p in (out / "extra_contracts").iterdir()) == sorted({r["source"] for r in extra})
    assert len(used) == 20 - len({k for k in named if k.startswith("other")})


def test_scale_step_measures_each_kind_of_query(tmp_path):
    from benchmarks.scale import measure

    result = measure(2000, tmp_path / "chroma", batch=1000, n_queries=6, n_filtered=3, n_recall=3)
    assert result["count"] == 2000
    assert result["query_k10"]["n"] == 6
    assert result["query_k10_filtered"]["n"] == result["query_k10_one_document"]["n"] == 3
    assert 0.0 <= result["recall@10_vs_exact"] <= 1.0


def test_exact_search_step_finds_the_nearest_chunks_in_the_base_and_in_one_document():
    import numpy as np

    from benchmarks.exact_search import corpus_of, measure

    corpus = corpus_of(1000)
    q = corpus.vectors[7]
    found = corpus.nearest(q.tolist(), 5)
    assert found[0].id == corpus.chunks_bm25.ids[7]
    assert [c.id for c in found] == [corpus.chunks_bm25.ids[i] for i in np.argsort(-(corpus.vectors @ q))[:5]]
    in_doc3 = corpus.nearest(q.tolist(), 5, "doc3")
    assert len(in_doc3) == 5 and {c.doc_id for c in in_doc3} == {"doc3"}
    assert corpus.nearest(q.tolist(), 5, "no such document") == []
    result = measure(1000, n_queries=4)
    assert result["top20"]["n"] == result["top20_one_document"]["n"] == 4 and result["vectors_mb"] > 0


def write_jsonl(path, rows: list[dict]):
    """A question set as `eval` reads it: one JSON object a line."""
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_context_benchmark_finds_where_the_gold_answer_sits(settings, tmp_path, capsys):
    """benchmarks.context: per question, the gold answer in the passages and in the
    context sentences; per kind (the id's last part), the counts."""
    import json

    from benchmarks.context import main
    from knowledge.store import Store

    kb = Store(settings).kb("contracts", create=True)
    text = ("SUPPLY AGREEMENT\n\nThis agreement is made between Acme Widgets and Borealis Trading.\n\n"
            + "The parties cooperate on deliveries. " * 40 + "\n\nThis agreement is governed by the laws of Oregon.")
    assert kb.ingest_bytes("supply.txt", text.encode()).ok
    rows = [{"id": "c-supply-governing_law", "question": "Which law governs the agreement?", "answers": ["Oregon"]},
            {"id": "c-supply-other_party", "question": "Who signed it?", "answers": ["Zephyr Foods"]},
            {"id": "c-x-renewal_term", "question": "How long is each renewal?", "answerable": False}]
    dataset = write_jsonl(tmp_path / "q.jsonl", rows)
    out = tmp_path / "context.json"
    assert main([str(dataset), "--kb", "contracts", "--json", str(out)], settings) == 0
    report = json.loads(out.read_text())
    assert [r["id"] for r in report["items"]] == ["c-supply-governing_law", "c-supply-other_party"]  # answerable only
    found = {r["id"]: r for r in report["items"]}
    assert found["c-supply-governing_law"]["passages"] == 1.0 and found["c-supply-governing_law"]["context"] == 1.0
    assert found["c-supply-other_party"]["passages"] == 0.0
    assert report["summary"]["all"] == {"n": 2, "passages": 1, "sentence_1": 1, "sentences_2": 1, "context": 1}
    assert "| governing_law | 1 | 1 | 1 | 1 | 1 |" in capsys.readouterr().out


def test_prompts_benchmark_records_each_questions_prompt_and_tells_which_differ(settings, tmp_path, capsys):
    """benchmarks.prompts: the prompt rag would give the model, per question, no model run."""
    import json

    from benchmarks.prompts import main
    from knowledge.store import Store

    kb = Store(settings).kb("ors", create=True)
    text = ("Oral rehydration\n- A potassium concentration of 20 mmol/l is well tolerated\n"
            "- The ratio of sodium to glucose should be 1:1 to 1:1.4\n\nCholera spreads through water.")
    assert kb.ingest_bytes("ors.txt", text.encode()).ok
    rows = [{"id": "q1", "question": "What potassium concentration is well tolerated?", "answers": ["20 mmol/l"]},
            {"id": "q2", "question": "Who won the football World Cup in 1998?", "answerable": False}]
    dataset = write_jsonl(tmp_path / "q.jsonl", rows)
    before = tmp_path / "before.json"
    assert main([str(dataset), "--kb", "ors", "--json", str(before)], settings) == 0
    prompts = json.loads(before.read_text())
    assert "[1] A potassium concentration of 20 mmol/l is well tolerated" in prompts["q1"]  # one bullet, no dash
    assert "tolerated - The ratio" not in prompts["q1"]  # each bullet a sentence of its own, without its dash
    assert prompts["q2"] is None  # refused before any generation
    before.write_text(json.dumps({**prompts, "q1": "an older prompt"}))
    assert main([str(dataset), "--kb", "ors", "--json", str(tmp_path / "after.json"), "--against", str(before)],
                settings) == 0
    assert "1 of 2 prompts differ: q1" in capsys.readouterr().out


def test_merge_keeps_every_mode_and_each_runs_provenance_and_refuses_mixed_sets(tmp_path):
    import json

    from benchmarks.merge import MergeError, main, merge

    def report(modes: list[str], commit: str, dataset: str = "eval.jsonl") -> dict:
        scores = {"containment": 1.0, "f1": 1.0, "em": 1.0, "refusal_correct": None}
        return {"summary": {m: {"n": 1} for m in modes},
                "items": [{"id": "q1", "mode": m, "scores": scores} for m in modes],
                "dataset": dataset, "kb": "cuad", "baseline_kb": "cuad-plain" if "plain" in modes else "cuad",
                "settings": {}, "adapters": {"hybrid": "r6"} if "hybrid" in modes else {},
                "run": {"commit": commit}}

    a, b = report(["rag", "plain"], "aaa"), report(["hybrid"], "bbb")
    merged = merge([a, b], note="two processes")
    assert list(merged["summary"]) == ["rag", "plain", "hybrid"] and len(merged["items"]) == 3
    assert merged["runs"] == {"rag,plain": {"commit": "aaa"}, "hybrid": {"commit": "bbb"}}
    assert merged["baseline_kb"] == "cuad-plain" and merged["adapters"] == {"hybrid": "r6"}
    # hybrid and rag ran in different processes and are still compared question by question
    assert [(c["mode"], c["against"], c["n"]) for c in merged["comparisons"]] == [
        ("rag", "plain", 1), ("hybrid", "rag", 1), ("hybrid", "plain", 1)]
    with pytest.raises(MergeError, match="not"):
        merge([a, report(["hybrid"], "bbb", dataset="dev.jsonl")])
    with pytest.raises(MergeError, match="rag"):
        merge([a, report(["rag"], "ccc")])
    paths = []
    for n, r in enumerate((a, b)):
        paths.append(tmp_path / f"{n}.json")
        paths[-1].write_text(json.dumps(r))
    assert main([str(p) for p in paths] + ["--json", str(tmp_path / "out.json")]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["runs"]["hybrid"] == {"commit": "bbb"}


def test_rescore_applies_a_fixed_metric_to_a_reports_answers(tmp_path):
    """A report scored before typographic apostrophes were normalised: the same answer
    now contains the gold; answers and provenance are kept."""
    import json

    from benchmarks.rescore import main

    dataset = tmp_path / "eval.jsonl"
    dataset.write_text(json.dumps({"id": "q1", "question": "Who signed it?", "answers": ["Papa John's"]}) + "\n")
    stale = {"containment": 0.0, "f1": 0.0, "em": 0.0, "hit": None, "source_hit": None, "refusal_correct": None,
             "false_refusal": 0.0}
    items = [{"id": "q1", "mode": m, "answer": "Papa John’s Marketing Fund", "refused": False, "sources": [],
              "seconds": 1.0, "timings": {}, "scores": dict(stale)} for m in ("rag", "hybrid")]
    report = {"summary": {"rag": {}, "hybrid": {}}, "items": items, "dataset": str(dataset), "kb": "cuad",
              "runs": {"rag": {"commit": "aaa"}}}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert main([str(path)]) == 0
    again = json.loads(path.read_text())
    assert [i["scores"]["containment"] for i in again["items"]] == [1.0, 1.0]
    assert again["summary"]["hybrid"]["containment"]["mean"] == 1.0 and again["rescored"]
    assert again["items"][0]["answer"] == "Papa John’s Marketing Fund" and again["runs"] == report["runs"]
