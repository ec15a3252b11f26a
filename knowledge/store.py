"""Knowledge bases as Chroma collections, changed one whole document at a time.

Each knowledge base NAME is two collections: `docent.NAME` holds the chunks (text,
embedding, file/page/offset metadata) and `docent.NAME.docs` one record per document.
The document record is the commit marker: it is written as `pending` before the first
chunk and flipped to `committed` after the last, and readers only see committed
documents. A crash half-way leaves a `pending` record that the next writer cleans up
(`recover`). We keep this manifest in Chroma itself, rather than in LangChain's SQL
record manager, because the record manager tracks chunks, not documents (it cannot make
a document all-or-nothing), and because a team's Chroma server must hold all the state
that several app replicas share.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chromadb.api.types import EmbeddingFunction

from core.config import Settings
from core.models import Embedder, get_embedder
from knowledge.chunking import Chunk, chunk_pages
from knowledge.loaders import IngestError, LoadedDocument, load_document, safe_name

PREFIX = "docent."
KB_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
Progress = Callable[[int, int], None]


class KnowledgeBaseError(Exception):
    """A request about a knowledge base that cannot be met; the message says why."""


class EmbedderMismatchError(KnowledgeBaseError):
    pass


class StoreUnavailableError(KnowledgeBaseError):
    """Chroma cannot be opened (a damaged or unwritable data folder, an unreachable
    server); the message says why and what to do."""


@dataclass
class DocumentInfo:
    doc_id: str
    source: str
    pages: int
    chunks: int
    size: int
    file_type: str
    added_at: str
    status: str = "committed"
    content: str = ""  # hash of the file's bytes ("" for documents added before it was kept)
    reader: str = ""  # the reader recipe that made its chunks ("" before recipes were kept)

    @classmethod
    def from_record(cls, doc_id: str, meta: dict[str, Any]) -> DocumentInfo:
        return cls(doc_id, str(meta.get("source", "")), int(meta.get("pages", 0)), int(meta.get("chunks", 0)),
                   int(meta.get("size", 0)), str(meta.get("file_type", "")), str(meta.get("added_at", "")),
                   str(meta.get("status", "")), str(meta.get("content", "")), str(meta.get("reader", "")))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestResult:
    """What happened to one file: added, unchanged, replaced or failed (with the reason)."""

    source: str
    status: str
    message: str = ""
    doc_id: str = ""
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        detail = f"{self.pages} pages, {self.chunks} chunks" if self.status in ("added", "replaced") else ""
        parts = [p for p in (detail, self.message, "; ".join(self.warnings)) if p]
        return f"{self.status:9} {self.source}" + (f" ({'; '.join(parts)})" if parts else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_kb_name(name: str) -> str:
    clean = name.strip().lower()
    if not KB_NAME.match(clean):
        raise KnowledgeBaseError(
            f"invalid knowledge base name {name!r}: use 1-64 letters, digits, '-' or '_', "
            "starting and ending with a letter or digit")
    return clean


def make_client(settings: Settings):
    """Chroma: a server when DOCENT_CHROMA_URL is set, else embedded in the data folder.
    Raises StoreUnavailableError with the reason and a way out instead of Chroma's own
    error from deep inside."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                       ssl=url.scheme == "https", settings=chroma_settings,
                                       tenant=settings.chroma_tenant, database=settings.chroma_database)
        except Exception as exc:
            raise StoreUnavailableError(
                f"cannot use the Chroma server at {settings.chroma_url} (tenant '{settings.chroma_tenant}', "
                f"database '{settings.chroma_database}'): {type(exc).__name__}: {exc}. Start it with "
                "`chroma run --path DIR --host 0.0.0.0 --port 8000`, or fix DOCENT_CHROMA_URL, "
                "DOCENT_CHROMA_TENANT and DOCENT_CHROMA_DATABASE") from None
    path = settings.chroma_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailableError(
            f"cannot create the knowledge-base store {path}: {exc.strerror or exc}. Check DOCENT_DATA_DIR "
            "(it must be a writable folder), or run `python -m core doctor` for details") from None
    damage = sqlite_damage(path / "chroma.sqlite3")
    if damage:  # Chroma would open it as an empty store and write into it
        raise StoreUnavailableError(
            f"the knowledge-base store {path} is damaged: {damage}. `python -m core doctor --repair` moves it "
            "aside (into DATA/broken/) so that Docent starts with an empty one; or restore it from a backup")
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        forget_client(str(path))
        raise StoreUnavailableError(
            f"the knowledge-base store {path} cannot be opened ({type(exc).__name__}: {exc}). "
            "`python -m core doctor` checks it; `python -m core doctor --repair` moves a damaged store "
            "aside (into DATA/broken/) so that Docent starts with an empty one") from None


SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_damage(path: Path) -> str:
    """What is visibly wrong with Chroma's SQLite file, from its 100-byte header alone
    (cheap enough for every start): not SQLite, or shorter than the size its header
    records. '' when nothing is (or the file does not exist yet). A truncated or emptied
    file would otherwise open as an empty store, and the knowledge bases would seem gone."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(100)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    if size == 0:
        others = [p for p in path.parent.iterdir() if p != path and not p.name.startswith("chroma.sqlite3-")]
        return f"{path.name} is empty (0 bytes)" if others else ""  # empty and alone: a store never used
    if header[:16] != SQLITE_HEADER or len(header) < 100:
        return f"{path.name} is not a SQLite database (overwritten or garbage)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]  # SQLite trusts the page count only then
    if header_valid and pages and size < pages * page_size:
        return f"{path.name} is truncated ({size:,} of {pages * page_size:,} bytes)"
    return ""


def forget_client(path: str, stop: bool = True) -> None:
    """Chroma keeps one client system per folder for the whole process, even one that
    failed to open or has gone stale; drop it so that the next client starts afresh.
    `stop=False` leaves a system that other threads may still be using running (it goes
    away with its last reference)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)
    if system is not None and stop:
        try:
            system.stop()
        except Exception:  # a system that never started cannot stop cleanly
            pass


class ChromaEmbeddingFunction(EmbeddingFunction):
    """Our Embedder in the shape Chroma expects, so no collection falls back to Chroma's
    default embedding function (which downloads a model)."""

    def __init__(self, embedder: Embedder, batch_size: int = 64) -> None:
        self.embedder = embedder
        self.batch_size = batch_size

    def __call__(self, input: list[str]) -> list[list[float]]:  # noqa: A002 - Chroma's name
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embedder.embed(input, self.batch_size)]

    def embed_query(self, input: list[str]) -> list[list[float]]:  # noqa: A002
        return self(input)

    @staticmethod
    def name() -> str:
        return "docent-sentence-transformer"

    def get_config(self) -> dict[str, Any]:
        return {"model_id": self.embedder.model_id}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        from core.config import get_settings
        from core.models import _load_embedder

        return ChromaEmbeddingFunction(_load_embedder(config["model_id"], get_settings().torch_threads))

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


WRITES_TOKEN = "chroma-writes"  # in the locks folder: who wrote to the embedded store last


class _ClientHandle:
    """The Store's Chroma client; the same object across reopenings, so that caches keyed
    on it (retrieval's BM25 index) do not grow with every reopening."""

    def __init__(self, client) -> None:
        self.current = client

    def __getattr__(self, attr: str):
        return getattr(self.current, attr)


