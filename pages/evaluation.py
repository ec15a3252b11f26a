"""Admin page: measure the answer modes on a Q&A set, look at the numbers and the answers
side by side, and see which answers readers marked best in the compare view."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from adapters.registry import default_adapter, list_adapters
from core.answer import MODES, answer
from core.evaluate import METRICS, PAIRED_METRICS, DatasetError, comparisons, load_dataset, run_eval, side_by_side
from core.feedback import load_choices, summarize_choices
from knowledge.loaders import safe_name
from knowledge.store import KnowledgeBaseError
from pages.common import MODE_LABELS, get_store, load_models, require_admin

METRIC_LABELS = {"containment": "contains gold", "f1": "F1", "em": "exact match", "hit": "hit@k",
                 "source_hit": "source hit@k", "refusal_correct": "refusal accuracy", "false_refusal": "false refusals"}
LABELS = {**MODE_LABELS, "plain": "Plain RAG (baseline)"}
REPO_DATASETS = Path(__file__).resolve().parent.parent / "benchmarks" / "data"

require_admin()
store = get_store()
settings = store.settings
datasets_dir = settings.data_dir / "evals" / "datasets"
results_dir = settings.data_dir / "evals" / "results"
st.title("Evaluation")

# --- best answers marked in the compare view ---------------------------------------------------
st.subheader("Best answers marked in Chat")
choices = load_choices(settings)
if not choices:
    st.info("No choices yet: switch on 'Compare modes' in Chat and mark the best of the three answers.")
else:
    summary = pd.DataFrame(summarize_choices(choices))
    summary["mode"] = summary["mode"].map(lambda m: LABELS.get(m, m))
    left, right = st.columns([2, 3])
    left.dataframe(summary.rename(columns={"compared": "times compared", "best": "marked best",
                                           "share": "share best"}), hide_index=True)
    right.bar_chart(summary, x="mode", y="best", x_label="", y_label="marked best", horizontal=True, height=200)
    st.caption(f"{len(choices)} choices saved in {settings.data_dir / 'feedback' / 'compare.jsonl'}")

# --- run an evaluation -------------------------------------------------------------------------
st.subheader("Run an evaluation")
st.caption('One JSON object per line: {"question": ..., "answers": [...], "answerable": true, '
           '"source": "file.pdf", "page": 3} (answerable, source and page are optional).')
upload = st.file_uploader("Upload a Q&A set (JSONL)", type=["jsonl"], key="eval_upload")
if upload is not None:
    datasets_dir.mkdir(parents=True, exist_ok=True)
    target = datasets_dir / safe_name(upload.name)
    target.write_bytes(upload.getvalue())
    st.session_state["eval_dataset"] = str(target)
known = sorted(datasets_dir.glob("*.jsonl")) + sorted(REPO_DATASETS.glob("*.jsonl"))
if not known:
    st.info("Upload a Q&A set to start.")
    st.stop()
paths = [str(p) for p in known]
chosen = st.session_state.get("eval_dataset")
kbs = store.list_kbs()
fitting = [a.name for a in list_adapters(settings) if a.base_model == settings.generator_model]
with st.form("eval_form"):
    dataset = st.selectbox("Q&A set", paths, index=paths.index(chosen) if chosen in paths else 0,
                           format_func=lambda p: Path(p).name)
    c1, c2, c3 = st.columns(3)
    kb_name = c1.selectbox("Knowledge base", kbs) if kbs else None
    modes = c2.multiselect("Modes", list(MODES), default=["rag", "finetuned", "hybrid"] if fitting else ["rag"],
                           format_func=LABELS.get)
    limit = c3.number_input("Questions (0 = all)", 0, 100000, 20)
    c4, c5 = st.columns(2)
    qa_default, raft_default = default_adapter(settings, "finetuned"), default_adapter(settings, "hybrid")
    qa_adapter = c4.selectbox("Fine-tuned adapter", fitting, index=fitting.index(qa_default)
                              if qa_default in fitting else 0) if fitting else None
    raft_adapter = c5.selectbox("Hybrid adapter", fitting, index=fitting.index(raft_default)
                                if raft_default in fitting else 0) if fitting else None
    start = st.form_submit_button("Run evaluation", type="primary")

if start:
    try:
        items = load_dataset(Path(dataset))[: int(limit) or None]
        if not modes:
            raise DatasetError("pick at least one mode")
        if not fitting and {"finetuned", "hybrid"} & set(modes):
            raise DatasetError("the Fine-tuned and Hybrid modes need an adapter: train one on the Fine-tuning page")
        if kb_name is None and set(modes) - {"base", "finetuned"}:
            raise DatasetError("the retrieval modes need a knowledge base: create one on the Knowledge bases page")
        kb = store.kb(kb_name) if kb_name else None
    except (DatasetError, KnowledgeBaseError, OSError) as exc:
        st.error(str(exc))
        st.stop()
    load_models(settings)
    adapters = {"finetuned": qa_adapter, "hybrid": raft_adapter}
    bar = st.progress(0.0, text="Starting ...")
    started = time.perf_counter()

    def progress(done: int, total: int, mode: str) -> None:
        bar.progress(done / total, text=f"{LABELS.get(mode, mode)}: {done} of {total} answers")

    report = run_eval(items, modes, lambda q, m: answer(q, None, m, kb, settings, adapters.get(m)), progress)
    report.update(dataset=Path(dataset).name, kb=kb_name, adapters={m: adapters[m] for m in modes if m in adapters},
                  settings=replace(settings).describe(), seconds=round(time.perf_counter() - started, 1))
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(dataset).stem}.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    bar.progress(1.0, text=f"Done: {len(items)} questions x {len(modes)} modes in {report['seconds']:.0f} s")
    st.session_state["eval_result"] = str(out)

# --- results -----------------------------------------------------------------------------------
st.subheader("Results")
saved = sorted(results_dir.glob("*.json"), reverse=True) if results_dir.exists() else []
if not saved:
    st.info("No evaluation has run yet.")
    st.stop()
names = [str(p) for p in saved]
current = st.session_state.get("eval_result")
picked = st.selectbox("Evaluation run", names, index=names.index(current) if current in names else 0,
                      format_func=lambda p: Path(p).stem)
try:
    report = json.loads(Path(picked).read_text(encoding="utf-8"))
    summary = report["summary"]
except (OSError, ValueError, KeyError) as exc:
    st.error(f"Cannot read {Path(picked).name}: {exc}")
    st.stop()
st.caption(f"{report.get('dataset')} on '{report.get('kb')}' · adapters {report.get('adapters') or '-'} · "
           f"{report.get('seconds', '?')} s")

rows, means = [], []
for mode, s in summary.items():
    row = {"mode": LABELS.get(mode, mode), "questions": s["n"]}
    for metric in METRICS:
        if metric in s:
            low, high = s[metric]["ci95"]
            row[METRIC_LABELS[metric]] = f"{s[metric]['mean']:.3f} [{low:.2f}, {high:.2f}]"
            means.append({"mode": LABELS.get(mode, mode), "metric": METRIC_LABELS[metric], "mean": s[metric]["mean"]})
    row.update({"p50 s": s["p50_s"], "p95 s": s["p95_s"]})
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.caption("Each metric: mean [95% bootstrap interval].")



@st.cache_data(show_spinner="Comparing the modes question by question ...")
def computed_comparisons(path: str, modified: float) -> list[dict]:
    """The paired comparisons of a report saved before they were part of it (a few
    thousand bootstrap means: once per file, not on every rerun of the page)."""
    return comparisons(json.loads(Path(path).read_text(encoding="utf-8")).get("items", []))


# Which mode is better is read from the same questions answered by both, not from two
# overlapping intervals.
pairs = report.get("comparisons") or computed_comparisons(picked, Path(picked).stat().st_mtime)
if pairs:
    st.markdown("**Mode against mode, on the same questions**")
    paired = []
    for pair in pairs:
        for metric in PAIRED_METRICS:
            if m := pair.get(metric):
                low, high = m["ci95"]
                verdict = "above" if low > 0 else "below" if high < 0 else "no clear difference"
                paired.append({"modes": f"{LABELS.get(pair['mode'], pair['mode'])} vs "
                                        f"{LABELS.get(pair['against'], pair['against'])}",
                               "metric": METRIC_LABELS[metric],
                               "difference": f"{m['difference']:+.3f} [{low:+.2f}, {high:+.2f}]",
                               "questions won / lost": f"{m['wins']} / {m['losses']}", "reading": verdict})
    st.dataframe(pd.DataFrame(paired), hide_index=True, width="stretch")
    st.caption("Difference of the means [95% paired bootstrap interval, questions resampled with both modes' "
               "answers together]. An interval that holds 0 is no clear difference, however the means look.")
quality, speed = st.columns([3, 2])
with quality:
    st.bar_chart(pd.DataFrame(means), x="metric", y="mean", color="mode", stack=False, y_label="mean (0-1)",
                 x_label="")
with speed:
    latency = pd.DataFrame([{"mode": LABELS.get(m, m), "p50 s": s["p50_s"], "p95 s": s["p95_s"]}
                            for m, s in summary.items()])
    st.bar_chart(latency, x="mode", y=["p50 s", "p95 s"], stack=False, y_label="seconds per answer", x_label="")

st.markdown("**Per question, side by side**")
table = pd.DataFrame(side_by_side(report))
st.dataframe(table, hide_index=True, width="stretch")
st.download_button("Download as CSV", table.to_csv(index=False), f"{Path(picked).stem}.csv", mime="text/csv",
                   key="eval_csv")
