"""Docent: the Streamlit entry point. Navigation and page config; pages do the rest."""

import logging

import streamlit as st

from core.config import get_settings
from knowledge.health import check_startup

st.set_page_config(page_title="Docent", page_icon=":books:", layout="wide")

navigation = st.navigation({
    "Ask": [st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True)],
    "Admin": [st.Page("pages/knowledge_bases.py", title="Knowledge bases", icon=":material/library_books:"),
              st.Page("pages/fine_tuning.py", title="Fine-tuning", icon=":material/model_training:"),
              st.Page("pages/evaluation.py", title="Evaluation", icon=":material/analytics:")],
})


@st.cache_resource(show_spinner=False)
def healthy_data_dirs() -> set[str]:
    """Data folders found healthy by this server process: each is checked once, not on
    every rerun; a broken one is checked again on each run until it is repaired."""
    return set()


settings = get_settings()
data_dir = str(settings.data_dir.resolve())
if data_dir not in healthy_data_dirs():
    health = check_startup(settings)  # a broken data folder gets a message and a way out
    if not health.ok:
        st.error(health.message())
        st.markdown("To see every problem, and to move damaged parts aside (nothing is deleted), run:")
        st.code(".venv/bin/python -m core doctor\n.venv/bin/python -m core doctor --repair", language="bash")
        st.stop()
    healthy_data_dirs().add(data_dir)
try:
    navigation.run()
except Exception as exc:  # st.stop / st.rerun are not Exceptions and pass through
    logging.getLogger("docent").exception("page %s failed", navigation.title)
    st.error(f"Something went wrong on this page: {exc}. The details are in the server log.")
