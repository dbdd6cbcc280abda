"""Liveness, readiness and metrics.

Each route is an ``async def`` that does no blocking work and has no sync dependency (FastAPI
runs those in its thread pool): they answer from the event loop, so a probe never waits behind
the questions that fill the pool.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ingest.errors import NotFound
from service.http.auth import require_write_key
from service.http.metrics import metrics_response
from service.search.engine import Engine

router = APIRouter(tags=["health"])


class Ready(BaseModel):
    status: Literal["ready"]
    index_version: str
    documents: int
    passages: int
    model: str
    created_at: str


class Loading(BaseModel):
    """Not ready yet: an orchestrator should keep the instance out of rotation, not restart it."""

    status: Literal["loading"]
    error: Literal["not_ready"]
    message: str


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Loading, "description": "The index and model are still loading."}},
)
async def readyz(request: Request):
    """Ready once the index and model are loaded."""
    engine: Engine = request.app.state.engine
    if not engine.ready:
        return JSONResponse(
            {"status": "loading", "error": "not_ready", "message": "the index and model are still loading"},
            status_code=503,
        )
    snapshot = engine.snapshot
    manifest = snapshot.index.manifest
    return {
        "status": "ready",
        "index_version": snapshot.version,
        "documents": len(snapshot.index.documents),
        "passages": len(snapshot.index),
        "model": manifest.model.name,
        "created_at": manifest.created_at,
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics, as CLAUSEWISE_METRICS_ACCESS allows: to anyone, with a write key, or not at all."""
    access = request.app.state.settings.metrics_access
    if access == "off":
        raise NotFound("metrics are switched off (CLAUSEWISE_METRICS_ACCESS=off)")
    if access == "write-key":
        require_write_key(request, request.headers.get("authorization"))
    return metrics_response(request)
