"""`POST /ask`: the best passages for a question, with citations and highlights."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.schemas import AskRequest, AskResponse, ErrorOut
from service.search.serialise import passage_out

router = APIRouter(tags=["ask"], dependencies=[ReadKey])


@router.post("/ask", response_model=AskResponse, responses={422: {"model": ErrorOut}})
def ask(body: AskRequest, snapshot: SnapshotDep, request: Request) -> AskResponse:
    """Answer with the `top_k` best passages, each cited to document, section and page."""
    started = time.perf_counter()
    query = body.query(request.app.state.settings)
    hits = snapshot.retriever.search(query)
    return AskResponse(
        question=query.question,
        passages=[passage_out(hit) for hit in hits],
        index_version=snapshot.version,
        took_ms=round((time.perf_counter() - started) * 1000, 3),
    )
