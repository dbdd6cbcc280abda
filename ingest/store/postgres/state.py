"""What a PostgreSQL index holds, as both sides need it: the manifest of the last published
run and the documents (the write side's previous state, the read side's document list)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ingest.errors import IndexIncompatibleError, IndexMissingError
from ingest.store.format import Manifest
from ingest.store.postgres.schema import DOCUMENTS, META, Connection, has_schema
from ingest.types import Document

DOCUMENT_COLUMNS = "doc_id, source, title, kind, file_hash, pages, passage_count, chars"


def document_of(row: tuple) -> Document:
    """A :class:`Document` from the columns :data:`DOCUMENT_COLUMNS` name, in that order."""
    doc_id, source, title, kind, file_hash, pages, passage_count, chars = row
    return Document(doc_id, source, title, kind, file_hash, pages, passage_count, chars)


@dataclass(frozen=True)
class PostgresState:
    """The published manifest, its generation and the documents, read in one transaction."""

    manifest: Manifest
    generation: int
    documents: dict[str, Document]  # by doc_id, in source order

    @property
    def version(self) -> str:
        return self.manifest.index_version


def published_version(conn: Connection) -> str | None:
    """The version of the last published run, cheaply (what serving replicas poll)."""
    if not has_schema(conn):
        return None
    row = conn.execute(f"SELECT manifest->>'index_version' FROM {META}").fetchone()
    return None if row is None else str(row[0])


def read_state(conn: Connection, dsn_hint: str = "CLAUSEWISE_POSTGRES_DSN") -> PostgresState:
    """The published state; :class:`IndexMissingError` when nothing was ingested into this database."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # manifest and documents agree
        row = conn.execute(f"SELECT generation, manifest FROM {META}").fetchone() if has_schema(conn) else None
        if row is None:
            raise IndexMissingError(
                f"no clausewise index in the database of {dsn_hint}: build one with "
                "`CLAUSEWISE_BACKEND=postgres clausewise ingest PATH`"
            )
        generation, data = row
        try:
            manifest = Manifest.from_json(data if isinstance(data, dict) else json.loads(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexIncompatibleError(
                f"the clausewise manifest in the database cannot be read ({exc}); rebuild it with "
                "`clausewise ingest PATH --rebuild`"
            ) from exc
        rows = conn.execute(f"SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENTS} ORDER BY source").fetchall()
    return PostgresState(manifest, int(generation), {r[0]: document_of(r) for r in rows})
