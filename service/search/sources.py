"""A cited passage in its source: the original file, a PDF page as an image with the passage's
boxes, and a text document's cleaned text with the passage's span.

The original is found where it was ingested from (the build's recorded folders) and served only
while its bytes are those that were indexed, so a page number and a highlight never point
into another version of the file. The boxes come from matching the passage's words against
the words of the page: pdfium's text layer where it is readable, Tesseract's words where the
page was read by OCR (:mod:`ingest.loaders.ocr`).
"""

from __future__ import annotations

import io
import os
import re
import threading
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import pypdfium2 as pdfium

from ingest.changes import file_hash
from ingest.errors import Conflict, LoadError, NotFound
from ingest.loaders import load
from ingest.loaders.ocr import OcrOptions, render, text_layer, unavailable
from ingest.structure import build
from ingest.types import Document
from service.search.backend import SearchIndex

VIEW_DPI = 130  # the page image of the view: sharp on a laptop screen, ~300 KB an A4 page
MIN_RUN = 3  # words in a row that must match before a stretch of the page counts as the passage
_WORD = re.compile(r"\w+")

# pdfium documents are not safe to use from two threads at once.
_PDFIUM = threading.Lock()

Box = tuple[float, float, float, float]  # x, y, width, height in PDF points from the top left


@dataclass(frozen=True)
class PageView:
    """One page of a PDF for the view: its size in points and the passage's boxes on it."""

    number: int
    width: float
    height: float
    boxes: list[Box]
    ocr: bool  # the boxes come from OCR words (the page has no readable text layer)


@lru_cache(maxsize=256)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    return file_hash(Path(path))


def locate(index: SearchIndex, document: Document) -> Path:
    """The original file of ``document``, as indexed: :class:`NotFound` when it is gone,
    :class:`Conflict` when it changed since (the index must catch up first)."""
    for root in (Path(r) for r in index.manifest.roots):
        if root.is_file():
            candidate = root if root.name == document.source else None
        else:
            candidate = (root / document.source).resolve()
            if not candidate.is_relative_to(root.resolve()):
                candidate = None
        if candidate is None or not candidate.is_file():
            continue
        stat = candidate.stat()
        if _hash_of(str(candidate), stat.st_size, stat.st_mtime_ns) != document.file_hash:
            raise Conflict(
                f"{document.source} changed since it was indexed; its citations point into the old version "
                "until the index is rebuilt (POST /index/rebuild, or `clausewise ingest`)"
            )
        return candidate
    raise NotFound(f"the original file of {document.doc_id!r} ({document.source}) is no longer where it was ingested")


def page_count(path: Path) -> int:
    with _PDFIUM:
        pdf = pdfium.PdfDocument(path)
        try:
            return len(pdf)
        finally:
            pdf.close()


@lru_cache(maxsize=64)
def page_png(path: Path, digest: str, number: int) -> bytes:
    """Page ``number`` (1-based) rendered as PNG for the view (``digest`` keys the cache)."""
    with _PDFIUM:
        pdf = pdfium.PdfDocument(path)
        try:
            if not 1 <= number <= len(pdf):
                raise NotFound(f"the PDF has {len(pdf)} pages, not page {number}")
            image = pdf[number - 1].render(scale=VIEW_DPI / 72).to_pil()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _norm(token: str) -> str:
    return "".join(_WORD.findall(token.casefold()))


def _layer_words(page: pdfium.PdfPage) -> list[tuple[str, Box]]:
    """The page's words with their boxes, from pdfium's text layer (top-left origin)."""
    height = page.get_height()
    textpage = page.get_textpage()
    try:
        words: list[tuple[str, Box]] = []
        chars: list[str] = []
        rect: list[float] | None = None
        for i in range(textpage.count_chars()):
            char = textpage.get_text_range(i, 1)
            if not char or char.isspace():
                if chars and rect is not None:
                    words.append(("".join(chars), (rect[0], height - rect[3], rect[2] - rect[0], rect[3] - rect[1])))
                chars, rect = [], None
                continue
            left, bottom, right, top = textpage.get_charbox(i)
            chars.append(char)
            if rect is None:
                rect = [left, bottom, right, top]
            else:
                rect = [min(rect[0], left), min(rect[1], bottom), max(rect[2], right), max(rect[3], top)]
        if chars and rect is not None:
            words.append(("".join(chars), (rect[0], height - rect[3], rect[2] - rect[0], rect[3] - rect[1])))
        return words
    finally:
        textpage.close()


