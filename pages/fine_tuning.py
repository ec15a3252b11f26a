"""Admin page: build training data, train LoRA adapters in the background, watch the loss,
manage the adapters."""

from __future__ import annotations

import json
import time
from pathlib import Path

import streamlit as st

from adapters import train as training
from adapters.datasets import (
    Example,
    TrainingDataError,
    generate_from_kb,
    make_raft,
    read_qa_file,
    save_upload,
    write_examples,
)
from adapters.registry import (
    AdapterError,
    activate_adapter,
    active_adapter,
    adapter_sentence_forms,
    delete_adapter,
    list_adapters,
)
from pages.common import get_store, require_admin

require_admin()
store = get_store()
settings = store.settings
st.title("Fine-tuning")
st.caption(f"Base model: {settings.generator_model}. Adapters are LoRA weights saved with peft in "
           f"{settings.adapters_dir}.")

# --- 1. training data ---------------------------------------------------------------------
st.subheader("1. Training data")
style = st.radio("Style", ["qa", "raft"], horizontal=True, key="ft_style",
                 format_func={"qa": "Q&A (fine-tuned mode: answers from memory)",
                              "raft": "RAFT (hybrid mode: answers from retrieved passages)"}.get)
source = st.radio("Source", ["file", "kb"], horizontal=True, key="ft_source",
                  format_func={"file": "Upload a Q&A file (JSONL or CSV)", "kb": "Generate from a knowledge base"}.get)
kbs = store.list_kbs()
data_dir = settings.uploads_dir / "training"
data_dir.mkdir(parents=True, exist_ok=True)

examples: list[Example] | None = None
if source == "file":
    upload = st.file_uploader("Q&A file with question and answer columns", type=["jsonl", "csv", "json"],
                              key="ft_upload")
    if upload is not None:
        try:  # stored under a safe name inside the data folder, whatever the upload is called
            examples = read_qa_file(save_upload(settings, upload.name, upload.getvalue()))
        except TrainingDataError as exc:
            st.error(str(exc))
else:
    if not kbs:
        st.info("Create a knowledge base and upload documents first.")
    else:
        kb_for_data = st.selectbox("Knowledge base", kbs, key="ft_kb")
        count = st.slider("Question/answer pairs to generate", 10, 500, 50, step=10)
        if st.button("Generate pairs"):
            bar = st.progress(0.0, text="Writing questions with the generator model ...")
            generated = generate_from_kb(store.kb(kb_for_data), settings, limit=count,
                                         progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d} of {t} pairs"))
            path = data_dir / f"generated-{kb_for_data}.jsonl"
            write_examples(generated, path)
            st.session_state["ft_generated"] = str(path)
        if st.session_state.get("ft_generated"):
            examples = read_qa_file(Path(st.session_state["ft_generated"]))

if examples is not None:
    st.write(f"{len(examples)} examples. Edit them below before training; each keeps where it came from.")
    edited = st.data_editor([{"question": e.question, "answer": e.answer, "from": e.source.get("file", "")}
                             for e in examples], num_rows="dynamic", width="stretch", key="ft_editor")
    raft_kb = st.selectbox("Knowledge base for RAFT passages", kbs, key="ft_raft_kb") if style == "raft" and kbs \
        else None
    # RAFT puts the oracle in the context: a question whose retrieved oracle passage is chosen
    # without its answer sentence gets that sentence added instead of being left out.
    oracle_sentence = style == "raft" and st.checkbox(
        "Add the passage sentence that states the answer when the chosen sentences miss it",
        key="ft_oracle_sentence", help="Otherwise such questions are left out (they would teach guessing).")
    oracle_passage = style == "raft" and st.checkbox(
        "Put the source document's passage among the retrieved ones when retrieval misses it",
        key="ft_oracle_passage", help="Uses each example's source file. Otherwise such questions teach "
                                      "\"I don't know.\" (at most the share of examples without their passage).")
    reason = style == "raft" and st.checkbox(
        "Teach the model to quote the sentence that states the answer before answering", key="ft_reason",
        help="RAFT's quoted reasoning: the quote is the answer's evidence. Answers take longer (more tokens).")
    if st.button("Use these examples", type="primary"):
        by_question = {e.question: e for e in examples}
        kept = [Example(row["question"], row["answer"], source=by_question.get(row["question"], Example("", "")).source)
                for row in edited if str(row.get("question") or "").strip() and str(row.get("answer") or "").strip()]
        if style == "raft":
            if raft_kb is None:
                st.error("RAFT examples need a knowledge base for their passages.")
                st.stop()
            bar = st.progress(0.0, text="Retrieving passages for each question ...")
            kept = make_raft(kept, store.kb(raft_kb), settings, oracle_sentence=oracle_sentence,
                             oracle_passage=oracle_passage, reason=reason,
                             progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d} of {t} questions"))
        path = data_dir / f"prepared-{style}-{int(time.time())}.jsonl"
        write_examples(kept, path)
        st.session_state["ft_data"] = str(path)
        st.success(f"{len(kept)} {style} examples ready in {path.name}.")

