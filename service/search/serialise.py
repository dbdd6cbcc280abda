"""How the read side shows what it found, in one place for REST, the OpenAI-compatible API,
MCP and the command line: a passage of a search result (:func:`passage_out`), a passage with
its neighbours (:func:`passage_detail`), and the label that cites it (:func:`citation_label`).

The models are part of the HTTP contract (``service.http.schemas`` re-exports them under the
same names): extend them, never rename a field.
"""

from __future__ import annotations

from pydantic import BaseModel

from ingest.errors import NotFound
from ingest.types import Document, Passage
from service.search.backend import SearchIndex
from service.search.types import Citation, Hit


class Highlight(BaseModel):
    start: int
    end: int
    text: str


class PassageOut(BaseModel):
    id: str
    rank: int
    score: float
    text: str
    highlight: Highlight | None
    citation: Citation


class PassageContext(BaseModel):
    id: str
    text: str
    citation: Citation


class PassageDetail(PassageContext):
    previous: list[PassageContext]  # in document order
    next: list[PassageContext]


def highlight_of(hit: Hit) -> Highlight | None:
    if hit.highlight is None:
        return None
    start, end = hit.highlight
    return Highlight(start=start, end=end, text=hit.passage.text[start:end])


def passage_out(hit: Hit) -> PassageOut:
    """One passage of a search result, as ``/ask`` returns it (the score to 6 decimals)."""
    return PassageOut(
        id=hit.passage.id,
        rank=hit.rank,
        score=round(hit.score, 6),
        text=hit.passage.text,
        highlight=highlight_of(hit),
        citation=hit.citation,
    )


def passage_context(passage: Passage, document: Document) -> PassageContext:
    return PassageContext(id=passage.id, text=passage.text, citation=Citation.of(passage, document))


def passage_detail(index: SearchIndex, passage_id: str, context: int, hint: str = "") -> PassageDetail:
    """The passage ``passage_id`` with up to ``context`` neighbours on each side, or
    :class:`~ingest.errors.NotFound` (its message ends with ``hint``, e.g. where ids come from)."""
    found = index.with_neighbours(passage_id, context)
    if found is None:
        raise NotFound(f"no passage with id {passage_id!r}{hint}")
    passage, before, after = found
    document = index.documents[passage.doc_id]
    return PassageDetail(
        **passage_context(passage, document).model_dump(),
        previous=[passage_context(p, document) for p in before],
        next=[passage_context(p, document) for p in after],
    )


def pages_label(citation: Citation) -> str | None:
    """``p. 3`` or ``pp. 3–4``; ``None`` for a document without pages."""
    if citation.page_start is None:
        return None
    if citation.page_end is None or citation.page_end == citation.page_start:
        return f"p. {citation.page_start}"
    return f"pp. {citation.page_start}–{citation.page_end}"


def citation_label(citation: Citation) -> str:
    """ "Title — Section — p. 3", leaving out what the document has not got."""
    parts = [citation.title]
    if citation.section:
        parts.append(citation.section)
    pages = pages_label(citation)
    if pages:
        parts.append(pages)
    return " — ".join(parts)
