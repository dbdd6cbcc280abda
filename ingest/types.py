"""Shared types: defined once here, used by ingestion and by the service."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageText:
    """The raw text of one page as a reader counts it (1-based); ``None`` for unpaged formats.
    ``ocr``: the text was read from the rendered page by Tesseract, not from a text layer."""

    number: int | None
    text: str
    ocr: bool = False


@dataclass
class RawDocument:
    """What a loader returns: the file's text, page by page, and whatever title it declares."""

    source: str
    kind: str
    pages: list[PageText]
    title: str | None = None
    markdown: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class CleanDocument:
    """Cleaned document text plus the maps from character offsets to pages and sections.

    ``page_marks`` and ``section_marks`` are sorted ``(offset, value)`` pairs: the value holds
    from that offset until the next mark. ``paragraphs`` are ``(start, end)`` spans of the text.
    """

    text: str
    paragraphs: list[tuple[int, int]]
    page_marks: list[tuple[int, int | None]]
    section_marks: list[tuple[int, str | None]]
    title: str | None = None


@dataclass
class Document:
    """One ingested file as stored in the index."""

    doc_id: str
    source: str
    title: str
    kind: str
    file_hash: str
    pages: int | None
    passage_count: int = 0
    chars: int = 0


@dataclass
class Passage:
    """A retrievable span of a document, with everything needed to cite it."""

    id: str
    doc_id: str
    ordinal: int
    text: str
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    section: str | None
    content_hash: str
    ocr: bool = False  # its text, or part of it, was read from page images by OCR
    extra: dict = field(default_factory=dict)
