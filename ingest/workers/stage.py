"""What :func:`ingest.changes.parse` needs of a run: the pool, the embedding feed, and the
memory of files that failed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.workers.failures import FailureMemory
from ingest.workers.feed import EmbedFeed
from ingest.workers.pool import ParsePool


@dataclass
class ParseStage:
    """``retry_failed``: parse files that failed before even if unchanged (``--retry-failed``)."""

    pool: ParsePool
    feed: EmbedFeed
    memory: FailureMemory
    index_dir: Path
    parser_version: int
    retry_failed: bool = False
