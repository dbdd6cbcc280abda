"""Loaders turn one file into a :class:`~ingest.types.RawDocument`, or raise
:class:`~ingest.errors.LoadError`."""

from __future__ import annotations

from pathlib import Path

from ingest.errors import LoadError
from ingest.types import RawDocument

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES


def load(path: Path, source: str) -> RawDocument:
    """Dispatch on the file suffix; every failure surfaces as :class:`LoadError`."""
    from ingest.loaders import html, pdf, text

    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:  # gone or unreadable since discovery
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise LoadError("empty file (0 bytes)")
    try:
        if suffix in PDF_SUFFIXES:
            return pdf.load_pdf(path, source)
        if suffix in HTML_SUFFIXES:
            return html.load_html(path, source)
        if suffix in MARKDOWN_SUFFIXES:
            return text.load_text(path, source, markdown=True)
        if suffix in TEXT_SUFFIXES:
            return text.load_text(path, source, markdown=False)
    except LoadError:
        raise
    except Exception as exc:  # a parser crashing on a hostile file is a per-file failure
        raise LoadError(f"{type(exc).__name__}: {exc}") from exc
    raise LoadError(f"unsupported file type {suffix}")
