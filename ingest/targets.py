"""Where an ingest run finds the index it updates and publishes its changes: the one place the
embedded index and the PostgreSQL backend differ for :mod:`ingest.pipeline`.

- :class:`SegmentTarget` (``CLAUSEWISE_BACKEND=embedded``): the previous state is the current
  generation in ``index_dir``; a run writes one segment of its new and changed documents and
  publishes a generation with the rows they replace deleted, then merges small segments.
- :class:`PostgresTarget` (``postgres``): the previous state is the database's; a run replaces
  each new or changed document in one transaction, deletes removed ones, then bumps the
  generation (a ``--rebuild`` does all of it in one transaction).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Protocol

import numpy as np

from ingest.changes import NextBuild
from ingest.errors import IndexMissingError
from ingest.settings import Settings
from ingest.store.dense import DensePolicy
from ingest.store.format import Manifest
from ingest.store.lexical import Postings, tokenize
from ingest.store.merge import carry_over, merge_segments
from ingest.store.reader import StoredIndex, read_manifest
from ingest.store.segment import write_segment
from ingest.store.writer import clean_leftovers, contextual_text, publish
from ingest.types import Document, Passage


class Previous(Protocol):
    """What a run needs of the index it updates (a :class:`StoredIndex` is one)."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def documents(self) -> dict[str, Document]: ...

    @property
    def version(self) -> str: ...


class Target(Protocol):
    def previous(self) -> Previous | None:
        """The published index, or ``None`` (nothing yet, or ``--rebuild``)."""
        ...

    def publish(self, manifest: Manifest, assembled: NextBuild, vectors: np.ndarray) -> str:
        """Make ``assembled`` (with the new passages' ``vectors``, in order) the published index; its version."""
        ...

    def close(self) -> None: ...


def open_target(settings: Settings, index_dir: Path, rebuild: bool) -> Target:
    """The target ``settings.backend`` names (``index_dir``: the embedded index, or this
    machine's caches beside a PostgreSQL one)."""
    if settings.backend == "postgres":
        assert settings.postgres_dsn is not None  # Settings refuses the backend without one
        return PostgresTarget(settings.postgres_dsn, rebuild, settings.contextualize)
    return SegmentTarget(settings, index_dir, rebuild)


class SegmentTarget:
    """The embedded, segmented index in ``index_dir`` (:mod:`ingest.store`)."""

    def __init__(self, settings: Settings, index_dir: Path, rebuild: bool) -> None:
        self.settings = settings
        self.index_dir = index_dir
        clean_leftovers(index_dir)
        self._previous: StoredIndex | None = None
        if not rebuild:
            with contextlib.suppress(IndexMissingError):
                self._previous = StoredIndex.open(index_dir)

    def previous(self) -> StoredIndex | None:
        return self._previous

    def publish(self, manifest: Manifest, assembled: NextBuild, vectors: np.ndarray) -> str:
        previous, index_dir = self._previous, self.index_dir
        policy = DensePolicy.of(self.settings)
        segments, deleted = (
            ([], {}) if previous is None or assembled.fresh else carry_over(previous, assembled.replaced)
        )
        if assembled.passages:
            postings = Postings.build(tokenize(lexical_texts(assembled, self.settings.contextualize)))
            segment = write_segment(index_dir, assembled.documents, assembled.passages, vectors, postings, policy)
            segments.append(segment)
        publish(index_dir, dataclasses.replace(manifest, faiss=policy.info()), segments, deleted)
        merge_segments(index_dir, policy)  # after publishing: readers never wait for it
        return read_manifest(index_dir).index_version  # a merge publishes again

    def close(self) -> None:
        if self._previous is not None:
            self._previous.close()


def lexical_texts(assembled: NextBuild, contextualize: bool) -> list[str]:
    """The new passages as embedded and BM25-indexed: under their title and section, or bare."""
    if not contextualize:
        return [p.text for p in assembled.passages]
    titles = {d.doc_id: d.title for d in assembled.documents}
    return [contextual_text(p, titles[p.doc_id]) for p in assembled.passages]


class PostgresTarget:
    """A PostgreSQL database with pgvector (:mod:`ingest.store.postgres`), written under its
    advisory lock for the whole run."""

    def __init__(self, dsn: str, rebuild: bool, contextualize: bool) -> None:
        from ingest.store.postgres import schema, state, writer  # psycopg: only for this backend

        self._schema, self._state, self._writer = schema, state, writer
        self.rebuild = rebuild
        self.contextualize = contextualize
        self.conn = schema.connect(dsn)
        try:
            writer.acquire_lock(self.conn)
            self._previous = None if rebuild or not schema.has_schema(self.conn) else self._read()
        except BaseException:
            self.conn.close()  # which releases the lock if it was taken
            raise

    def _read(self) -> Previous | None:
        try:
            return self._state.read_state(self.conn)
        except IndexMissingError:
            return None

    def previous(self) -> Previous | None:
        return self._previous

    def publish(self, manifest: Manifest, assembled: NextBuild, vectors: np.ndarray) -> str:
        schema, writer, conn = self._schema, self._writer, self.conn
        by_doc: dict[str, list[int]] = {}
        for row, passage in enumerate(assembled.passages):
            by_doc.setdefault(passage.doc_id, []).append(row)
        new_ids = {d.doc_id for d in assembled.documents}

        def apply() -> None:
            schema.create_schema(conn, vectors.shape[1])
            for document in assembled.documents:
                rows = by_doc.get(document.doc_id, [])
                passages: list[Passage] = [assembled.passages[r] for r in rows]
                writer.replace_document(conn, document, passages, vectors[rows], self.contextualize)
            gone = writer.indexed_doc_ids(conn) - new_ids if assembled.fresh else set(assembled.replaced) - new_ids
            writer.delete_documents(conn, sorted(gone))
            writer.publish_manifest(conn, manifest)

        if self.rebuild:
            with conn.transaction():  # readers see the old index until the new one is whole
                schema.drop_schema(conn)
                apply()
        else:
            apply()
        return manifest.index_version

    def close(self) -> None:
        if not self.conn.closed:
            self._writer.release_lock(self.conn)
        self.conn.close()
