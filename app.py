"""Docent: the Streamlit entry point. Navigation and page config; pages do the rest."""

import logging

import streamlit as st

st.set_page_config(page_title="Docent", page_icon=":books:", layout="wide")

navigation = st.navigation({
    "Ask": [st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True)],
    "Admin": [st.Page("pages/knowledge_bases.py", title="Knowledge bases", icon=":material/library_books:"),
              st.Page("pages/fine_tuning.py", title="Fine-tuning", icon=":material/model_training:"),
              st.Page("pages/evaluation.py", title="Evaluation", icon=":material/analytics:")],
})
try:
    navigation.run()
except Exception as exc:  # st.stop / st.rerun are not Exceptions and pass through
    logging.getLogger("docent").exception("page %s failed", navigation.title)
    st.error(f"Something went wrong on this page: {exc}. The details are in the server log.")
