"""The read side's own types: a :class:`Citation` (part of the API: every passage returned
carries one) and a :class:`Hit` (one ranked passage of a search)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from pydantic import BaseModel

from ingest.types import Document, Passage


class Citation(BaseModel):
    """Where a passage comes from, precisely enough for a reader to check it."""

    doc_id: str
    title: str
    source: str
    page_start: int | None
    page_end: int | None
    section: str | None
    char_start: int
    char_end: int
    ocr: bool = False  # the passage was read from page images by OCR: check it against the source
    url: str = ""  # the source opened at the passage, relative to the service's root (see source_url)

    @classmethod
    def of(cls, passage: Passage, document: Document) -> Citation:
        return cls(
            ocr=bool(passage.ocr),
            url=source_url(passage.id),
            doc_id=document.doc_id,
            title=document.title,
            source=document.source,
            page_start=passage.page_start,
            page_end=passage.page_end,
            section=passage.section,
            char_start=passage.char_start,
            char_end=passage.char_end,
        )


def source_url(passage_id: str) -> str:
    """Where a passage is shown in its source: its page with the passage marked (PDF), or the
    cleaned text scrolled to it (``#passage``). Relative to the service's root, so that it
    resolves against whatever address the service is reached at (the page, the widget, a proxy)."""
    return f"/passages/{quote(passage_id, safe=':')}/view#passage"


@dataclass
class Hit:
    """One passage of a search result: ``rank`` 1 is the best; ``highlight`` is the
    ``(start, end)`` of the sentence(s) that best answer the question, if any."""

    passage: Passage
    citation: Citation
    score: float
    rank: int
    highlight: tuple[int, int] | None
