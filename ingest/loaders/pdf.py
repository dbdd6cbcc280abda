"""PDF files, page by page, with pypdf."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from ingest.errors import LoadError
from ingest.loaders.ocr import OcrOptions, Rescue, rescue
from ingest.titles import reads_as_title
from ingest.types import PageText, RawDocument

logging.getLogger("pypdf").setLevel(logging.ERROR)


def _metadata_title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 — damaged metadata must not lose the document's text
        return None
    if not title:
        return None
    title = " ".join(str(title).split())
    # Producers stamp their own defaults: "Layout 1", "Microsoft Word - draft3.docx".
    return title if reads_as_title(title) else None


def load_pdf(path: Path, source: str, ocr_options: OcrOptions | None = None) -> RawDocument:
    """The PDF's text page by page; pages pypdf cannot read go to :mod:`ingest.loaders.ocr`."""
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
    unreadable = [page.number for page in pages if not page.text.strip() or looks_garbled(page.text)]
    if unreadable:  # fonts that garble long pages garble short ones too ("mw9/46PF91/")
        short = [page.number for page in pages if looks_garbled(page.text, min_tokens=1, min_letters=10)]
        unreadable = sorted(set(unreadable) | set(short), key=lambda n: n or 0)
    options = ocr_options or OcrOptions.of()
    rescued = rescue(path, pages, [n for n in unreadable if n is not None], options, _usable)
    pages, unread = rescued.pages, rescued.unread
    why = f" ({next(iter(unread.values()))})" if unread else ""
    if not any(page.text.strip() for page in pages):
        raise LoadError(f"no extractable text (image-only or scanned PDF){why}")
    garbled = [page.number for page in pages if page.number is not None and looks_garbled(page.text)]
    rest = " ".join(page.text for page in pages if page.number not in garbled)
    # Short pages escape the per-page test; judged together they still tell.
    if not rest.strip() or (garbled and looks_garbled(rest, min_tokens=5, min_letters=20)):
        raise LoadError(
            "text extraction gives unreadable characters on every page (fonts without a Unicode "
            f"map); export the PDF again or run OCR on it{why}"
        )
    # Keep the page numbers of the readable pages: blank the garbled ones, don't drop them.
    pages = [page if page.number not in garbled else PageText(page.number, "") for page in pages]
    return RawDocument(
        source=source,
        kind="pdf",
        pages=pages,
        title=_metadata_title(reader),
        warnings=_warnings(rescued, garbled, options),
    )


def _usable(text: str) -> bool:
    return bool(text.strip()) and not looks_garbled(text)


def _warnings(rescued: Rescue, garbled: list[int], options: OcrOptions) -> list[str]:
    """What the report says about pages not read from pypdf's text: read by OCR, or not at all."""
    warnings = []
    if rescued.from_ocr:
        warnings.append(f"pages {_ranges(rescued.from_ocr)} read by OCR (Tesseract, {options.languages})")
    reasons: dict[str, list[int]] = {}
    for number, reason in sorted(rescued.unread.items()):
        reasons.setdefault(reason, []).append(number)
    for reason, numbers in reasons.items():
        what = "unreadable text skipped" if set(numbers) <= set(garbled) else "no text read"
        warnings.append(f"{what} on pages {_ranges(numbers)}: {reason}")
    return warnings


_CLEAN_WORD = re.compile(r"^\W*[^\W\d_]+(?:[-'’][^\W\d_]+)*\W*$")


def looks_garbled(text: str, min_tokens: int = 30, min_letters: int = 200) -> bool:
    """Whether a page's text is mostly not words, as when a font maps glyphs to arbitrary
    codes ("R;k;9FjjkW;09F" for "States Parties"). Language-agnostic: real text in any
    alphabet is mostly letter-only tokens; numbers and tables are spared by a length floor."""
    tokens = text.split()
    letters = sum(c.isalpha() for c in text)
    if len(tokens) < min_tokens or letters < min_letters:
        return False
    clean = sum(bool(_CLEAN_WORD.match(token)) for token in tokens)
    return clean / len(tokens) < 0.35


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)
