"""Fixtures for the ingestion tests: real PDFs written with fpdf2 (see ``docgen.py``), a real
model (the session ``embedder`` from ``tests/conftest.py``) and real indexes in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from docgen import TREATY_HEADER, TREATY_TITLE, treaty_lines, write_pdf
from hermetic import clausewise_command

from ingest.changes import IngestReport
from ingest.pipeline import ingest
from ingest.settings import Settings


@pytest.fixture(autouse=True)
def _hermetic(hermetic: None) -> None:
    """Every test here runs hermetic (tests/conftest.py)."""


@pytest.fixture(scope="session")
def clausewise_cmd() -> list[str]:
    """The installed `clausewise` console script (or the same entry point through python -c)."""
    return clausewise_command()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index")


@pytest.fixture
def run_ingest(settings: Settings, embedder) -> Callable[..., IngestReport]:
    """``run_ingest(folder, ...)``: a real ingest into ``settings.index_dir`` with the shared model."""

    def run(*paths: Path, **kwargs) -> IngestReport:
        kwargs.setdefault("embedder", embedder)
        return ingest(list(paths), kwargs.pop("settings", settings), **kwargs)

    return run


@pytest.fixture
def treaty_pdf(tmp_path: Path) -> Path:
    """Three pages with a running header and page numbers; Article 33 crosses pages 2→3."""
    lines = treaty_lines()
    start_v = lines.index("Chapter V")
    start_33 = lines.index("Article 33")
    # Page 1: Chapter IV (Articles 23, 24). Page 2: Chapter V up to the middle of Article 33.
    pages = [lines[:start_v], lines[start_v : start_33 + 4], lines[start_33 + 4 :]]
    return write_pdf(
        tmp_path / "docs" / "displaced-persons-convention.pdf",
        pages,
        header=TREATY_HEADER,
        page_numbers=True,
        title=TREATY_TITLE,
    )
