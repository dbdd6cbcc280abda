"""The tables of the PostgreSQL backend, created idempotently, and the one way to connect.

- ``clausewise_meta``: one row, the manifest of the last published run (model, dimension,
  chunking, counts, version) and a ``generation`` every run bumps; serving replicas poll it.
- ``clausewise_documents``: one row per document, with its centroid (the normalised mean of its
  passage vectors, for the confidence) computed at ingest.
- ``clausewise_passages``: the passages with everything a citation needs, the vector
  (``vector(dim)``, HNSW with inner product: the vectors are normalised) and a generated
  ``tsvector`` over the passage under its title and section (GIN), as the embedded BM25 indexes it.
- ``clausewise_terms``: per document, how many of its passages hold each token of clausewise's
  own tokenizer, so a question word's BM25 idf (which highlighting weighs words by) is one indexed
  sum, the same number the embedded index gives.
- ``clausewise_lexemes``: the same for PostgreSQL's own lexemes (``ts_stat`` of the document's
  ``tsv``): how many passages hold each, which the lexical search selects its candidates by.

The heading is not weighted above the text (``setweight(…, 'B')``): that lowered treaties
lexical recall@1 from 0.09 to 0.02 (docs/benchmarks.md).

Deleting a document's row deletes its passages and terms (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from ingest.errors import IndexIncompatibleError, IndexMissingError

SCHEMA_VERSION = 2  # 2: clausewise_lexemes
META = "clausewise_meta"
DOCUMENTS = "clausewise_documents"
PASSAGES = "clausewise_passages"
TERMS = "clausewise_terms"
LEXEMES = "clausewise_lexemes"
TEXT_SEARCH_CONFIG = "english"  # Snowball English stemming and stop words, as the embedded tokenizer
LOCK_KEY = 0x636C6175  # the advisory lock one writer holds for a whole run ("clau")

Connection = psycopg.Connection[tuple[Any, ...]]


def connect(dsn: str) -> Connection:
    """An autocommit connection (transactions are explicit) that reads and writes vectors as numpy."""
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise IndexMissingError(f"cannot connect to PostgreSQL (CLAUSEWISE_POSTGRES_DSN): {exc}".strip()) from exc
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
    except psycopg.Error as exc:
        conn.close()
        raise IndexIncompatibleError(
            f"the database has no pgvector extension ({exc}): install it on the server "
            "(e.g. apt-get install postgresql-16-pgvector) and run `CREATE EXTENSION vector` once"
        ) from exc
    return conn


def has_schema(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (META,)).fetchone()
    return bool(row and row[0])


def create_schema(conn: Connection, dimension: int) -> None:
    """Create the tables for vectors of ``dimension`` unless they exist (idempotent); an
    existing schema of another version is refused with the fix."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))  # two first runs never race
        if has_schema(conn):
            row = conn.execute(f"SELECT schema_version FROM {META}").fetchone()
            if row is not None and row[0] != SCHEMA_VERSION:
                raise IndexIncompatibleError(
                    f"the database holds a clausewise schema of version {row[0]}; this clausewise writes "
                    f"version {SCHEMA_VERSION}: rebuild it with `clausewise ingest PATH --rebuild`"
                )
            return
        for statement in _ddl(dimension):
            conn.execute(statement)


def drop_schema(conn: Connection) -> None:
    """Remove every clausewise table (a ``--rebuild``, possibly with a model of another dimension)."""
    with conn.transaction():
        conn.execute(f"DROP TABLE IF EXISTS {LEXEMES}, {TERMS}, {PASSAGES}, {DOCUMENTS}, {META}")


HNSW = f"{PASSAGES}_hnsw"
# The dense index; a bulk load is faster without it and creates it after (pgvector's advice).
HNSW_INDEX = f"CREATE INDEX IF NOT EXISTS {HNSW} ON {PASSAGES} USING hnsw (embedding vector_ip_ops)"


def _ddl(dimension: int) -> list[str]:
    return [
        f"""CREATE TABLE {META} (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            schema_version integer NOT NULL,
            generation bigint NOT NULL,
            manifest jsonb NOT NULL
        )""",
        f"""CREATE TABLE {DOCUMENTS} (
            doc_id text PRIMARY KEY,
            source text NOT NULL UNIQUE,
            title text NOT NULL,
            kind text NOT NULL,
            file_hash text NOT NULL,
            pages integer,
            passage_count integer NOT NULL,
            chars integer NOT NULL,
            centroid vector({dimension}) NOT NULL
        )""",
        f"""CREATE TABLE {PASSAGES} (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            doc_id text NOT NULL REFERENCES {DOCUMENTS} ON DELETE CASCADE,
            ordinal integer NOT NULL,
            text text NOT NULL,
            heading text NOT NULL,
            char_start integer NOT NULL,
            char_end integer NOT NULL,
            page_start integer,
            page_end integer,
            section text,
            content_hash text NOT NULL,
            ocr boolean NOT NULL,
            embedding vector({dimension}) NOT NULL,
            tsv tsvector GENERATED ALWAYS AS
                (to_tsvector('{TEXT_SEARCH_CONFIG}', heading || E'\\n' || text)) STORED
        )""",
        f"CREATE INDEX {PASSAGES}_doc ON {PASSAGES} (doc_id, ordinal)",
        HNSW_INDEX,
        f"CREATE INDEX {PASSAGES}_tsv ON {PASSAGES} USING gin (tsv)",
        f"""CREATE TABLE {TERMS} (
            term text NOT NULL,
            doc_id text NOT NULL REFERENCES {DOCUMENTS} ON DELETE CASCADE,
            df integer NOT NULL,
            PRIMARY KEY (term, doc_id)
        )""",
        f"CREATE INDEX {TERMS}_doc ON {TERMS} (doc_id)",
        f"""CREATE TABLE {LEXEMES} (
            lexeme text NOT NULL,
            doc_id text NOT NULL REFERENCES {DOCUMENTS} ON DELETE CASCADE,
            ndoc integer NOT NULL,
            PRIMARY KEY (lexeme, doc_id)
        )""",
        f"CREATE INDEX {LEXEMES}_doc ON {LEXEMES} (doc_id)",
    ]
