"""Shared fixtures for the whole test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embedder import Embedder
from ingest.settings import get_settings


@pytest.fixture
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CLAUSEWISE_* variable or .env file of the developer's shell reaches the code under
    test: the variables are cleared, the test runs in its own folder, settings are re-read."""
    for name in list(os.environ):
        if name.startswith("CLAUSEWISE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One real all-MiniLM-L6-v2 (bundled, offline), loaded once per session (~5 s)."""
    model = Embedder()
    model.warm_up()
    return model