class Store:
    """All knowledge bases of one Chroma (embedded or server).

    Several processes on one embedded store (the app, and the CLI ingesting): an
    embedded Chroma client keeps its vector index in memory and never sees what another
    process wrote: its next query fails ("Error finding id") or misses the new
    documents, and a write from a stale client could persist a stale index. So every
    write leaves a token file in the data folder's locks/ folder; a Store that finds
    someone else's token before it reads or writes reopens its client (~20 ms; the
    writers' file lock orders the writes), and a Chroma InternalError makes it reopen
    and retry once. A Chroma server needs none of this: it is the one process."""

    def __init__(self, settings: Settings, client=None) -> None:
        self.settings = settings
        self.client = _ClientHandle(client or make_client(settings))
        self.generation = 0  # bumped each time the client is reopened
        self._id = uuid.uuid4().hex[:12]
        self._writes = 0
        self._lock = threading.Lock()
        self._seen = self._token_key()  # a new client has read everything written so far

    @property
    def embedded(self) -> bool:
        return not self.settings.chroma_url

    def _token_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.settings.locks_dir / WRITES_TOKEN)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def sync(self) -> None:
        """Reopen the embedded client if another process (or Store) wrote since we last
        looked: one stat() when nothing changed."""
        if not self.embedded:
            return
        key = self._token_key()
        if key == self._seen:
            return
        try:
            token = (self.settings.locks_dir / WRITES_TOKEN).read_text()
        except OSError:
            token = ""
        if not token.startswith(self._id + ":"):
            self.refresh(self.generation)
        self._seen = key

    def note_write(self) -> None:
        """Tell other processes on this embedded store that it changed (atomic replace)."""
        if not self.embedded:
            return
        self._writes += 1
        self.settings.locks_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.settings.locks_dir / f".{WRITES_TOKEN}.{self._id}"
        tmp.write_text(f"{self._id}:{self._writes}:{os.getpid()}")
        tmp.replace(self.settings.locks_dir / WRITES_TOKEN)
        self._seen = self._token_key()

    def refresh(self, seen_generation: int) -> None:
        """Reopen the embedded client so that it reads what others wrote; threads that
        still hold the old one finish their call on it (it is not stopped)."""
        if not self.embedded:
            return
        with self._lock:
            if self.generation != seen_generation:  # another thread just did it
                return
            forget_client(str(self.settings.chroma_dir), stop=False)
            self.client.current = make_client(self.settings)
            self.generation += 1

    def list_kbs(self) -> list[str]:
        self.sync()
        names = [getattr(c, "name", c) for c in self.client.list_collections()]
        return sorted(n[len(PREFIX):] for n in names if n.startswith(PREFIX) and not n.endswith(".docs"))

    def kb(self, name: str, create: bool = False) -> KnowledgeBase:
        """Open a knowledge base; with create=True make it when missing."""
        name = validate_kb_name(name)
        if name not in self.list_kbs():
            if not create:
                known = ", ".join(self.list_kbs()) or "none yet"
                raise KnowledgeBaseError(f"no knowledge base named '{name}' (existing: {known})")
            return KnowledgeBase.create(self, name)
        return KnowledgeBase(self, name)

    def delete_kb(self, name: str) -> None:
        name = validate_kb_name(name)
        for collection in (PREFIX + name, PREFIX + name + ".docs"):
            try:
                self.client.delete_collection(collection)
            except Exception:  # already gone
                pass
        self.note_write()


class _Collection:
    """A Chroma collection that follows its Store when the Store reopens its client, and
    retries a call once after reopening when an embedded Chroma fails it with an
    InternalError (what a client goes stale with after another process's writes)."""

    def __init__(self, store: Store, name: str, embedding_function) -> None:
        self._store = store
        self._name = name
        self._ef = embedding_function
        self._generation = -1
        self._collection = None

    def _current(self):
        generation = self._store.generation
        if self._collection is None or self._generation != generation:
            self._collection = self._store.client.get_collection(self._name, embedding_function=self._ef)
            self._generation = generation
        return self._collection

    def __getattr__(self, attr: str):
        value = getattr(self._current(), attr)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            from chromadb.errors import InternalError

            seen = self._store.generation
            try:
                return getattr(self._current(), attr)(*args, **kwargs)
            except InternalError:
                if not self._store.embedded:
                    raise
                self._store.refresh(seen)
                return getattr(self._current(), attr)(*args, **kwargs)

        return call


