"""Shared, cached resources for the pages (one Chroma client per server process)."""

from __future__ import annotations

import streamlit as st

from core.config import Settings, get_settings
from knowledge.store import Store


@st.cache_resource(show_spinner="Opening the knowledge store ...")
def _store(data_dir: str, chroma_url: str) -> Store:
    return Store(get_settings())


def get_settings_cached() -> Settings:
    return get_settings()


def get_store() -> Store:
    settings = get_settings()
    return _store(str(settings.data_dir.resolve()), settings.chroma_url)
