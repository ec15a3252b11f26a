"""One Settings object for the whole app, read from DOCENT_* environment variables.

Every default is documented in the README; every model id is a setting so that a user
with hub access can point Docent at a bigger model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_GENERATOR_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
FUSIONS = ("convex", "rrf")  # how dense and BM25 candidates are merged (core.retrieval); the first is the default


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DOCENT_{name}", default)


@lru_cache(maxsize=1)
def cpu_has_bfloat16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX). Without it torch
    emulates bfloat16: a 500 x 576 x 1536 matmul on one AVX2 thread took 1,209 ms against
    float32's 27 ms, and a SmolLM2 prompt's first token 15 s instead of 1.2 s."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(name: str) -> str:
    """'auto' -> bfloat16 where the CPU has it natively, else float32; others as given."""
    if name != "auto":
        return name
    return "bfloat16" if cpu_has_bfloat16() else "float32"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "./data")))
    embedding_model: str = field(default_factory=lambda: _env("EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL))
    generator_model: str = field(default_factory=lambda: _env("GENERATOR_MODEL", DEFAULT_GENERATOR_MODEL))
    # SmolLM2 on one thread: bfloat16 prefills ~2.7x faster than float32 on a CPU with native
    # bfloat16 (same answers in our checks), ~12x slower on one without: "auto" picks.
    generator_dtype: str = field(default_factory=lambda: _env("GENERATOR_DTYPE", "auto"))
    max_new_tokens: int = field(default_factory=lambda: int(_env("MAX_NEW_TOKENS", "64")))
    # 1 = greedy decoding, streamed; more = beam search over that many beams (not streamed).
    num_beams: int = field(default_factory=lambda: int(_env("NUM_BEAMS", "1")))
    # Retrieval: passages in the prompt, candidates per retriever before fusion, refusal threshold.
    top_k: int = field(default_factory=lambda: int(_env("TOP_K", "4")))
    candidates: int = field(default_factory=lambda: int(_env("CANDIDATES", "20")))
    # Dense search is exact (numpy over the stored vectors) up to this many chunks in a
    # knowledge base, Chroma's approximate HNSW index beyond (see Retriever._dense).
    exact_search_chunks: int = field(default_factory=lambda: int(_env("EXACT_SEARCH_CHUNKS", "200000")))
    # A question that names a document ("the Supply Agreement between Sonos and Inventec") is
    # answered from that document: its header must score this much (BM25) and this many times the next one.
    focus_documents: bool = field(default_factory=lambda: _env("FOCUS_DOCUMENTS", "1") not in ("0", "false", "no"))
    focus_min_score: float = field(default_factory=lambda: float(_env("FOCUS_MIN_SCORE", "12")))
    focus_margin: float = field(default_factory=lambda: float(_env("FOCUS_MARGIN", "1.6")))
    # a lower score suffices when the best header is the only one holding all the question's names
    focus_named_min_score: float = field(default_factory=lambda: float(_env("FOCUS_NAMED_MIN_SCORE", "6")))
    # A question naming three or more things (parties, a title) is about one document:
    # refused when no document mentions at least this share of them.
    min_name_coverage: float = field(default_factory=lambda: float(_env("MIN_NAME_COVERAGE", "0.8")))
    # ... and refused when the best passage's document holds less than this share of them,
    # each weighed by its rarity across documents (idf): a word every document uses weighs nothing.
    min_names_held: float = field(default_factory=lambda: float(_env("MIN_NAMES_HELD", "0.7")))
    min_relevance: float = field(default_factory=lambda: float(_env("MIN_RELEVANCE", "0.35")))
    # When the model's answer is not backed by the (relevant) passages: "quote" the best
    # passage sentence instead, or "refuse".
    unsupported_answer: str = field(default_factory=lambda: _env("UNSUPPORTED_ANSWER", "quote"))
    quote_relevance: float = field(default_factory=lambda: float(_env("QUOTE_RELEVANCE", "0.5")))
    # Show a supported answer in the passage's own words (the span that states it), not the model's paraphrase.
    extract_answers: bool = field(default_factory=lambda: _env("EXTRACT_ANSWERS", "1") not in ("0", "false", "no"))
    context_sentences: int = field(default_factory=lambda: int(_env("CONTEXT_SENTENCES", "4")))
    # An extracted answer must come from one of this many most relevant context sentences.
    answer_sentences: int = field(default_factory=lambda: int(_env("ANSWER_SENTENCES", "2")))
    # Question forms ("why", "what are"; `core.text.question_form`) answered with the whole
    # sentence that holds the span, comma-separated, for rag and hybrid. Empty: hybrid uses
    # the forms its adapter's training data answers with sentences, rag none.
    sentence_forms: frozenset[str] = field(default_factory=lambda: frozenset(
        f.strip().lower() for f in _env("SENTENCE_FORMS", "").split(",") if f.strip()))
    # How dense and BM25 candidates are merged: "convex" (half each score as a share of the
    # best candidate's) or "rrf" (reciprocal rank fusion, which sees ranks only).
    fusion: str = field(default_factory=lambda: _env("FUSION", FUSIONS[0]))
    # Optional cross-encoder (a sentence-transformers CrossEncoder id or folder); empty = off.
    reranker_model: str = field(default_factory=lambda: _env("RERANKER_MODEL", ""))
    # Model that writes questions when training data is generated from a knowledge base.
    datagen_model: str = field(default_factory=lambda: _env("DATAGEN_MODEL", ""))
    default_kb: str = field(default_factory=lambda: _env("DEFAULT_KB", "default"))
    # Chunks of ~800 characters keep one clause or paragraph together; a small model
    # answers better from short passages than from long ones.
    chunk_size: int = field(default_factory=lambda: int(_env("CHUNK_SIZE", "800")))
    chunk_overlap: int = field(default_factory=lambda: int(_env("CHUNK_OVERLAP", "100")))
    # "bfloat16" embeds about twice as fast on this CPU (cosine >= 0.996 to float32 vectors).
    embedding_dtype: str = field(default_factory=lambda: _env("EMBEDDING_DTYPE", "float32"))
    embed_batch_size: int = field(default_factory=lambda: int(_env("EMBED_BATCH_SIZE", "64")))
    max_upload_mb: float = field(default_factory=lambda: float(_env("MAX_UPLOAD_MB", "50")))
    max_pdf_pages: int = field(default_factory=lambda: int(_env("MAX_PDF_PAGES", "2000")))
    # Limits against decompression and text bombs, checked before and while text is
    # extracted so that memory stays bounded: the bytes one PDF page's content (its
    # streams and forms) may decompress to, the bytes a whole document may decompress to
    # (all PDF page content, or a DOCX's parts), and the characters of text per page and
    # per document. A dense A4 page holds ~5,000 characters.
    max_page_mb: float = field(default_factory=lambda: float(_env("MAX_PAGE_MB", "32")))
    max_decompressed_mb: float = field(default_factory=lambda: float(_env("MAX_DECOMPRESSED_MB", "512")))
    max_page_chars: int = field(default_factory=lambda: int(_env("MAX_PAGE_CHARS", "200000")))
    max_document_chars: int = field(default_factory=lambda: int(_env("MAX_DOCUMENT_CHARS", "10000000")))
    # Longer questions are refused with a message (MiniLM reads 256 tokens, ~1,000 characters).
    max_question_chars: int = field(default_factory=lambda: int(_env("MAX_QUESTION_CHARS", "2000")))
    # Optional Chroma server (`chroma run`); empty means the embedded PersistentClient.
    chroma_url: str = field(default_factory=lambda: _env("CHROMA_URL", ""))
    # Tenant and database on that server: several Docent deployments can share one server.
    chroma_tenant: str = field(default_factory=lambda: _env("CHROMA_TENANT", "default_tenant"))
    chroma_database: str = field(default_factory=lambda: _env("CHROMA_DATABASE", "default_database"))
    torch_threads: int = field(default_factory=lambda: int(_env("TORCH_THREADS", "1")))

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))  # accept a str too
        object.__setattr__(self, "generator_dtype", resolve_dtype(self.generator_dtype))  # what runs is recorded
        if self.fusion not in FUSIONS:
            raise ValueError(f"DOCENT_FUSION must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def models_dir(self) -> Path:
        """Converted models (a cache); DOCENT_MODELS_DIR shares one between data folders."""
        return Path(os.environ.get("DOCENT_MODELS_DIR") or self.data_dir / "models")

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def locks_dir(self) -> Path:
        return self.data_dir / "locks"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_page_bytes(self) -> int:
        return int(self.max_page_mb * 1024 * 1024)

    @property
    def max_decompressed_bytes(self) -> int:
        return int(self.max_decompressed_mb * 1024 * 1024)

    def describe(self) -> dict[str, str]:
        """Settings as strings, for `--json` output and the UI."""
        return {f.name: _describe(getattr(self, f.name)) for f in fields(self)}


def _describe(value: object) -> str:
    """A setting as its environment variable would spell it (a set sorted, comma-separated)."""
    return ",".join(sorted(value)) if isinstance(value, frozenset) else str(value)


def get_settings() -> Settings:
    """Fresh settings from the environment (cheap; callers may cache)."""
    return Settings()