def _ocr_words(page: pdfium.PdfPage, options: OcrOptions) -> list[tuple[str, Box]]:
    """Tesseract's words of the rendered page, their boxes scaled back to points."""
    import pytesseract

    image = render(page, options.dpi)
    data = pytesseract.image_to_data(
        image,
        lang=options.languages,
        config="--psm 3",
        timeout=options.page_timeout_s,
        output_type=pytesseract.Output.DICT,
    )
    scale = 72 / options.dpi
    return [
        (text, (left * scale, top * scale, width * scale, height * scale))
        for text, left, top, width, height in zip(
            data["text"], data["left"], data["top"], data["width"], data["height"]
        )
        if text.strip()
    ]


def match_boxes(words: list[tuple[str, Box]], passage_text: str) -> list[Box]:
    """The line boxes of the stretch of ``words`` that is the passage: from the first to the
    last run of ``MIN_RUN`` words in a row shared with the passage (cleaning joins hyphenated
    words and drops running headers, so the two never match word for word)."""
    page_tokens = [_norm(word) for word, _ in words]
    keep = [i for i, token in enumerate(page_tokens) if token]
    tokens = [page_tokens[i] for i in keep]
    wanted = [t for t in (_norm(w) for w in passage_text.split()) if t]
    if not tokens or not wanted:
        return []
    run = min(MIN_RUN, len(wanted))
    blocks = [b for b in SequenceMatcher(None, tokens, wanted, autojunk=False).get_matching_blocks() if b.size >= run]
    if not blocks:
        return []
    first, last = keep[blocks[0].a], keep[blocks[-1].a + blocks[-1].size - 1]
    return _lines([box for _, box in words[first : last + 1]])


def _lines(boxes: list[Box]) -> list[Box]:
    """Word boxes merged into one box per line (words whose vertical middles are close)."""
    lines: list[list[float]] = []
    for x, y, w, h in boxes:
        if lines:
            lx, ly, lw, lh = lines[-1]
            if abs((y + h / 2) - (ly + lh / 2)) < max(h, lh) * 0.6 and x >= lx - 2:
                right, bottom = max(lx + lw, x + w), max(ly + lh, y + h)
                top = min(ly, y)
                lines[-1] = [lx, top, right - lx, bottom - top]
                continue
        lines.append([x, y, w, h])
    return [(x - 1.5, y - 1.5, w + 3, h + 3) for x, y, w, h in lines]


def pdf_pages(path: Path, first: int, last: int, passage_text: str, options: OcrOptions) -> list[PageView]:
    """Pages ``first``–``last`` with the passage's boxes on each (none where it cannot be found,
    or where the page needs OCR and Tesseract is unavailable)."""
    from ingest.loaders.pdf import looks_garbled  # pypdf: 0.3 s of the service's start, used only here

    views = []
    with _PDFIUM:
        pdf = pdfium.PdfDocument(path)
        try:
            for number in range(first, min(last, len(pdf)) + 1):
                page = pdf[number - 1]
                layer = text_layer(page)
                use_ocr = not layer.strip() or looks_garbled(layer)
                if use_ocr and unavailable(options.languages) is None:
                    words = _cached_ocr_words(str(path), os.stat(path).st_mtime_ns, number, options)
                else:
                    words = [] if use_ocr else _layer_words(page)
                width, height = page.get_size()
                views.append(PageView(number, width, height, match_boxes(words, passage_text), use_ocr))
        finally:
            pdf.close()
    return views


@lru_cache(maxsize=32)
def _cached_ocr_words(path: str, mtime_ns: int, number: int, options: OcrOptions) -> list[tuple[str, Box]]:
    """OCR words of one page, cached: reading a page takes seconds. Called under ``_PDFIUM``."""
    pdf = pdfium.PdfDocument(path)
    try:
        return _ocr_words(pdf[number - 1], options)
    finally:
        pdf.close()


def clean_text(path: Path, source: str) -> str:
    """The document's cleaned text, as ingestion made it (citations' character offsets index it)."""
    try:
        return build(load(path, source)).text
    except LoadError as exc:
        raise Conflict(f"{source} can no longer be read: {exc}") from exc
