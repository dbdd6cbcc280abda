"""Loaders turn one file into a :class:`~ingest.types.RawDocument`, or raise
:class:`~ingest.errors.LoadError`.

The file's content decides how it is read, not only its name (:mod:`ingest.loaders.sniff`):
a PDF named ``.md`` is read as the PDF it is, a web page named ``.pdf`` as HTML, binary data
under any name is reported.
"""

from __future__ import annotations

from pathlib import Path

from ingest.errors import LoadError
from ingest.types import RawDocument

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES


def claimed_reader(suffix: str) -> str | None:
    """The reader a file's suffix asks for (``pdf``, ``html``, ``markdown``, ``text``)."""
    suffix = suffix.lower()
    for suffixes, reader in (
        (PDF_SUFFIXES, "pdf"),
        (HTML_SUFFIXES, "html"),
        (MARKDOWN_SUFFIXES, "markdown"),
        (TEXT_SUFFIXES, "text"),
    ):
        if suffix in suffixes:
            return reader
    return None


def load(path: Path, source: str) -> RawDocument:
    """Read ``path`` by what it holds; every failure surfaces as :class:`LoadError`, a reader
    that cannot be imported too (its optional library missing or broken in this install, as
    trafilatura's lxml can be), so that one kind of file failing never stops a run."""
    from ingest.discover import read_regular
    from ingest.loaders import sniff

    claimed = claimed_reader(path.suffix)
    if claimed is None:
        raise LoadError(f"unsupported file type {path.suffix.lower()}")
    try:
        data = read_regular(path)
    except OSError as exc:  # gone, unreadable, or replaced by a link or a FIFO since discovery
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
    how = sniff.reading(claimed, sniff.sniff(data[: sniff.HEAD_BYTES]))  # type: ignore[arg-type]
    if how.reader is None:
        raise LoadError(how.problem or "unreadable file")
    try:
        if how.reader == "pdf":
            from ingest.loaders import pdf

            raw = pdf.load_pdf(path, source)
        elif how.reader == "html":
            from ingest.loaders import html

            raw = html.load_html(data, source)
        else:
            from ingest.loaders import text

            raw = text.load_text(data, source, markdown=how.reader == "markdown")
    except LoadError:
        raise
    except ImportError as exc:
        raise LoadError(f"cannot read {how.reader} files in this install: {exc}") from exc
    except Exception as exc:  # a parser crashing on a hostile file is a per-file failure
        raise LoadError(f"{type(exc).__name__}: {exc}") from exc
    if how.warning:
        raw.warnings.append(how.warning)
    return raw
