"""Shared fixtures for the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hermetic import cleared

from ingest.embedder import Embedder


@pytest.fixture
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CLAUSEWISE_* variable or .env file of the developer's shell reaches the code under
    test: the variables are cleared, the test runs in its own folder, settings are re-read."""
    monkeypatch.chdir(tmp_path)
    with cleared(monkeypatch):
        yield


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One real all-MiniLM-L6-v2 (bundled, offline), loaded once per session (~5 s)."""
    model = Embedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL with pgvector (pgserver) for the session; the DSN of its ``postgres``
    database. Tests make their own database with :func:`postgres_server.fresh_database`."""
    from postgres_server import start

    yield from start(tmp_path_factory.mktemp("postgres") / "data")
