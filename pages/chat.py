"""Chat: ask questions about a knowledge base; answers stream in with their sources."""

from __future__ import annotations

import json

import streamlit as st

from adapters.registry import default_adapter, list_adapters
from core.answer import Answer, iter_answer
from knowledge.store import KnowledgeBaseError
from pages.common import MODE_LABELS, answer_markdown, get_store, load_models, render_sources

store = get_store()
settings = store.settings
st.title("Ask your documents")

names = store.list_kbs()
kb_name = st.session_state.get("kb", settings.default_kb)
if not names:
    st.info("There is no knowledge base yet. An admin uploads documents first.")
    st.page_link("pages/knowledge_bases.py", label="Go to Knowledge bases", icon=":material/library_books:")
    st.stop()
with st.sidebar:
    kb_name = st.selectbox("Knowledge base", names, index=names.index(kb_name) if kb_name in names else 0, key="kb")
    mode = st.radio("Answer mode", list(MODE_LABELS), format_func=MODE_LABELS.get, key="mode")
    adapters = [a.name for a in list_adapters(settings) if a.base_model == settings.generator_model]
    adapter = None
    if mode in ("finetuned", "hybrid"):
        if not adapters:
            st.warning("No adapter yet: train one on the Fine-tuning page.")
        else:
            default = default_adapter(settings, mode)
            adapter = st.selectbox("Adapter", adapters, index=adapters.index(default) if default in adapters else 0)
try:
    kb = store.kb(kb_name)
except KnowledgeBaseError as exc:
    st.error(str(exc))
    st.stop()
if not kb.documents():
    st.info(f"The knowledge base '{kb.name}' has no documents yet: upload some first.")
    st.page_link("pages/knowledge_bases.py", label="Upload documents", icon=":material/upload:")
    st.stop()

load_models(settings)
messages: list[dict] = st.session_state.setdefault("messages", [])
for message in messages:
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            st.markdown(message["content"])
        else:
            answer = message["answer"]
            st.markdown(answer_markdown(answer))
            render_sources(answer)

question = st.chat_input(f"Ask about the documents in '{kb.name}'")
if question:
    with st.chat_message("user"):
        st.markdown(question)
    history = [{"role": m["role"], "content": m["content"]} for m in messages]
    final: dict[str, Answer] = {}

    def tokens():
        for item in iter_answer(question, history, mode, kb if mode not in ("base", "finetuned") else None,
                                settings, adapter):
            if isinstance(item, Answer):
                final["answer"] = item
            else:
                yield item

    with st.chat_message("assistant"):
        placeholder = st.empty()
        try:
            with placeholder.container():
                st.write_stream(tokens())
        except Exception as exc:  # shown in the page, never as a traceback
            placeholder.error(f"Could not answer: {exc}")
            st.stop()
        answer = final["answer"].to_dict()
        placeholder.markdown(answer_markdown(answer))
        render_sources(answer)
    messages += [{"role": "user", "content": question},
                 {"role": "assistant", "content": answer["answer"], "answer": answer}]

if messages:
    col1, col2, col3 = st.columns([1, 1, 4])
    if col1.button("Clear conversation"):
        st.session_state["messages"] = []
        st.rerun()
    col2.download_button("Download", json.dumps(messages, indent=2, ensure_ascii=False), "conversation.json",
                         mime="application/json")
