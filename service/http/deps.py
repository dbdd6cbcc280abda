"""FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.search.engine import Engine, Snapshot


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_snapshot(engine: Annotated[Engine, Depends(get_engine)]) -> Snapshot:
    """The loaded snapshot; a 503 (:class:`~ingest.errors.NotReady`) while the index loads."""
    return engine.snapshot


EngineDep = Annotated[Engine, Depends(get_engine)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
