"""Content checks of uploads: does a staged file hold what its extension claims? The content is
judged by the one sniffer every path shares (:mod:`ingest.loaders.sniff`). A PDF must carry
the ``%PDF-`` signature and open with pypdf; text must be text; HTML must also contain markup.
Problems only the full parse finds (a PDF of scanned images) are left to the rebuild job."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ingest.errors import UploadRejected
from ingest.loaders import HTML_SUFFIXES, PDF_SUFFIXES
from ingest.loaders.sniff import HEAD_BYTES as HEAD_BYTES  # what the upload reader keeps of each file
from ingest.loaders.sniff import sniff
from service.uploads.names import suffix_of


def _text_problem(head: bytes, has_nul: bool) -> str | None:
    """Why ``head`` (the first bytes of a file) is not text, or ``None``: the shared sniffer's
    verdict, and NUL bytes anywhere in the file, which an upload refuses (ingestion removes
    them from files it finds on disk)."""
    sniffed = sniff(head)
    if sniffed.kind == "binary":
        return sniffed.why
    if sniffed.kind == "pdf":
        return "it is a binary file (a PDF)"
    if has_nul and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return "it contains NUL bytes (binary data)"
    return None


def _pdf_problem(path: Path, head: bytes) -> str | None:
    if sniff(head).kind != "pdf":
        return "it does not start with the %PDF- signature"
    import pypdf

    try:
        with open(path, "rb") as handle:
            reader = pypdf.PdfReader(handle, strict=False)
            if reader.is_encrypted:
                return None  # the loader decides (an empty owner-only password is common)
            if len(reader.pages) == 0:
                return "it has no pages"
    except Exception as exc:  # noqa: BLE001 — pypdf raises many kinds on damaged files
        return f"it cannot be read as a PDF ({type(exc).__name__}: {exc})"
    return None


def content_problem(path: Path, name: str, head: bytes, has_nul: bool) -> str | None:
    """Check a staged file's content against the type its extension claims; ``None`` if it fits."""
    suffix = suffix_of(name)
    if suffix in PDF_SUFFIXES:
        return _pdf_problem(path, head)
    problem = _text_problem(head, has_nul)
    if problem is None and suffix in HTML_SUFFIXES and not sniff(head).markup:
        problem = "it has no HTML markup"
    return problem


class Sniffable(Protocol):
    """What the check needs of a staged file (:class:`~service.uploads.reader.StagedFile`)."""

    name: str
    path: Path
    size: int
    head: bytes
    has_nul: bool


def check_contents(files: Iterable[Sniffable]) -> None:
    """Refuse the request (415) if any file is empty or its content does not match its
    extension. Blocking (pypdf opens PDFs): call it in a thread."""
    for staged in files:
        if staged.size == 0:
            raise UploadRejected(f"{staged.name}: the file is empty", status=415)
        problem = content_problem(staged.path, staged.name, staged.head, staged.has_nul)
        if problem:
            raise UploadRejected(f"{staged.name} is not a valid {suffix_of(staged.name)} file: {problem}", status=415)
