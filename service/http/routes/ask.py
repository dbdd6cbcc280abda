"""`POST /ask`: the best passages for a question, with citations and highlights."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from ingest.settings import Settings
from service.http import compute
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.schemas import AskRequest, AskResponse, error_responses
from service.search.engine import Snapshot
from service.search.serialise import passage_out

router = APIRouter(tags=["ask"], dependencies=[ReadKey], responses=error_responses(421))


def _answer(body: AskRequest, snapshot: Snapshot, settings: Settings) -> AskResponse:
    started = time.perf_counter()
    query = body.query(settings)
    hits = snapshot.retriever.search(query)
    confidence = snapshot.retriever.confidence(query, hits)
    return AskResponse(
        question=query.question,
        passages=[passage_out(hit) for hit in hits],
        confidence=round(confidence.value, 4),
        answered=confidence.answered,
        index_version=snapshot.version,
        took_ms=round((time.perf_counter() - started) * 1000, 3),
    )


@router.post("/ask", response_model=AskResponse, responses=error_responses(400, 401, 403, 413, 422, 429, 503))
async def ask(body: AskRequest, snapshot: SnapshotDep, request: Request) -> AskResponse:
    """Answer with the `top_k` best passages, each cited to document, section and page."""
    settings = request.app.state.settings
    return await compute.run(settings, _answer, body, snapshot, settings)  # the search pool, not the event loop
