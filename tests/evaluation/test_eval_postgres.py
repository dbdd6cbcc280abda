"""`clausewise eval` over the PostgreSQL backend (a real server, pgserver): the tiny corpus
ingested into the database gives the embedded index's figures in dense mode, question by
question (at 12 passages pgvector's HNSW graph reaches every row, so its search is exact)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from postgres_server import fresh_database

from ingest.embedder import Embedder
from ingest.pipeline import ingest
from ingest.settings import get_settings


def _results(path: Path) -> dict:
    return json.loads(path.read_text())["modes"]


def _without_latency(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("latency")}


@pytest.fixture
def pg_tiny(tiny, postgres_server: str, embedder: Embedder, tmp_path: Path) -> tuple[str, Path]:
    """The tiny corpus in a fresh database, ingested with the embedded index's settings; its DSN
    and this machine's cache folder."""
    dsn = fresh_database(postgres_server, "eval_tiny")
    cache = tmp_path / "pg-cache"
    settings = tiny.settings.model_copy(update={"backend": "postgres", "postgres_dsn": dsn, "index_dir": cache})
    report = ingest([tiny.corpus], settings, embedder=embedder)
    assert report.published and report.passages == 12 and not report.failed, report
    return dsn, cache


def test_eval_over_postgres_gives_the_embedded_dense_figures(
    eval_cli, tiny, pg_tiny, qa_file: Path, shared_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn, cache = pg_tiny
    embedded = eval_cli(str(qa_file), "--index", str(tiny.index_dir), "--out", "embedded", "-q")
    assert embedded.exit_code == 0, embedded.output
    monkeypatch.setenv("CLAUSEWISE_BACKEND", "postgres")
    monkeypatch.setenv("CLAUSEWISE_POSTGRES_DSN", dsn)
    get_settings.cache_clear()  # the command reads the settings once per process
    try:
        over_pg = eval_cli(str(qa_file), "--index", str(cache), "--out", "postgres", "-q")
    finally:
        get_settings.cache_clear()
    assert over_pg.exit_code == 0, over_pg.output

    ours, theirs = _results(tmp_path / "postgres" / "results.json"), _results(tmp_path / "embedded" / "results.json")
    assert set(ours) == {"hybrid", "dense", "lexical"}
    assert _without_latency(ours["dense"]["metrics"]) == _without_latency(theirs["dense"]["metrics"])
    ranked = {
        backend: [[p["id"] for p in q["returned"]] for q in data["dense"]["questions"]]
        for backend, data in (("postgres", ours), ("embedded", theirs))
    }
    assert ranked["postgres"] == ranked["embedded"]  # the same passages, in the same order
    # ts_rank_cd is not BM25: the lexical figures may differ, but the words still find passages.
    assert ours["lexical"]["metrics"]["recall@10"] > 0
