"""`POST /ask`: the best passages for a question, with citations and highlights."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request

from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.search.retriever import Filters, Hit
from service.http.schemas import AskRequest, AskResponse, ErrorOut, Highlight, PassageOut

router = APIRouter(tags=["ask"], dependencies=[ReadKey])


def passage_out(hit: Hit) -> PassageOut:
    highlight = None
    if hit.highlight is not None:
        start, end = hit.highlight
        highlight = Highlight(start=start, end=end, text=hit.passage.text[start:end])
    return PassageOut(
        id=hit.passage.id, rank=hit.rank, score=round(hit.score, 6), text=hit.passage.text,
        highlight=highlight, citation=hit.citation,
    )


@router.post("/ask", response_model=AskResponse, responses={422: {"model": ErrorOut}})
def ask(body: AskRequest, snapshot: SnapshotDep, request: Request) -> AskResponse:
    """Answer with the `top_k` best passages, each cited to document, section and page."""
    started = time.perf_counter()
    limit = request.app.state.settings.max_question_chars
    if len(body.question) > limit:
        raise HTTPException(422, f"question: {len(body.question)} characters long; the limit is {limit}")
    filters = Filters(**body.filters.model_dump()) if body.filters else None
    hits = snapshot.retriever.run(body.question, body.top_k, body.mode, filters)
    return AskResponse(
        question=body.question,
        passages=[passage_out(hit) for hit in hits],
        index_version=snapshot.version,
        took_ms=round((time.perf_counter() - started) * 1000, 3),
    )
