"""Shared, cached resources and renderers for the pages (no logic of their own)."""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

from core.auth import admin_gate
from core.citations import strip_citation_marks
from core.config import Settings, get_settings
from core.models import get_embedder, get_generator
from knowledge.store import Store

MODE_LABELS = {"rag": "RAG", "finetuned": "Fine-tuned", "hybrid": "Hybrid", "base": "Base model only"}
COMPARE_MODES = ("rag", "finetuned", "hybrid")
ADMIN_TOKEN = "_docent_admin_token"  # not a widget key: a browser cannot set it


def is_admin() -> bool:
    return admin_gate().is_admin(st.session_state.get(ADMIN_TOKEN))


def require_admin() -> None:
    """Admin pages call this first: without a valid admin session the page shows a
    sign-in form and stops, so none of its actions can run."""
    gate = admin_gate()
    if not gate.enabled:
        st.caption(":material/lock_open: Single-user local mode: no admin password is set "
                   "(`DOCENT_ADMIN_PASSWORD`), so anyone who can open this app can change its documents and models.")
        return
    if gate.is_admin(st.session_state.get(ADMIN_TOKEN)):
        if st.sidebar.button("Sign out (admin)", key="sign_out", icon=":material/logout:"):
            gate.sign_out(st.session_state.pop(ADMIN_TOKEN, None))
            st.rerun()
        return
    st.title("Admin sign-in")
    st.write("This page changes the shared knowledge base and models: it needs the admin password.")
    with st.form("admin_sign_in"):
        password = st.text_input("Admin password", type="password", key="admin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        token = gate.sign_in(password)
        if token:
            st.session_state[ADMIN_TOKEN] = token
            st.rerun()
        st.error("Wrong password. Each failed try makes the next one wait longer.")
    st.stop()


@st.cache_resource(show_spinner="Opening the knowledge store ...")
def _store(data_dir: str, chroma_url: str) -> Store:
    return Store(get_settings())


def get_store() -> Store:
    settings = get_settings()
    return _store(str(settings.data_dir.resolve()), settings.chroma_url)


@st.cache_resource(show_spinner="Loading the models (the first start converts SmolLM2, about 30 s) ...")
def _models(embedding_model: str, generator_model: str) -> bool:
    settings = get_settings()
    get_embedder(settings)
    get_generator(settings)
    return True


def load_models(settings: Settings) -> None:
    """Load both models once per server process, with a spinner the first time."""
    _models(settings.embedding_model, settings.generator_model)


def answer_markdown(answer: dict[str, Any]) -> str:
    """The answer as shown: the model's own [n] marks are dropped, since they number the
    passages as the model saw them, not as the cited sources below are listed."""
    text = strip_citation_marks(answer["answer"])
    if answer["refused"]:
        return f":orange[**{text}**]  \n_{answer['reason']}_"
    if answer.get("reason", "").startswith("quoted"):  # the passage's words, not an answer the model stated
        return f"> {' '.join(text.split())}\n\n_{answer['reason']}_"
    if answer.get("model_quote"):  # a reasoning adapter quoted its sentence before answering
        return f"{text}\n\n_the sentence the model answered from:_ “{answer['model_quote']}”"
    return text


def highlight(text: str, start: int, end: int) -> str:
    """The passage as HTML with its supporting sentence marked."""
    if end <= start:
        return html.escape(text)
    return (html.escape(text[:start]) + "<mark>" + html.escape(text[start:end]) + "</mark>"
            + html.escape(text[end:]))


def render_sources(answer: dict[str, Any], compact: bool = False) -> None:
    """Cited passages first (sentence highlighted), the other retrieved ones folded away.
    `compact` (the compare columns) shows each cited sentence and folds its passage away."""
    cited = [s for s in answer["sources"] if s["cited"]]
    others = [s for s in answer["sources"] if not s["cited"]]
    for n, s in enumerate(cited, start=1):
        with st.container(border=True):
            st.markdown(f"**[{n}] {s['source']}, page {s['page']}** · score {s['score']:.2f}"
                        + (f" · _{s['heading']}_" if s.get("heading") else ""))
            passage = highlight(s["text"], s["sentence_start"], s["sentence_end"]).replace("\n", "<br>")
            if compact:
                st.markdown(f"<mark>{html.escape(' '.join(s['sentence'].split()))}</mark>", unsafe_allow_html=True)
                with st.expander("Whole passage"):
                    st.markdown(passage, unsafe_allow_html=True)
            else:
                st.markdown(passage, unsafe_allow_html=True)
    training = [s for s in others if s.get("kind") == "training"]
    others = [s for s in others if s.get("kind") != "training"]
    if training:
        with st.expander(f"Training material behind this answer ({len(training)}): not retrieved evidence"):
            for s in training:
                st.markdown(f"**{s['source']}, page {s['page']}** · similarity {s['score']:.2f} · _{s['heading']}_")
                st.markdown(highlight(s["text"], s["sentence_start"], s["sentence_end"]).replace("\n", "<br>"),
                            unsafe_allow_html=True)
    if others:
        label = "Closest passages" if answer["refused"] else f"Other retrieved passages ({len(others)})"
        with st.expander(label, expanded=answer["refused"]):
            for s in others:
                st.markdown(f"**{s['source']}, page {s['page']}** · score {s['score']:.2f}")
                st.text(s["text"])
    timings = answer.get("timings", {})
    parts = [f"{k.replace('_', ' ')} {v:.2f} s" for k, v in timings.items() if k != "tokens"]
    st.caption(f"mode: {answer['mode']}" + (f" · adapter: {answer['adapter']}" if answer.get("adapter") else "")
               + (" · " + " · ".join(parts) if parts else ""))
