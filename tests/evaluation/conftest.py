"""Fixtures for the evaluation tests: the hand-checkable corpus of ``eval_corpus.py``, ingested
once per session with the session ``embedder`` (``tests/conftest.py``), 24-token passages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from click.testing import Result
from eval_corpus import write_corpus, write_questions
from fastapi.testclient import TestClient
from hermetic import clean_settings
from typer.testing import CliRunner

from evaluation.cli import eval_command
from evaluation.sweep import QueryCache
from ingest.embedder import Embedder
from ingest.pipeline import ingest
from ingest.settings import Settings
from service.search.engine import Engine
from service.search.retriever import Retriever


@dataclass(frozen=True)
class TinyIndex:
    corpus: Path
    index_dir: Path
    settings: Settings
    version: str


@pytest.fixture(autouse=True)
def _hermetic(hermetic: None) -> None:
    """Every test here runs hermetic (tests/conftest.py)."""


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> TinyIndex:
    root = tmp_path_factory.mktemp("eval")
    corpus = write_corpus(root / "corpus")
    settings = clean_settings(
        index_dir=root / "index", corpus_dir=corpus, chunk_tokens=24, chunk_tokens_flat=24, chunk_overlap=0
    )
    report = ingest([corpus], settings, embedder=embedder)
    assert report.published and report.passages == 12 and not report.failed, report
    return TinyIndex(corpus, root / "index", settings, report.index_version)


@pytest.fixture(scope="session")
def query_cache(embedder: Embedder) -> QueryCache:
    """The session model, each question embedded once: the same vectors, fewer seconds."""
    return QueryCache(embedder)


@pytest.fixture(scope="session")
def tiny_engine(tiny: TinyIndex, query_cache: QueryCache) -> Engine:
    engine = Engine(tiny.settings, tiny.index_dir)
    engine._embedders[query_cache.name] = query_cache  # type: ignore[assignment]
    engine.load()
    return engine


@pytest.fixture(scope="session")
def tiny_client(tiny: TinyIndex, tiny_engine: Engine) -> Iterator[TestClient]:
    """The real app over the tiny index, sharing the engine (and its model) of the tests."""
    from service.http.app import create_app  # the real service, only for the runs over HTTP

    with TestClient(create_app(tiny.settings, tiny_engine), base_url="http://localhost") as client:
        yield client


@pytest.fixture(scope="session")
def tiny_retriever(tiny_engine: Engine) -> Retriever:
    return tiny_engine.snapshot.retriever


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    return write_questions(tmp_path / "qa.jsonl")


@pytest.fixture
def shared_model(monkeypatch: pytest.MonkeyPatch, query_cache: QueryCache) -> QueryCache:
    """Engines and sweeps built by the code under test (the CLI) reuse the session model."""
    monkeypatch.setattr(Engine, "_embedder", lambda self, model: query_cache)
    monkeypatch.setattr("evaluation.sweep.Embedder", lambda *args, **kwargs: query_cache)
    return query_cache


@pytest.fixture
def eval_cli() -> Callable[..., Result]:
    """``clausewise eval ARGS…`` through the command itself, as the main CLI registers it
    (``service/cli.py``), without the rest of that CLI."""
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so that the command is called by its name
    app.command("eval")(eval_command)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["eval", *args])
