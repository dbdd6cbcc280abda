"""FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from service.search.engine import Engine, Snapshot


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_snapshot(engine: Annotated[Engine, Depends(get_engine)]) -> Snapshot:
    if not engine.ready:
        raise HTTPException(503, "the index is still loading")
    return engine.snapshot


EngineDep = Annotated[Engine, Depends(get_engine)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
