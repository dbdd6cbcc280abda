"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.http.deps import EngineDep
from service.http.metrics import metrics_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(engine: EngineDep):
    """Ready once the index and model are loaded."""
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
def metrics(request: Request) -> Response:
    return metrics_response(request)
