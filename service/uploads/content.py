"""Content sniffing: does a staged file hold what its extension claims? A PDF must carry the
``%PDF-`` signature and open with pypdf; text must be text; HTML must also contain markup.
Problems only the full parse finds (a PDF of scanned images) are left to the rebuild job."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ingest.errors import UploadRejected
from ingest.loaders import HTML_SUFFIXES, PDF_SUFFIXES
from service.uploads.names import suffix_of

HEAD_BYTES = 64 * 1024  # what content sniffing looks at

# Formats that are certainly not text, whatever the extension claims.
_BINARY_MAGIC = (
    b"%PDF-",
    b"PK\x03\x04",
    b"\x7fELF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"Rar!",
    b"7z\xbc\xaf",
    b"\xd0\xcf\x11\xe0",
    b"MZ",
    b"\x00asm",
)
_HTML_TAG = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|title|meta|p|div|h[1-6]|article|section|main|table|ul|ol|span|a)[\s>/]",
    re.IGNORECASE,
)


def _text_problem(head: bytes, has_nul: bool) -> str | None:
    """Why ``head`` (the first bytes of a file) is not text, or ``None``."""
    text = None
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            except UnicodeDecodeError:
                return f"it starts with a {encoding} byte-order mark but is not {encoding}"
            break
    if text is None:
        if has_nul:
            return "it contains NUL bytes (binary data)"
        if head.startswith(_BINARY_MAGIC):
            return "it is a binary file (its first bytes are those of another format)"
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            text = head.decode("latin-1")  # some legacy 8-bit encoding: judged by its control bytes
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\x7f")
    if controls > max(4, len(text) // 100):
        return "it does not decode as text (too many control characters)"
    return None


def _pdf_problem(path: Path, head: bytes) -> str | None:
    if b"%PDF-" not in head[:1024]:
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
    if problem is None and suffix in HTML_SUFFIXES and not _HTML_TAG.search(head):
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