# --- 2. hyper-parameters and start --------------------------------------------------------
st.subheader("2. Train")
prepared = st.session_state.get("ft_data")
with st.form("ft_train"):
    name = st.text_input("Adapter name", placeholder="covid-raft")
    c1, c2, c3, c4 = st.columns(4)
    rank = c1.number_input("LoRA rank", 1, 128, 16)
    alpha = c2.number_input("LoRA alpha", 1, 256, 32)
    lr = c3.number_input("Learning rate", 1e-6, 1e-1, 3e-4, format="%.6f")
    batch = c4.number_input("Batch size", 1, 64, 8)
    c5, c6, c7, c8 = st.columns(4)
    epochs = c5.number_input("Epochs", 0.1, 20.0, 1.0)
    max_steps = c6.number_input("Max steps (0 = by epochs)", 0, 100000, 0)
    max_length = c7.number_input("Tokens per example", training.MIN_LENGTH, 8192, training.TrainConfig.max_length,
                                 help="Prompt and answer. A longer prompt loses its start; the run counts them.")
    modules = c8.multiselect("Target modules", [*training.ATTENTION_MODULES, *training.MLP_MODULES],
                             default=list(training.ATTENTION_MODULES))
    start = st.form_submit_button("Start training", type="primary", disabled=not prepared)
    if not prepared:
        st.caption("Prepare training data above first.")
if start and prepared:
    try:
        config = training.TrainConfig(name=name.strip(), data=prepared, style=style, rank=int(rank), alpha=int(alpha),
                                      learning_rate=float(lr), batch_size=int(batch), epochs=float(epochs),
                                      max_steps=int(max_steps), target_modules=modules,
                                      max_length=int(max_length))
        run_dir = training.new_run(config, settings)
        training.start_in_background(run_dir)
        st.session_state["ft_run"] = run_dir.name
        st.success(f"Training started: run {run_dir.name}")
    except (AdapterError, TrainingDataError) as exc:
        st.error(str(exc))

# --- 3. runs --------------------------------------------------------------------------------
st.subheader("3. Runs")
runs = training.list_runs(settings)
if not runs:
    st.info("No training runs yet.")
else:
    names = [d.name for d, _ in runs]
    chosen = st.selectbox("Run", names, index=names.index(st.session_state["ft_run"])
                          if st.session_state.get("ft_run") in names else 0)
    run_dir = settings.runs_dir / chosen

    @st.fragment(run_every=3)
    def show_run() -> None:
        status = training.read_status(run_dir)
        progress = training.read_progress(run_dir)
        state, step, total = status.get("state"), status.get("step", 0), status.get("total", 0) or 1
        eta = status.get("eta")
        st.progress(min(step / total, 1.0), text=f"{state}: step {step} of {total}"
                    + (f", about {eta / 60:.1f} min left" if eta and state == "running" else ""))
        if progress:
            st.line_chart({"loss": [p["loss"] for p in progress]}, x_label="step", y_label="training loss")
        if status.get("cut_examples"):
            st.warning(f"{status['cut_examples']} training examples are longer than the length limit: their "
                       "prompts lose their start, unlike what the model reads when it answers.")
        if status.get("error"):
            st.error(status["error"])
        if state == "completed":
            st.success(f"Adapter '{status.get('adapter')}' registered; held-out loss {status.get('held_out_loss')}")

    show_run()
    status = training.read_status(run_dir)
    c1, c2, c3 = st.columns(3)
    if status.get("state") in ("running", "starting") and c1.button("Stop"):
        training.cancel(run_dir)
        st.info("Stopping after the current step; the run can be resumed.")
    if status.get("state") in ("interrupted", "cancelled", "failed") and c2.button("Resume"):
        training.start_in_background(run_dir)
        st.rerun()
    if status.get("state") not in ("running", "starting") and c3.button("Discard run"):
        training.discard(run_dir)
        st.session_state.pop("ft_run", None)
        st.rerun()

# --- 4. adapters -----------------------------------------------------------------------------
st.subheader("4. Adapters")
adapters = list_adapters(settings)
if not adapters:
    st.info("No adapters yet.")
else:
    active = active_adapter(settings)
    st.dataframe([{"active": "✓" if a.name == active else "", "name": a.name, "style": a.style,
                   "base model": a.base_model, "examples": a.data.get("examples"), "steps": a.steps,
                   "train loss": a.train_loss, "held-out loss": a.held_out_loss,
                   # what hybrid answers with a whole sentence (what the training answers say at length)
                   "sentence answers for": ", ".join(sorted(adapter_sentence_forms(a))) or "-",
                   "train time (s)": a.train_seconds, "created": a.created} for a in adapters],
                 hide_index=True, width="stretch")
    pick = st.selectbox("Adapter", [a.name for a in adapters], key="ft_adapter")
    c1, c2 = st.columns(2)
    if c1.button("Activate", key="ft_activate"):
        try:
            activate_adapter(settings, pick)
            st.rerun()
        except AdapterError as exc:
            st.error(str(exc))
    if c2.button("Delete adapter", key="ft_delete"):
        delete_adapter(settings, pick)
        st.rerun()
    with st.expander("Hyper-parameters and data of the selected adapter"):
        st.json(json.loads((settings.adapters_dir / pick / "docent.json").read_text()))
