"""What runs on a Dask worker: a batch of files parsed and embedded (:func:`run_batch`), and the
probe that tells the coordinator what a worker sees (:func:`probe`).

A batch is parsed exactly as a local run parses: through a :class:`~ingest.workers.pool.ParsePool`
of the worker's own, each file under the coordinator's wall-clock and memory limits, so that a
hostile file costs its own limit on the worker too and the batch goes on. Its passages are then
embedded by the worker's model (:class:`~ingest.workers.feed.EmbedFeed`, as locally), loaded once
per worker process and kept for every later batch and run with the same model settings.

Workers import this module by name: they run the same clausewise as the coordinator, installed.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from distributed import get_worker

from ingest.chunker import ChunkParams
from ingest.embedder import Embedder, resolve_model
from ingest.embedding.source import resolve_source
from ingest.errors import ModelError
from ingest.settings import Settings
from ingest.workers.feed import EmbedFeed
from ingest.workers.parse import Failed, Parsed, ParseJob
from ingest.workers.pool import ParseLimits, ParsePool


@dataclass(frozen=True)
class WorkOrder:
    """What every batch of a run shares: the coordinator's settings (model, batch size, bf16,
    limits, contextualize), its chunking, and the model name it records in the index."""

    settings: Settings
    params: ChunkParams
    model_name: str


@dataclass(frozen=True)
class BatchFile:
    """One file of a batch: its job (the path as the coordinator sees it), and its bytes when
    the workers do not share the coordinator's filesystem."""

    job: ParseJob
    content: bytes | None = None


@dataclass
class BatchResult:
    """A batch's outcomes, each parsed file with its vectors; which worker ran it, how long."""

    worker: str
    outcomes: list[Parsed | Failed]
    seconds: float


@dataclass(frozen=True)
class WorkerView:
    """What :func:`probe` finds on one worker."""

    sees_path: bool  # the file at the coordinator's path is there, with the same content hash
    can_fork: bool  # not a daemonic process: it may start its parse workers
    model_name: str
    parser_version: int


@functools.cache
def _embedder(model: str, batch_size: int, bf16: bool) -> Embedder:
    """The model of this worker process, loaded at its first batch and kept."""
    embedder = Embedder(model, batch_size, bf16)
    embedder.warm_up()
    return embedder


def _quiet(stage: str, done: int, total: int) -> None:
    """The worker's feed reports nothing: the coordinator shows progress per batch."""


def _local_job(item: BatchFile, scratch: Path, number: int) -> ParseJob:
    """The job as this worker runs it: the shared path, or the bytes written under ``scratch``
    with the file's own name (loaders read its suffix)."""
    if item.content is None:
        return item.job
    folder = scratch / str(number)
    folder.mkdir()
    path = folder / item.job.path.name
    path.write_bytes(item.content)
    return dataclasses.replace(item.job, path=path)


def run_batch(order: WorkOrder, files: list[BatchFile]) -> BatchResult:
    """Parse ``files`` in contained processes and embed each parsed file's passages."""
    started = time.perf_counter()
    settings = order.settings
    embedder = _embedder(settings.model, settings.embed_batch_size, settings.embed_bf16)
    if embedder.name != order.model_name:
        raise ModelError(f"this worker's model is {embedder.name!r}, the run's is {order.model_name!r}")
    pool = ParsePool(resolve_source(embedder.spec.location).path, order.params, ParseLimits.of(settings))
    feed = EmbedFeed(embedder, settings.contextualize, _quiet)
    outcomes: list[Parsed | Failed] = []
    with TemporaryDirectory(prefix="clausewise-batch-") as scratch:
        jobs = [_local_job(item, Path(scratch), number) for number, item in enumerate(files)]
        for outcome in pool.results(jobs):  # embedding overlaps the parsing of the next files
            if isinstance(outcome, Parsed):
                feed.add(outcome)
            outcomes.append(outcome)
    vectors = feed.finish()
    for outcome in outcomes:
        if isinstance(outcome, Parsed):
            outcome.vectors = vectors[outcome.source]
    return BatchResult(get_worker().address, outcomes, time.perf_counter() - started)


def probe(settings: Settings, path: str, digest: str) -> WorkerView:
    """Run on every worker before a run: whether it sees ``path`` with content hash ``digest``,
    whether it may start processes, and which model and parser it would use."""
    from ingest.changes import file_hash
    from ingest.pipeline import PARSER_VERSION

    try:
        sees = file_hash(path) == digest
    except OSError:
        sees = False
    return WorkerView(
        sees_path=sees,
        can_fork=not multiprocessing.current_process().daemon,
        model_name=resolve_model(settings.model).name,
        parser_version=PARSER_VERSION,
    )
