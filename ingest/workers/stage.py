"""What :func:`ingest.changes.parse` needs of a run: a parser (the local pool, or a Dask
cluster), the embedding feed, and the memory of files that failed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ingest.workers.failures import FailureMemory
from ingest.workers.feed import EmbedFeed
from ingest.workers.parse import Failed, Parsed, ParseJob


class Parser(Protocol):
    """Every job's outcome, in the order they finish: :class:`~ingest.workers.pool.ParsePool`
    here, :class:`~ingest.cluster.coordinator.DaskParser` on a cluster (outcomes embedded)."""

    def results(self, jobs: list[ParseJob]) -> Iterator[Parsed | Failed]: ...


@dataclass
class ParseStage:
    """``retry_failed``: parse files that failed before even if unchanged (``--retry-failed``)."""

    pool: Parser
    feed: EmbedFeed
    memory: FailureMemory
    index_dir: Path
    parser_version: int
    retry_failed: bool = False
