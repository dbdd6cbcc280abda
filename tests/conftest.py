"""Shared fixtures for the whole test suite."""

from __future__ import annotations

import pytest

from ingest.embedder import Embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One real all-MiniLM-L6-v2 (bundled, offline), loaded once per session (~5 s)."""
    model = Embedder()
    model.warm_up()
    return model
