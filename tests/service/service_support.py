"""Helpers shared by the service tests: building an index, an engine over it that reuses the
session model, and the assertion every bad request must pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hermetic import clean_settings

from ingest.embedder import Embedder
from ingest.pipeline import ingest
from ingest.settings import Settings
from service.search.engine import Engine

KESTRELMOOR = "Who may return to Kestrelmoor after the floods?"


@dataclass(frozen=True)
class BuiltIndex:
    folder: Path  # what was ingested
    index_dir: Path
    settings: Settings
    version: str
    documents: int
    passages: int


def build_index(folder: Path, index_dir: Path, embedder: Embedder, **settings) -> BuiltIndex:
    """Ingest ``folder`` into ``index_dir``. The settings name ``folder`` as the corpus folder too,
    so that an app started on them (uploads, rebuilds) never touches the working directory."""
    config = clean_settings(index_dir=index_dir, corpus_dir=folder, **settings)
    report = ingest([folder], config, embedder=embedder)
    assert report.published and not report.failed and not report.skipped, report
    return BuiltIndex(folder, index_dir, config, report.index_version, report.documents, report.passages)


def engine_for(settings: Settings, embedder: Embedder, index_dir: Path | None = None) -> Engine:
    """An unloaded engine that reuses the session's model instead of loading its own copy."""
    return Engine(settings, index_dir or settings.index_dir, embedder=embedder)


def make_ask(client) -> Callable[..., dict]:
    """``ask(question, top_k=..., mode=..., filters=...)``: POST /ask, the JSON of a 200 answer."""

    def ask(question: str, **fields) -> dict:
        response = client.post("/ask", json={"question": question, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    return ask


def assert_json_4xx(response, status: int | None = None) -> dict:
    """A client error answered as JSON with a non-empty human ``message``."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    return body
