"""What the running service holds: the loaded index and its retriever, swappable as one.

The query encoder is the ONNX export cached beside the index (``INDEX/encoder``, made by
``clausewise ingest``, or exported here in a subprocess when missing or stale), so a serving
process imports onnxruntime, tokenizers, FAISS and the index — never torch. When the export
cannot be used, or ``CLAUSEWISE_QUERY_ENCODER=torch``, sentence-transformers is loaded instead
and the reason is logged (a WARNING when it was not asked for).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
from threadpoolctl import threadpool_limits

from ingest.embedder import Embedder
from ingest.embedding.cache import encoder_dir
from ingest.embedding.provision import ensure_encoder
from ingest.errors import IndexIncompatibleError, NotReady
from ingest.settings import Settings
from ingest.store.format import CURRENT
from ingest.store.reader import StoredIndex, current_build
from service.search.retriever import QueryEncoder, Retriever

log = logging.getLogger(__name__)


class ModelEncoder(QueryEncoder, Protocol):
    """A query encoder that names its model, as an index records it."""

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Snapshot:
    """One published index and the retriever over it. A request takes one snapshot and uses
    only it, so a request is answered wholly by the old index or wholly by the new one."""

    index: StoredIndex
    retriever: Retriever

    @property
    def version(self) -> str:
        return self.index.version


def check_model(index: StoredIndex, settings: Settings) -> None:
    """Queries must be embedded by the model that built the index."""
    wanted = settings.model
    recorded = index.manifest.model.name
    if "model" in settings.model_fields_set and Embedder(wanted).name != recorded:
        raise IndexIncompatibleError(
            f"the index was built with model {recorded!r} but the service is configured for "
            f"{wanted!r}; unset CLAUSEWISE_MODEL, or rebuild: `clausewise ingest PATH --rebuild --model {wanted}`"
        )


class Engine:
    """Loads the index and model once, and swaps in a newer build atomically on reload."""

    def __init__(self, settings: Settings, index_dir: Path | None = None, embedder: ModelEncoder | None = None) -> None:
        """``embedder``: an already loaded model to reuse when an index asks for it by name."""
        self.settings = settings
        self.index_dir = index_dir or settings.index_dir
        self._snapshot: Snapshot | None = None
        self._embedders: dict[str, ModelEncoder] = {embedder.name: embedder} if embedder else {}
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot(self) -> Snapshot:
        """The loaded snapshot; :class:`~ingest.errors.NotReady` (a 503) until :meth:`load` ran."""
        snapshot = self._snapshot
        if snapshot is None:
            raise NotReady("the index is still loading")
        return snapshot

    def _embedder(self, model: str) -> ModelEncoder:
        if model not in self._embedders:
            self._embedders[model] = self._query_encoder(model)
        return self._embedders[model]

    def _query_encoder(self, model: str) -> ModelEncoder:
        """The ONNX encoder of ``model`` when its verified export is (or can be made) usable,
        else sentence-transformers on torch, with the reason logged."""
        settings = self.settings
        if settings.query_encoder == "onnx":
            encoder, reason = ensure_encoder(
                model,
                encoder_dir(self.index_dir),
                intra_op_threads=settings.query_threads,
                query_cache_size=settings.query_cache_size,
            )
            if encoder is not None:
                log.info("query encoder: onnxruntime, %s", encoder.cache_dir)
                return encoder
            log.warning("query encoder: sentence-transformers on torch, because %s", reason)
        else:
            log.info("query encoder: sentence-transformers on torch (CLAUSEWISE_QUERY_ENCODER=torch)")
        import torch  # only on this path: the ONNX one never imports it

        torch.set_num_threads(settings.query_threads)
        return Embedder(model, settings.embed_batch_size, bf16=False)

    def load(self) -> Snapshot:
        """Open the current build (if it differs from the one loaded) and switch to it."""
        with self._lock:
            current = self._snapshot
            if current is not None and current.index.folder == current_build(self.index_dir):
                return current  # nothing new published: no need to open anything
            index = StoredIndex.open(self.index_dir)
            try:
                check_model(index, self.settings)
                faiss.omp_set_num_threads(self.settings.query_threads)  # no second pool beside onnxruntime's
                # Nor numpy's OpenBLAS pool: it sized itself to the cores when numpy was imported
                # (before `serve` could set a thread count), and its two threads spinning over a
                # 1,700-row product took 10 ms on a busy machine against 0.3 ms on one thread.
                threadpool_limits(self.settings.query_threads, user_api="blas")
                retriever = Retriever(index, self._embedder(index.manifest.model.name), self.settings)
                retriever.warm_up()
            except BaseException:
                index.close()
                raise
            self._snapshot = Snapshot(index, retriever)
            return self._snapshot

    # Live rebuilds: cheap change detection and an explicit reload.

    def published_folder(self) -> Path | None:
        """The build the index's ``current`` link points at now, without opening anything
        (``None`` when there is no published build)."""
        try:
            return (self.index_dir / CURRENT).resolve(strict=True)
        except OSError:
            return None

    def is_current(self) -> bool:
        """Whether the loaded snapshot is the published build."""
        snapshot = self._snapshot
        return snapshot is not None and snapshot.index.folder == self.published_folder()

    def reload(self) -> tuple[Snapshot, bool]:
        """Switch to the published build if it is not the loaded one: ``(snapshot, switched)``.
        Requests already holding the old snapshot finish on it."""
        before = self._snapshot
        after = self.load()
        return after, after is not before
