"""The watch on the index: switch to a build published by anyone (a job, `clausewise ingest` in
another shell, another worker process, another machine writing the PostgreSQL backend), every
``CLAUSEWISE_RELOAD_INTERVAL_S`` seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.search.engine import Engine

log = logging.getLogger("clausewise")


async def watch_index(engine: Engine, interval: float) -> None:
    """Poll where the index's ``current`` link points (or the PostgreSQL index's version);
    reload when it moved. A build that
    cannot be loaded is tried once: the loaded one keeps serving until the next publication."""
    broken: Hashable | None = None
    while True:
        await asyncio.sleep(interval)
        folder = await asyncio.to_thread(engine.published)  # with PostgreSQL, a query
        if folder is None or folder == broken or engine.snapshot_published() == folder:
            continue
        try:
            snapshot, switched = await asyncio.to_thread(engine.reload)
            if switched:
                log.info("switched to index %s", snapshot.version)
        except Exception as exc:  # noqa: BLE001 — keep serving the loaded build
            broken = folder
            log.warning("cannot load the published index %s, still serving the previous one: %s", folder, exc)
