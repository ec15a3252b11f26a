"""Admin page: create knowledge bases, upload documents, list, preview and delete them."""

from __future__ import annotations

import streamlit as st

from knowledge.loaders import SUPPORTED_TYPES, reader_recipe
from knowledge.store import KnowledgeBaseError
from pages.common import get_store, require_admin

# Streamlit's bundled Material icons: they render without an emoji font on the server's clients.
STATUS_ICONS = {"added": ":green[:material/check_circle:]", "replaced": ":blue[:material/sync:]",
                "unchanged": ":gray[:material/pause_circle:]", "failed": ":red[:material/error:]"}

require_admin()
st.title("Knowledge bases")
store = get_store()
settings = store.settings

try:
    names = store.list_kbs()
except Exception as exc:  # a broken data folder must show a message, not a traceback
    st.error(f"Cannot open the knowledge store in {settings.data_dir}: {exc}")
    st.stop()

with st.expander("Create a knowledge base", expanded=not names):
    with st.form("create_kb", clear_on_submit=True):
        new_name = st.text_input("Name", placeholder="legal, medical, hr-policies ...")
        if st.form_submit_button("Create") and new_name:
            try:
                created = store.kb(new_name, create=True)
                st.session_state["kb"] = created.name
                st.success(f"Created knowledge base '{created.name}'.")
                names = store.list_kbs()
            except KnowledgeBaseError as exc:
                st.error(str(exc))

if not names:
    st.info("No knowledge base yet: create one above, then upload documents into it.")
    st.stop()

default = st.session_state.get("kb", settings.default_kb)
kb_name = st.selectbox("Knowledge base", names, index=names.index(default) if default in names else 0, key="kb")
try:
    kb = store.kb(kb_name)
except KnowledgeBaseError as exc:
    st.error(str(exc))
    st.stop()

st.subheader("Add documents")
kinds = ", ".join(sorted({s.lstrip(".").upper() for s in SUPPORTED_TYPES}))
uploads = st.file_uploader(f"Files ({kinds}; up to {settings.max_upload_mb:g} MB each)", accept_multiple_files=True,
                           key=f"uploads-{st.session_state.get('upload_round', 0)}")
if uploads and st.button(f"Add {len(uploads)} file(s) to '{kb.name}'", type="primary", key="add_files"):
    overall = st.progress(0.0, text="Starting ...")
    results = []
    with st.status(f"Adding {len(uploads)} file(s) ...", expanded=True) as status:
        for i, upload in enumerate(uploads):
            def progress(done: int, total: int, i=i, name=upload.name) -> None:
                overall.progress((i + done / max(total, 1)) / len(uploads),
                                 text=f"{name}: embedded {done} of {total} chunks")

            result = kb.ingest_bytes(upload.name, upload.getvalue(), progress=progress)
            st.write(f"{STATUS_ICONS[result.status]} {result.line()}")
            results.append(result)
            overall.progress((i + 1) / len(uploads), text=f"{i + 1} of {len(uploads)} files done")
        failed = sum(not r.ok for r in results)
        status.update(label=f"Done: {len(results) - failed} ok, {failed} failed",
                      state="error" if failed else "complete", expanded=bool(failed))
    st.session_state["last_results"] = [r.to_dict() for r in results]
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1

if st.session_state.get("last_results"):
    st.caption("Last upload")
    st.dataframe([{"file": r["source"], "result": r["status"],
                   "pages": r["pages"], "chunks": r["chunks"], "message": r["message"] or "; ".join(r["warnings"])}
                  for r in st.session_state["last_results"]], hide_index=True, width="stretch")

st.subheader("Documents")
docs = kb.documents()
if not docs:
    st.info(f"'{kb.name}' has no documents yet.")
    st.stop()
recipe = reader_recipe(kb.settings)
st.dataframe([{"file": d.source, "pages": d.pages, "chunks": d.chunks, "size (KB)": round(d.size / 1024),
               "added": d.added_at.replace("T", " ")[:16], "id": d.doc_id,
               "read by": "this version" if d.reader == recipe else "an older version: upload again to re-read"}
              for d in docs], hide_index=True, width="stretch")
st.caption(f"{len(docs)} documents, {sum(d.chunks for d in docs)} chunks; embeddings: {kb.embedder_id}")

labels = {f"{d.source} ({d.doc_id[:8]})": d for d in docs}
choice = labels[st.selectbox("Document", list(labels), key="doc_choice")]
preview, delete = st.tabs(["Preview chunks", "Delete"])
with preview:
    for chunk in kb.chunks_of(choice.doc_id)[:200]:
        st.markdown(f"**Page {chunk.page}** · chars {chunk.start}-{chunk.end}"
                    + (f" · _{chunk.heading}_" if chunk.heading else ""))
        st.text(chunk.text)
with delete:
    st.write(f"Removes **{choice.source}** and all {choice.chunks} of its chunks from '{kb.name}'.")
    if st.button("Delete document", type="primary", key="delete_doc"):
        try:
            removed = kb.remove(choice.doc_id)
            st.success(f"Removed {removed.source}.")
            st.rerun()
        except KnowledgeBaseError as exc:
            st.error(str(exc))
