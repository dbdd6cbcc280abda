"""PDF files, page by page, with pypdf."""

from __future__ import annotations

import logging
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from ingest.loaders import LoadError
from ingest.types import PageText, RawDocument

logging.getLogger("pypdf").setLevel(logging.ERROR)


def _metadata_title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        return None
    if not title:
        return None
    title = " ".join(str(title).split())
    # Producers often stamp junk like "untitled" or "Microsoft Word - draft3.docx".
    if len(title) < 4 or title.lower() in {"untitled", "title"} or title.lower().endswith((".doc", ".docx", ".pdf")):
        return None
    return title


def load_pdf(path: Path, source: str) -> RawDocument:
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError("encrypted PDF: a password is required")
            except (FileNotDecryptedError, NotImplementedError) as exc:
                raise LoadError(f"encrypted PDF cannot be opened: {exc}") from exc
        pages = [PageText(number, page.extract_text() or "") for number, page in enumerate(reader.pages, 1)]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"broken or truncated PDF: {exc}") from exc
    if not pages:
        raise LoadError("PDF has no pages")
    if not any(page.text.strip() for page in pages):
        raise LoadError("no extractable text (image-only or scanned PDF; run OCR first)")
    return RawDocument(source=source, kind="pdf", pages=pages, title=_metadata_title(reader))
