"""The watch on the index: switch to a build published by anyone (a job, `clausewise ingest` in
another shell, another worker process, a sync from object storage, another machine writing the
PostgreSQL backend), every ``CLAUSEWISE_RELOAD_INTERVAL_S`` seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.search.engine import Engine

log = logging.getLogger("clausewise")

# A published build that could not be loaded is tried again after this many seconds (at least
# ten polls): a replica whose sync brought `current` before the segments it names loads the
# build once they arrive, while a truly broken build costs one failed open a while, not a poll.
RETRY_BROKEN_S = 30.0


async def watch_index(engine: Engine, interval: float, retry_broken: float = RETRY_BROKEN_S) -> None:
    """Poll what is published (where the index's ``current`` link points, or the PostgreSQL
    index's version); reload when it moved. The loaded build keeps serving whenever the
    published one cannot be loaded."""
    broken: Hashable | None = None
    broken_at = 0.0
    while True:
        await asyncio.sleep(interval)
        published = await asyncio.to_thread(engine.published)  # with PostgreSQL, a query
        if published is None or engine.snapshot_published() == published:
            continue
        retry_after = max(retry_broken, 10 * interval)
        if published == broken and time.monotonic() - broken_at < retry_after:
            continue
        try:
            snapshot, switched = await asyncio.to_thread(engine.reload)
            if switched:
                log.info("switched to index %s", snapshot.version)
            broken = None
        except Exception as exc:  # noqa: BLE001 — keep serving the loaded build
            if published != broken:
                log.warning(
                    "cannot load the published index %s, still serving the previous one (trying again every %.0f s): %s",
                    published,
                    retry_after,
                    exc,
                )
            broken, broken_at = published, time.monotonic()
