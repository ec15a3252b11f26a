"""Chat: ask questions about a knowledge base; answers stream in with their sources.
With "Compare modes" on, each question is answered by RAG, Fine-tuned and Hybrid side
by side, and the reader can mark the best answer (saved for the Evaluation page)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from adapters.registry import default_adapter, list_adapters
from core import conversation
from core.answer import Answer, iter_answer
from core.feedback import record_choice
from knowledge.store import KnowledgeBase, KnowledgeBaseError
from pages.common import COMPARE_MODES, MODE_LABELS, answer_markdown, get_store, load_models, render_sources

store = get_store()
base_settings = store.settings
st.title("Ask your documents")

names = store.list_kbs()
if not names:
    st.info("There is no knowledge base yet. An admin creates one and uploads documents on the Knowledge bases page; "
            "then ask your questions here.")
    st.page_link("pages/knowledge_bases.py", label="Go to Knowledge bases", icon=":material/library_books:")
    st.stop()

with st.sidebar:
    current = st.session_state.get("kb", base_settings.default_kb)
    kb_name = st.selectbox("Knowledge base", names, index=names.index(current) if current in names else 0, key="kb")
    compare = st.toggle("Compare modes", key="compare",
                        help="Answer each question with RAG, Fine-tuned and Hybrid side by side.")
    mode = st.radio("Answer mode", list(MODE_LABELS), format_func=MODE_LABELS.get, key="mode", disabled=compare)
    fitting = [a.name for a in list_adapters(base_settings) if a.base_model == base_settings.generator_model]
    adapters: dict[str, str | None] = {}
    for adapter_mode in ("finetuned", "hybrid"):
        if compare or mode == adapter_mode:
            if not fitting:
                st.warning(f"{MODE_LABELS[adapter_mode]} needs an adapter: an admin trains one on the "
                           "Fine-tuning page.")
                continue
            default = default_adapter(base_settings, adapter_mode)
            adapters[adapter_mode] = st.selectbox(f"{MODE_LABELS[adapter_mode]} adapter", fitting,
                                                  index=fitting.index(default) if default in fitting else 0,
                                                  key=f"adapter_{adapter_mode}")
    with st.expander("Retrieval and generation"):
        top_k = st.slider("Passages to retrieve", 1, 10, base_settings.top_k, key="top_k")
        context_sentences = st.slider("Sentences the model reads", 1, 12, base_settings.context_sentences,
                                      key="context_sentences",
                                      help="The best sentences of the retrieved passages: short context, "
                                           "focused answers.")
        min_relevance = st.slider("Refuse below relevance", 0.0, 1.0, float(base_settings.min_relevance), 0.05,
                                  key="min_relevance")
        max_new_tokens = st.slider("Longest answer (tokens)", 16, 512, base_settings.max_new_tokens, 16,
                                   key="max_new_tokens")
settings = replace(base_settings, top_k=top_k, context_sentences=context_sentences, min_relevance=min_relevance,
                   max_new_tokens=max_new_tokens)

try:
    kb = store.kb(kb_name)
except KnowledgeBaseError as exc:
    st.error(str(exc))
    st.stop()
if not kb.documents():
    st.info(f"The knowledge base '{kb.name}' has no documents yet: an admin uploads some first.")
    st.page_link("pages/knowledge_bases.py", label="Upload documents", icon=":material/upload:")
    st.stop()

load_models(settings)
messages: list[dict[str, Any]] = st.session_state.setdefault("messages", [])


def stream_answer(question: str, history: list[dict[str, str]], answer_mode: str, kb: KnowledgeBase,
                  compact: bool = False) -> dict:
    """Stream one answer into the current container, then show it checked, with sources."""
    final: dict[str, Answer] = {}

    def pieces():
        for item in iter_answer(question, history, answer_mode, None if answer_mode in ("base", "finetuned") else kb,
                                settings, adapters.get(answer_mode)):
            if isinstance(item, Answer):
                final["answer"] = item
            else:
                yield item

    placeholder = st.empty()
    try:
        with placeholder.container():
            st.write_stream(pieces())
    except Exception as exc:  # shown in the page, never as a traceback
        placeholder.error(f"Could not answer: {exc}")
        return {"mode": answer_mode, "error": str(exc)}
    result = final["answer"].to_dict()
    placeholder.markdown(answer_markdown(result))
    render_sources(result, compact)
    return result


def show_compare(index: int, message: dict[str, Any]) -> None:
    """Three columns, one per mode, and a button under each to mark it the best."""
    columns = st.columns(len(message["answers"]))
    for column, (answer_mode, result) in zip(columns, message["answers"].items()):
        with column:
            show_column_header(answer_mode, result)
            if "error" in result:
                st.error(f"Could not answer: {result['error']}")
                continue
            st.markdown(answer_markdown(result))
            render_sources(result, compact=True)
            mark_best_button(index, message, answer_mode)


def show_column_header(answer_mode: str, result: dict[str, Any]) -> None:
    total = result.get("timings", {}).get("total")
    st.markdown(f"#### {MODE_LABELS[answer_mode]}" + (f" · {total:.1f} s" if total is not None else ""))


def mark_best_button(index: int, message: dict[str, Any], answer_mode: str) -> None:
    if message.get("best") == answer_mode:
        st.success("Marked as the best answer", icon=":material/star:")
    elif st.button("Best answer", key=f"best-{index}-{answer_mode}", icon=":material/star_outline:"):
        question = messages[index - 1]["content"] if index else ""
        record_choice(settings, question, kb.name, message["answers"], answer_mode)
        message["best"] = answer_mode
        st.rerun()


for index, message in enumerate(messages):
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            st.markdown(message["content"])
        elif "answers" in message:
            show_compare(index, message)
        else:
            st.markdown(answer_markdown(message["answer"]))
            render_sources(message["answer"])

question = st.chat_input(f"Ask about the documents in '{kb.name}'", max_chars=settings.max_question_chars)
if question:
    with st.chat_message("user"):
        st.markdown(question)
    history = [{"role": m["role"], "content": m["content"]} for m in messages]
    with st.chat_message("assistant"):
        if compare:
            answers = {}
            for column, answer_mode in zip(st.columns(len(COMPARE_MODES)), COMPARE_MODES):
                with column:
                    st.markdown(f"#### {MODE_LABELS[answer_mode]}")
                    answers[answer_mode] = stream_answer(question, history, answer_mode, kb, compact=True)
            reply = {"role": "assistant", "content": answers["rag"].get("answer", ""), "answers": answers}
        else:
            result = stream_answer(question, history, mode, kb)
            if "error" in result:
                st.stop()
            reply = {"role": "assistant", "content": result["answer"], "answer": result}
    messages += [{"role": "user", "content": question}, reply]
    if compare:
        st.rerun()  # redraw with the "best answer" buttons

if messages:
    clear, as_markdown, as_json, _ = st.columns([1, 1, 1, 3])
    if clear.button("Clear conversation", key="clear"):
        st.session_state["messages"] = []
        st.rerun()
    as_markdown.download_button("Download (Markdown)", conversation.to_markdown(messages), "conversation.md",
                                mime="text/markdown", key="download_md")
    as_json.download_button("Download (JSON)", conversation.to_json(messages), "conversation.json",
                            mime="application/json", key="download_json")
