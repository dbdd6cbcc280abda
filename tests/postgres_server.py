"""A real PostgreSQL with pgvector for the tests, from the PyPI package ``pgserver`` (it bundles
the server and the extension; ready in about a second, on a Unix socket in a temporary folder).

As root, pgserver runs the server as a system user ``pgserver`` it creates (``useradd``) and
makes the data folder's parents traversable; a machine where it cannot start skips with why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def start(folder: Path) -> Iterator[str]:
    """Start a server with its data in ``folder``; yields a DSN with pgvector created; stops it after."""
    try:
        import pgserver
        import psycopg  # noqa: F401 — the backend's driver
    except ImportError as exc:
        pytest.skip(f"the PostgreSQL tests need pgserver and psycopg: pip install -e '.[postgres,test]' ({exc})")
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    except Exception as exc:  # whatever stops the server starting is the reason to skip
        pytest.skip(f"pgserver could not start PostgreSQL here: {type(exc).__name__}: {exc}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def fresh_database(dsn: str, name: str) -> str:
    """A new empty database on the server of ``dsn``; its DSN."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return dsn.replace("/postgres?", f"/{name}?", 1)
