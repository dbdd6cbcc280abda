"""Applying one ingest run's changes to a PostgreSQL index, document by document.

Each new or changed document is replaced in one transaction (its old row deleted, cascading to
its passages, terms and lexemes, then the new rows inserted with ``COPY``); each removed document is
deleted in one; nothing else is touched, so unchanged documents keep their rows and passage ids.
Last, the meta row takes the run's manifest and the next generation, which is what serving
replicas poll. One writer at a time: the run holds a session advisory lock.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
from psycopg.types.json import Jsonb

from ingest.errors import IndexBusyError
from ingest.store.format import Manifest
from ingest.store.lexical import tokenize_one
from ingest.store.postgres.schema import (
    DOCUMENTS,
    LEXEMES,
    LOCK_KEY,
    META,
    PASSAGES,
    SCHEMA_VERSION,
    TERMS,
    Connection,
)
from ingest.types import Document, Passage

PASSAGE_COLUMNS = "id, doc_id, ordinal, text, heading, char_start, char_end, page_start, page_end, section, content_hash, ocr, embedding"


def acquire_lock(conn: Connection) -> None:
    """Take the database's one writer lock for a run (held by the session until
    :func:`release_lock` or the connection closes), or raise :class:`IndexBusyError` at once."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    if not (row and row[0]):
        raise IndexBusyError("another `clausewise ingest` is writing this PostgreSQL index; try again when it is done")


def release_lock(conn: Connection) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def heading_of(passage: Passage, title: str, contextualize: bool) -> str:
    """What the lexical index reads before the passage: its title and section path (as
    :func:`~ingest.store.writer.contextual_text` puts them), or nothing."""
    if not contextualize:
        return ""
    return f"{title} — {passage.section}" if passage.section else title


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of a document's passage vectors (what the confidence compares to)."""
    total = vectors.astype(np.float64).sum(axis=0)
    norm = float(np.linalg.norm(total))
    return (total / norm if norm > 0 else total).astype(np.float32)


def replace_document(
    conn: Connection, document: Document, passages: Sequence[Passage], vectors: np.ndarray, contextualize: bool
) -> None:
    """Put ``document`` with its ``passages`` (and their ``vectors``, in order) in place of any
    indexed version of it, in one transaction."""
    headings = [heading_of(p, document.title, contextualize) for p in passages]
    terms: Counter[str] = Counter()
    for heading, passage in zip(headings, passages):
        terms.update(set(tokenize_one(f"{heading}\n{passage.text}" if heading else passage.text)))
    document = dataclasses.replace(document, passage_count=len(passages))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"DELETE FROM {DOCUMENTS} WHERE doc_id = %s OR source = %s", (document.doc_id, document.source))
        cur.execute(
            f"INSERT INTO {DOCUMENTS} (doc_id, source, title, kind, file_hash, pages, passage_count, chars, centroid)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                document.doc_id,
                document.source,
                document.title,
                document.kind,
                document.file_hash,
                document.pages,
                document.passage_count,
                document.chars,
                centroid(vectors) if len(vectors) else np.zeros(vectors.shape[1], np.float32),
            ),
        )
        with cur.copy(f"COPY {PASSAGES} ({PASSAGE_COLUMNS}) FROM STDIN") as copy:
            for passage, heading, vector in zip(passages, headings, vectors):
                copy.write_row(
                    (
                        passage.id,
                        passage.doc_id,
                        passage.ordinal,
                        passage.text,
                        heading,
                        passage.char_start,
                        passage.char_end,
                        passage.page_start,
                        passage.page_end,
                        passage.section,
                        passage.content_hash,
                        bool(passage.ocr),
                        vector,
                    )
                )
        with cur.copy(f"COPY {TERMS} (term, doc_id, df) FROM STDIN") as copy:
            for term, df in terms.items():
                copy.write_row((term, document.doc_id, df))
        cur.execute(
            f"INSERT INTO {LEXEMES} (lexeme, doc_id, ndoc) SELECT word, %s, ndoc"
            f" FROM ts_stat(format('SELECT tsv FROM {PASSAGES} WHERE doc_id = %%L', %s::text))",
            (document.doc_id, document.doc_id),
        )


def delete_documents(conn: Connection, doc_ids: Sequence[str]) -> None:
    """Drop documents, each with its passages and terms, in one transaction per document."""
    for doc_id in doc_ids:
        with conn.transaction():
            conn.execute(f"DELETE FROM {DOCUMENTS} WHERE doc_id = %s", (doc_id,))


def indexed_doc_ids(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute(f"SELECT doc_id FROM {DOCUMENTS}").fetchall()}


def publish_manifest(conn: Connection, manifest: Manifest) -> int:
    """Record the run's manifest and bump the generation; the new generation."""
    with conn.transaction():
        row = conn.execute(
            f"INSERT INTO {META} (schema_version, generation, manifest) VALUES (%s, 1, %s)"
            f" ON CONFLICT (singleton) DO UPDATE SET generation = {META}.generation + 1, manifest = EXCLUDED.manifest"
            " RETURNING generation",
            (SCHEMA_VERSION, Jsonb(manifest.to_json())),
        ).fetchone()
    assert row is not None
    return int(row[0])
