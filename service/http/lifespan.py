"""The live-rebuild part of the app's lifespan: the rebuild supervisor and the watch on the index.

:func:`live_rebuilds` sets what the write routes use — ``app.state.corpus_dir`` (resolved) and
``app.state.jobs`` (the :class:`~service.rebuilds.supervisor.Supervisor`) — and on exit stops
the watch and the supervisor (terminating a running rebuild, whose build is never half-published).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from service.rebuilds.supervisor import Supervisor
from service.rebuilds.watch import watch_index
from service.search.engine import Engine
from service.uploads.staging import clean_staging


@asynccontextmanager
async def live_rebuilds(app: FastAPI) -> AsyncIterator[None]:
    """Start the supervisor and the index watch; stop them (and any running rebuild) on exit."""
    settings = app.state.settings
    engine: Engine = app.state.engine
    corpus = Path(settings.corpus_dir).resolve()
    app.state.corpus_dir = corpus
    jobs = None
    if settings.backend == "embedded":  # PostgreSQL is written by `clausewise ingest`, not by jobs
        jobs = Supervisor(settings, engine, corpus, Path(engine.index_dir).resolve())
        await asyncio.to_thread(clean_staging, corpus)
        await asyncio.to_thread(jobs.recover)
        app.state.jobs = jobs
        jobs.start()
    interval = settings.reload_interval_s
    watcher = asyncio.create_task(watch_index(engine, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if jobs is not None:
            await asyncio.to_thread(jobs.shutdown)
