"""What the running service holds: the loaded index and its retriever, swappable as one.

The query encoder is the ONNX export cached beside the index (``INDEX/encoder``, made by
``clausewise ingest``, or exported here in a subprocess when missing or stale), so a serving
process imports onnxruntime, tokenizers, FAISS and the index — never torch. When the export
cannot be used, or ``CLAUSEWISE_QUERY_ENCODER=torch``, sentence-transformers is loaded instead
and the reason is logged (a WARNING when it was not asked for).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faiss
from threadpoolctl import threadpool_limits

from ingest.embedder import Embedder
from ingest.embedding.cache import encoder_dir
from ingest.embedding.provision import ensure_encoder
from ingest.errors import IndexIncompatibleError, NotReady
from ingest.settings import Settings, cores_per_worker
from ingest.store.format import CURRENT
from ingest.store.reader import StoredIndex
from service.search.backend import SearchIndex, SearchRetriever
from service.search.retriever import QueryEncoder, Retriever

log = logging.getLogger(__name__)
# The lone-question session's threads by default, at most: two were measured (2-core EPYC:
# 0.69-0.71x the one-thread took_ms); a tiny model gains less from each thread after that,
# and every thread spins while its question runs.
LONE_THREADS = 2


class ModelEncoder(QueryEncoder, Protocol):
    """A query encoder that names its model, as an index records it."""

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Snapshot:
    """One published index and the retriever over it. A request takes one snapshot and uses
    only it, so a request is answered wholly by the old index or wholly by the new one (with
    the PostgreSQL backend, an ingest running meanwhile replaces documents one by one: a request
    sees each document whole, old or new). ``published``: what :meth:`Engine.published` said
    when it was opened (the generation folder, or the PostgreSQL index's version)."""

    index: SearchIndex
    retriever: SearchRetriever
    published: Hashable

    @property
    def version(self) -> str:
        return self.index.version


def check_model(index: SearchIndex, settings: Settings) -> None:
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

    def __init__(
        self,
        settings: Settings,
        index_dir: Path | None = None,
        embedder: ModelEncoder | None = None,
        *,
        questions_in_flight: Callable[[], int] | None = None,
    ) -> None:
        """``embedder``: an already loaded model to reuse when an index asks for it by name.
        ``questions_in_flight``: how many questions the process is answering (the HTTP app's
        question pool), so that a question runs on the lone-question session
        (``lone_question_threads``) only when it is the only one."""
        self.settings = settings
        self._questions_in_flight = questions_in_flight
        self.index_dir = index_dir or settings.index_dir
        self._snapshot: Snapshot | None = None
        self._embedders: dict[str, ModelEncoder] = {embedder.name: embedder} if embedder else {}
        self._lock = threading.Lock()
        self._poll: Any = None  # the PostgreSQL backend's connection polling the published version

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
                shared=settings.encoder_cache,
                intra_op_threads=settings.query_threads,
                lone_threads=settings.lone_question_threads or min(LONE_THREADS, cores_per_worker(settings)),
                questions_in_flight=self._questions_in_flight,
                query_cache_size=settings.query_cache_size,
                question_batch=settings.query_batch,
                question_passes=cores_per_worker(settings),  # one a core: batch only when all are busy
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
        """Open the published index (if it differs from the one loaded) and switch to it."""
        with self._lock:
            current = self._snapshot
            if current is not None and current.published == self.published():
                return current  # nothing new published: no need to open anything
            # numpy's OpenBLAS pool sized itself to the cores when numpy was imported (before
            # `serve` could set a thread count): its two threads spinning over a 1,700-row
            # product took 10 ms on a busy machine against 0.3 ms on one thread.
            threadpool_limits(self.settings.query_threads, user_api="blas")
            gc.unfreeze()  # the snapshot being replaced becomes collectable again
            if current is not None and isinstance(current.index, StoredIndex):
                # Its BM25 cache (up to `bm25_cache_mib`) goes now, not after the new generation
                # has warmed its own: at a million passages the two would overlap by ~900 MiB.
                current.index.drop_caches()
            self._snapshot = self._open_postgres() if self.settings.backend == "postgres" else self._open_embedded()
            # What a loaded index holds lives until the next switch: kept out of the collector,
            # a full collection costs ~0 ms instead of ~70 ms at a million passages (194,000
            # objects), which surfaced as the p99 of every mode.
            gc.collect()
            gc.freeze()
            return self._snapshot

    def _open_embedded(self) -> Snapshot:
        index = StoredIndex.open(self.index_dir, self.settings.bm25_cache_mib << 20)
        try:
            check_model(index, self.settings)
            faiss.omp_set_num_threads(self.settings.query_threads)  # no second pool beside onnxruntime's
            retriever = Retriever(index, self._embedder(index.manifest.model.name), self.settings)
            retriever.warm_up()
        except BaseException:
            index.close()
            raise
        return Snapshot(index, retriever, index.folder)

    def _open_postgres(self) -> Snapshot:
        from service.search.postgres import PostgresIndex, PostgresRetriever  # psycopg: only for this backend

        assert self.settings.postgres_dsn is not None  # Settings refuses the backend without one
        index = PostgresIndex(self.settings.postgres_dsn)
        check_model(index, self.settings)
        retriever = PostgresRetriever(index, self._embedder(index.manifest.model.name), self.settings)
        retriever.warm_up()
        return Snapshot(index, retriever, index.version)

    # Live rebuilds: cheap change detection and an explicit reload.

    def published(self) -> Hashable | None:
        """What is published now, without opening it: the generation folder the index's
        ``current`` link points at, or the PostgreSQL index's version (``None``: nothing
        published, or the database cannot be reached)."""
        if self.settings.backend == "postgres":
            return self._published_version()
        try:
            return (self.index_dir / CURRENT).resolve(strict=True)
        except OSError:
            return None

    def _published_version(self) -> str | None:
        from ingest.store.postgres.schema import connect
        from ingest.store.postgres.state import published_version

        assert self.settings.postgres_dsn is not None
        try:
            if self._poll is None or self._poll.closed:
                self._poll = connect(self.settings.postgres_dsn)
            return published_version(self._poll)
        except Exception as exc:  # noqa: BLE001 — a database that cannot be reached is "nothing new"
            log.warning("cannot read the published version from PostgreSQL: %s", exc)
            if self._poll is not None:
                self._poll.close()
            self._poll = None
            return None

    def snapshot_published(self) -> Hashable | None:
        """What the loaded snapshot was opened from (``None`` before the first load)."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.published

    def is_current(self) -> bool:
        """Whether the loaded snapshot is the published index."""
        snapshot = self._snapshot
        return snapshot is not None and snapshot.published == self.published()

    def reload(self) -> tuple[Snapshot, bool]:
        """Switch to the published build if it is not the loaded one: ``(snapshot, switched)``.
        Requests already holding the old snapshot finish on it."""
        before = self._snapshot
        after = self.load()
        return after, after is not before
