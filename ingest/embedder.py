"""Sentence-transformers embeddings, loaded offline, batched and L2-normalised."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingest.embedding.source import configured_max_seq_length, resolve_source
from ingest.errors import ModelError
from ingest.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ingest.embedding.onnx_encoder import OnnxEncoder

log = logging.getLogger(__name__)

# What the Hugging Face libraries must see before they are first imported: nothing is
# downloaded (only local folders and the local cache are read), no progress bars or chatter,
# no tokenizer thread pool to clash with the processes a server forks. A value the user set
# in the environment is kept.
_HUB_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def prepare_offline_hub() -> None:
    """Set :data:`_HUB_ENVIRONMENT`; called where the model is loaded, before the first
    import of ``sentence_transformers`` (huggingface_hub reads these at import time)."""
    for name, value in _HUB_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class ModelSpec:
    """``name`` is what the index records; ``location`` is what sentence-transformers loads."""

    name: str
    location: str


def resolve_model(spec: str) -> ModelSpec:
    """The bundled all-MiniLM-L6-v2 for its names, a local folder as given, else a hub name
    from the local Hugging Face cache (nothing is downloaded): resolved by
    :func:`ingest.embedding.source.resolve_source`, so that the ONNX encoder names a model as
    the index does. A name found nowhere stays as given: sentence-transformers says why when
    it is loaded, and a configured model that differs from the index's is refused by name."""
    prepare_offline_hub()  # resolve_source may import huggingface_hub, which reads these once
    try:
        source = resolve_source(spec)
    except ModelError:
        return ModelSpec(spec, spec)
    return ModelSpec(source.name, str(source.path))


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class Embedder:
    """Loads lazily (``warm_up``) so that constructing one is free."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, bf16: bool = True) -> None:
        self.spec = resolve_model(model)
        self.batch_size = batch_size
        self.bf16 = bf16 and _cpu_has_bf16()
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._quick: OnnxEncoder | None = None
        self._quick_left = 0
        self._fast: OnnxEncoder | None = None

    def start_with(self, encoder: OnnxEncoder, passages: int) -> None:
        """Embed the first ``passages`` passages with ``encoder``, a verified ONNX export of this
        model (the index's query encoder), and only the rest with sentence-transformers.

        Importing and loading sentence-transformers costs ~5 s, most of an update that adds one
        small file; the export loads in a fraction of a second, but embeds ~2.5x slower than
        the model in bf16, so it pays for the first couple of hundred passages only. Its vectors
        agree with the model's to the export's verified tolerance (fp32, no autocast)."""
        if encoder.name != self.name:
            raise ModelError(f"the ONNX encoder is of {encoder.name!r}, not {self.name!r}")
        self._quick, self._quick_left = encoder, passages

    def embed_rest_with(self, encoder: OnnxEncoder) -> None:
        """Embed the passages :meth:`start_with`'s export does not with ``encoder`` (OpenVINO
        on a verified export of this model: :mod:`ingest.embedding.openvino_encoder`) rather
        than sentence-transformers, which is then never loaded, unless ``encoder`` cannot
        load or verify itself (a WARNING says why)."""
        if encoder.name != self.name:
            raise ModelError(f"the passage encoder is of {encoder.name!r}, not {self.name!r}")
        self._fast = encoder

    def _take_quick(self, count: int) -> OnnxEncoder | None:
        """The export, if it may embed ``count`` more passages (and loads); past its budget the
        passage encoder of :meth:`embed_rest_with`, if any and it loads; else ``None`` for good."""
        if self._model is not None:
            return None
        if self._quick is not None and count <= self._quick_left:
            try:
                self._quick.warm_up()
            except ModelError as exc:
                log.warning("the index's ONNX encoder cannot embed (%s): using sentence-transformers", exc.message)
            else:
                self._quick_left -= count
                return self._quick
        self._quick = None  # past the budget, or broken: never back
        if self._fast is not None:
            try:
                self._fast.warm_up()
            except ModelError as exc:
                self._give_up_fast(exc.message)
            else:
                return self._fast
        return None

    def _give_up_fast(self, why: str) -> None:
        log.warning("the passage encoder cannot embed (%s): using sentence-transformers", why)
        self._fast = None

    @property
    def _export(self) -> OnnxEncoder | None:
        """The export that answers for the model while the model is not loaded."""
        return None if self._model is not None else (self._quick or self._fast)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loaded(self) -> bool:
        """The sentence-transformers model is loaded (and so embeds every passage from now on)."""
        return self._model is not None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            prepare_offline_hub()
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()

            try:
                self._model = SentenceTransformer(self.spec.location, device="cpu")
            except Exception as exc:
                raise ModelError(
                    f"cannot load embedding model {self.spec.name!r} ({type(exc).__name__}: {exc}). "
                    "Give a local sentence-transformers folder, or a model name already in the "
                    "local Hugging Face cache: nothing is downloaded at run time."
                ) from exc

    @property
    def model(self) -> SentenceTransformer:
        self.warm_up()
        assert self._model is not None  # warm_up loaded it or raised
        return self._model

    @property
    def dimension(self) -> int:
        if self._export is not None:
            return self._export.dimension
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise ModelError(f"embedding model {self.spec.name!r} does not tell the size of its vectors")
        return int(dimension)

    def load_in_background(self) -> None:
        """Start loading what will embed in a thread (a fresh build: parsing starts meanwhile,
        ~5 s sooner for the model): the passage encoder of :meth:`embed_rest_with` if there is
        one, else the model. The first embedding waits for it, and a load that fails is retried
        there, where its error is raised or its WARNING logged."""
        fast = self._fast

        def load() -> None:
            try:
                if fast is not None:
                    try:
                        fast.warm_up()
                        return
                    except ModelError:  # remembered by the encoder; the model will embed
                        log.debug("the passage encoder failed to load in the background", exc_info=True)
                self.warm_up()
            except Exception:  # raised again, or logged, where the passages are embedded
                log.debug("loading in the background failed", exc_info=True)

        threading.Thread(target=load, name="model-load", daemon=True).start()

    @property
    def max_seq_length(self) -> int:
        if self._export is not None:
            return self._export.max_seq_length
        if self._model is None:
            configured = configured_max_seq_length(resolve_source(self.spec.location).path)
            if configured is not None:
                return configured
        length = self.model.max_seq_length
        if length is None:
            raise ModelError(f"embedding model {self.spec.name!r} does not tell its maximum input length")
        return int(length)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model tokenizer's tokens in ``text`` (no special tokens)."""
        encoding = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(start), int(end)) for start, end in encoding["offset_mapping"]]

    def embed_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        quick = self._take_quick(len(texts))
        if quick is not None:
            try:
                return quick.embed_passages(texts)
            except Exception as exc:  # e.g. a runtime's allocation failure mid-build
                if quick is not self._fast:
                    raise
                self._give_up_fast(f"{type(exc).__name__}: {exc}")  # these passages, and the rest, by the model
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query, fp32, shape ``(dimension,)``."""
        vector = self.model.encode(
            [text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vector[0], dtype=np.float32)
