"""Docent: the Streamlit entry point. Navigation and page config; pages do the rest."""

import streamlit as st

st.set_page_config(page_title="Docent", page_icon=":books:", layout="wide")

navigation = st.navigation({
    "Ask": [st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True)],
    "Admin": [st.Page("pages/knowledge_bases.py", title="Knowledge bases", icon=":material/library_books:"),
              st.Page("pages/fine_tuning.py", title="Fine-tuning", icon=":material/model_training:")],
})
navigation.run()
