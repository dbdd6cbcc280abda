"""`clausewise ingest` leaves a fresh ONNX query encoder beside the index it publishes, so the
server that opens the index next does not export for half a minute; a failed export never
fails the ingest; `CLAUSEWISE_QUERY_ENCODER=torch` skips it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.embedding.cache import ONNX_FILE, cache_problem, encoder_dir
from ingest.embedding.onnx_encoder import try_load
from ingest.settings import Settings


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "charter.txt").write_text(
        "Article 1\nEvery resident may return to Kestrelmoor after the floods have receded.\n\n"
        "Article 2\nThe council shall publish the list of safe districts each week.\n",
        encoding="utf-8",
    )
    return folder


def test_a_published_build_gets_a_fresh_encoder_beside_it(run_ingest, settings: Settings, corpus: Path) -> None:
    report = run_ingest(corpus)
    assert report.published
    cache = encoder_dir(settings.index_dir)
    assert cache_problem(cache, "all-MiniLM-L6-v2")[0] is None
    encoder, reason = try_load(cache, "all-MiniLM-L6-v2")
    assert encoder is not None, reason

    (corpus / "notice.txt").write_text("Boats are moored at the eastern quay.\n", encoding="utf-8")
    before = (cache / ONNX_FILE).stat().st_ino
    assert run_ingest(corpus).published  # a rebuild keeps the cache: it is outside the builds
    assert (cache / ONNX_FILE).stat().st_ino == before


def test_a_second_index_reuses_the_export_by_hard_links(run_ingest, tmp_path: Path, corpus: Path) -> None:
    first = Settings(index_dir=tmp_path / "first")
    second = Settings(index_dir=tmp_path / "second")
    run_ingest(corpus, settings=first)
    run_ingest(corpus, settings=second)
    a, b = (encoder_dir(s.index_dir) / ONNX_FILE for s in (first, second))
    assert a.stat().st_ino == b.stat().st_ino  # no second export
    assert cache_problem(encoder_dir(second.index_dir), "all-MiniLM-L6-v2")[0] is None


def test_torch_setting_skips_the_export(run_ingest, tmp_path: Path, corpus: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", query_encoder="torch")
    assert run_ingest(corpus, settings=settings).published
    assert not encoder_dir(settings.index_dir).exists()


def test_a_failed_export_is_a_warning_and_the_build_stays_published(
    run_ingest, settings: Settings, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings.index_dir.mkdir(parents=True)
    encoder_dir(settings.index_dir).write_text("not a cache folder")
    alone = settings.model_copy(update={"encoder_cache": None})  # the export's failure, not a link's
    with caplog.at_level(logging.WARNING, logger="ingest.embedding.provision"):
        report = run_ingest(corpus, settings=alone)
    assert report.published and report.documents == 1
    [record] = [r for r in caplog.records if r.name == "ingest.embedding.provision"]
    assert record.levelno == logging.WARNING
    assert "sentence-transformers" in record.getMessage() and "not an ONNX export cache" in record.getMessage()
    assert encoder_dir(settings.index_dir).read_text() == "not a cache folder"