class KnowledgeBase:
    """One knowledge base: documents in, documents out, chunks for retrieval."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.settings = store.settings
        self.chunks = _Collection(store, PREFIX + name, self._embedding_function())
        self.docs = _Collection(store, PREFIX + name + ".docs", None)
        meta = self.chunks.metadata or {}
        self.embedder_id = str(meta.get("docent_embedder", ""))
        self.created_at = str(meta.get("docent_created", ""))
        if self.embedder_id != self.settings.embedding_model:
            raise EmbedderMismatchError(
                f"knowledge base '{name}' was built with the embedding model '{self.embedder_id}', "
                f"but the configured model is '{self.settings.embedding_model}'; set "
                f"DOCENT_EMBEDDING_MODEL={self.embedder_id} to use it, or create a new knowledge base")

    @classmethod
    def create(cls, store: Store, name: str) -> KnowledgeBase:
        settings = store.settings
        meta = {"docent_embedder": settings.embedding_model,
                "docent_created": datetime.now(UTC).isoformat(timespec="seconds"),
                "hnsw:space": "cosine"}
        ef = _LazyEmbeddingFunction(settings)
        store.client.get_or_create_collection(PREFIX + name, metadata=meta, embedding_function=ef)
        store.client.get_or_create_collection(PREFIX + name + ".docs", metadata={"docent_manifest_of": name},
                                              embedding_function=None)
        store.note_write()
        return cls(store, name)

    def _embedding_function(self):
        return _LazyEmbeddingFunction(self.settings)

    @property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    # --- reading -----------------------------------------------------------------
    def documents(self, include_pending: bool = False) -> list[DocumentInfo]:
        self.store.sync()
        got = self.docs.get(include=["metadatas"])
        infos = [DocumentInfo.from_record(i, m or {}) for i, m in zip(got["ids"], got["metadatas"])]
        if not include_pending:
            infos = [d for d in infos if d.status == "committed"]
        return sorted(infos, key=lambda d: (d.source.lower(), d.added_at))

    def committed_ids(self) -> set[str]:
        """Documents readers may see: retrieval filters to these, never a half-written one.
        (Retrieval calls this first: the place to catch up with other processes' writes.)"""
        self.store.sync()
        got = self.docs.get(where={"status": "committed"}, include=[])
        return set(got["ids"])

    def find(self, name_or_id: str) -> DocumentInfo:
        docs = self.documents()
        exact = [d for d in docs if name_or_id in (d.doc_id, d.source)]
        matches = exact or [d for d in docs if len(name_or_id) >= 6 and d.doc_id.startswith(name_or_id)]
        if not matches:
            raise KnowledgeBaseError(f"no document '{name_or_id}' in knowledge base '{self.name}'")
        if len(matches) > 1:
            raise KnowledgeBaseError(f"'{name_or_id}' matches {len(matches)} documents; use a document id: "
                                     + ", ".join(d.doc_id for d in matches))
        return matches[0]

    def chunks_of(self, doc_id: str, page: int | None = None) -> list[Chunk]:
        """A document's chunks in order, or one page's."""
        where = {"doc_id": doc_id} if page is None else {"$and": [{"doc_id": doc_id}, {"page": page}]}
        got = self.chunks.get(where=where, include=["documents", "metadatas"])
        chunks = [chunk_from_record(t, m) for t, m in zip(got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.index)

    def count_chunks(self) -> int:
        return self.chunks.count()

    # --- writing -----------------------------------------------------------------
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer per knowledge base across processes (the app and the CLI)."""
        from filelock import FileLock

        self.settings.locks_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.settings.locks_dir / f"kb-{self.name}.lock")):
            yield

    def ingest_file(self, path: Path, name: str | None = None, progress: Progress | None = None) -> IngestResult:
        """Load, check and store one file; never raises for a bad file, reports it instead."""
        started = time.perf_counter()
        source = safe_name(name or Path(path).name)
        try:
            loaded = load_document(Path(path), self.settings, name=source)
        except IngestError as exc:
            return IngestResult(source, "failed", str(exc), seconds=time.perf_counter() - started)
        result = self.ingest(loaded, progress)
        result.seconds = time.perf_counter() - started
        return result

    def ingest_bytes(self, name: str, data: bytes, progress: Progress | None = None) -> IngestResult:
        """An upload: size-checked before it touches the disk, then read from a private
        temporary file inside the data folder (never at a path the file name chose)."""
        import tempfile

        if len(data) > self.settings.max_upload_bytes:
            return IngestResult(safe_name(name), "failed", f"file is {len(data) / 2**20:.1f} MB; the limit is "
                                f"{self.settings.max_upload_mb:g} MB (DOCENT_MAX_UPLOAD_MB)")
        incoming = self.settings.uploads_dir / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=incoming, suffix=".upload", delete=False) as fh:
            fh.write(data)
            tmp = Path(fh.name)
        try:
            return self.ingest_file(tmp, name=name, progress=progress)
        finally:
            tmp.unlink(missing_ok=True)

    def ingest(self, doc: LoadedDocument, progress: Progress | None = None) -> IngestResult:
        """Add a loaded document all or nothing: unchanged if its content is here already,
        replaced if a different version with the same file name is here."""
        with self.write_lock():
            self.store.sync()  # start from what other processes wrote (the lock orders the writers)
            self.recover()
            existing = self.documents()
            same = [d for d in existing if d.doc_id == doc.doc_id]
            if same:
                note = "already in the knowledge base"
                if same[0].source != doc.source:
                    note += f" as '{same[0].source}'"
                return IngestResult(doc.source, "unchanged", note, doc.doc_id, same[0].pages, same[0].chunks)
            older = [d for d in existing if d.source == doc.source]
            chunks = chunk_pages(doc.pages, doc.source, doc.doc_id,
                                 self.settings.chunk_size, self.settings.chunk_overlap)
            if not chunks:
                return IngestResult(doc.source, "failed", "no text to index")
            try:
                self._write_document(doc, chunks, progress)
                for old in older:
                    self._delete_document(old.doc_id)
            finally:
                self.store.note_write()
        status, message = ("replaced", _replaced_because(older[0], doc)) if older else ("added", "")
        return IngestResult(doc.source, status, message, doc.doc_id, len(doc.pages), len(chunks), warnings=doc.warnings)

    def _write_document(self, doc: LoadedDocument, chunks: list[Chunk], progress: Progress | None) -> None:
        meta = {"source": doc.source, "pages": len(doc.pages), "chunks": len(chunks), "size": doc.size,
                "file_type": doc.file_type, "status": "pending", "content": doc.content, "reader": doc.reader,
                "added_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.docs.upsert(ids=[doc.doc_id], embeddings=[[1.0]], metadatas=[meta])
        try:
            self.chunks.delete(where={"doc_id": doc.doc_id})  # leftovers of an interrupted attempt
            batch = self.settings.embed_batch_size
            for i in range(0, len(chunks), batch):
                part = chunks[i: i + batch]
                vectors = self.embedder.embed([c.embedding_text() for c in part], batch)
                self.chunks.add(ids=[c.id for c in part], embeddings=vectors,
                                documents=[c.text for c in part], metadatas=[c.metadata() for c in part])
                if progress:
                    progress(min(i + batch, len(chunks)), len(chunks))
            self.docs.update(ids=[doc.doc_id], metadatas=[{**meta, "status": "committed"}])
        except BaseException:
            self._delete_document(doc.doc_id)
            raise

    def remove(self, name_or_id: str) -> DocumentInfo:
        """Remove a document and every one of its chunks."""
        with self.write_lock():
            self.store.sync()
            info = self.find(name_or_id)
            self._delete_document(info.doc_id)
            self.store.note_write()
        return info

    def _delete_document(self, doc_id: str) -> None:
        # Hide it from readers first, then drop the chunks, then the record.
        if self.docs.get(ids=[doc_id], include=[])["ids"]:
            self.docs.update(ids=[doc_id], metadatas=[{"status": "deleting"}])
        self.chunks.delete(where={"doc_id": doc_id})
        self.docs.delete(ids=[doc_id])

    def recover(self) -> list[str]:
        """Finish what a crashed writer left: drop pending and half-deleted documents."""
        got = self.docs.get(where={"status": {"$ne": "committed"}}, include=[])
        for doc_id in got["ids"]:
            self._delete_document(doc_id)
        if got["ids"]:
            self.store.note_write()
        return list(got["ids"])


def _replaced_because(old: DocumentInfo, new: LoadedDocument) -> str:
    """Why a file's earlier document was replaced: the same bytes read anew, or new bytes."""
    what = ("read again: this version of Docent reads and chunks files otherwise" if old.content == new.content
            else "replaced the copy an older version of Docent read" if not old.content
            else "replaced the earlier version")
    return f"{what} ({old.doc_id})"


class _LazyEmbeddingFunction(ChromaEmbeddingFunction):
    """Loads the embedder on first use, so listing documents never loads a model."""

    def __init__(self, settings: Settings) -> None:  # noqa: D107 - no super(): embedder is lazy
        self.settings = settings
        self.batch_size = settings.embed_batch_size

    @property
    def embedder(self) -> Embedder:  # type: ignore[override]
        return get_embedder(self.settings)

    def get_config(self) -> dict[str, Any]:
        return {"model_id": self.settings.embedding_model}


def chunk_from_record(text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(text=text, source=str(meta["source"]), doc_id=str(meta["doc_id"]), page=int(meta["page"]),
                 start=int(meta["start"]), end=int(meta["end"]), heading=str(meta.get("heading", "")),
                 index=int(meta.get("index", 0)))
