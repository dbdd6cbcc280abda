"""The coordinator's side of a distributed ingest: :class:`DaskParser` is the run's parser
(:class:`~ingest.workers.stage.Parser`), with outcomes parsed and embedded on Dask workers.

Before the first batch, :func:`~ingest.cluster.tasks.probe` runs on every worker: a worker must
be able to start its parse processes and have the run's clausewise, parser and model files,
and — for transfer by path — see one file of each ingested folder at the coordinator's path
with the same content hash. Each batch checks its worker again, so a worker joining later is
held to the same.

Batches of ``dask_batch_files`` files are submitted a few at a time (twice the cluster's
threads, counted again as workers join); by content, also at most ``CONTENT_INFLIGHT_BYTES``
of files at once, and a file larger than the parse memory limit is failed here unread. A
batch that raises is retried ``dask_retries`` times, unless the error is one that retrying
cannot mend (a worker or model that does not fit the run). A worker that dies mid-batch costs
that batch: Dask runs it again elsewhere (up to the scheduler's ``allowed-failures``). A batch
that still fails stops the run with a :class:`~ingest.errors.ClusterError` before anything is
published or remembered as failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, Future, KilledWorker, as_completed

from ingest.chunker import ChunkParams
from ingest.cluster.tasks import BatchFile, BatchResult, WorkerView, WorkOrder, probe, refusal, run_batch
from ingest.discover import read_regular
from ingest.errors import ClusterError, ModelError
from ingest.settings import Settings
from ingest.workers.parse import Failed, Parsed, ParseJob

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 30
# A batch sent by content stays under distributed's 10 MB large-graph warning (a larger file
# travels alone): the scheduler holds a task's bytes until the task is done.
CONTENT_BATCH_BYTES = 8 << 20
# The file bytes the coordinator holds in flight at once (past it, batches wait for results).
CONTENT_INFLIGHT_BYTES = 64 << 20
BATCHES_PER_THREAD = 2
# Errors that are the same on every attempt: a worker, model or deployment that does not fit.
DETERMINISTIC = (ClusterError, ModelError)


def plan_batches(jobs: list[ParseJob], files: int, sizes: dict[str, int] | None) -> list[list[ParseJob]]:
    """``jobs`` in order, cut into batches of at most ``files`` files and, given each file's
    size (by content), at most ``CONTENT_BATCH_BYTES``."""
    batches: list[list[ParseJob]] = []
    size = 0
    for job in jobs:
        length = sizes[job.source] if sizes is not None else 0
        if not batches or len(batches[-1]) >= files or size + length > CONTENT_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(job)
        size += length
    return batches


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # reported when it is read


def _root(job: ParseJob) -> Path:
    """The ingested folder ``job`` was found in (its path without its source name)."""
    return job.path.parents[max(0, len(Path(job.source).parts) - 1)]


def _names(jobs: list[ParseJob]) -> str:
    return ", ".join(job.source for job in jobs[:3]) + (", …" if len(jobs) > 3 else "")


@dataclass
class _Batch:
    """A batch in flight: its files (with their bytes by content), size, and attempts so far."""

    files: list[BatchFile]
    size: int
    attempts: int = 0

    @property
    def jobs(self) -> list[ParseJob]:
        return [file.job for file in self.files]


class DaskParser:
    """Parse and embed jobs on the Dask cluster whose scheduler is at ``address``.

    ``notify`` hears ``("worker ADDRESS", files done there, 0)`` after each batch (0: no total,
    workers share the run as they go).
    """

    def __init__(
        self,
        address: str,
        settings: Settings,
        params: ChunkParams,
        model_name: str,
        parser_version: int,
        notify: Callable[[str, int, int], None],
    ) -> None:
        self.address, self.settings, self.notify = address, settings, notify
        self.order = WorkOrder.of(settings, params, model_name, parser_version)
        self.local: list[Failed] = []  # files failed here: gone or unreadable since hashed, or too large to send
        self.per_worker: Counter[str] = Counter()  # files done by each worker's address
        self.running: dict[object, _Batch] = {}  # by future key

    def results(self, jobs: list[ParseJob]) -> Iterator[Parsed | Failed]:
        if not jobs:
            return
        with self._connect() as client:
            transfer = self._choose_transfer(client, jobs)
            sizes = self._sendable(jobs) if transfer == "content" else None
            pending = plan_batches(
                [j for j in jobs if sizes is None or j.source in sizes], self.settings.dask_batch_files, sizes
            )
            log.info(
                "Dask cluster %s: %d workers, %d files in %d batches, sent by %s",
                self.address,
                len(client.nthreads()),
                len(jobs),
                len(pending),
                transfer,
            )
            pending.reverse()  # popped from the end: submitted in order
            done = as_completed(loop=client.loop)
            self._fill(client, pending, sizes, done)
            for future in done:
                result = self._outcome(client, future, done)
                if result is None:  # resubmitted
                    continue
                self.per_worker[result.worker] += len(result.outcomes)
                self.notify(f"worker {result.worker}", self.per_worker[result.worker], 0)
                self._fill(client, pending, sizes, done)
                yield from result.outcomes
            yield from self.local

    def _connect(self) -> Client:
        try:
            client = Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {self.address} ({exc}): start one with "
                "`dask scheduler`, or correct --dask / CLAUSEWISE_DASK_SCHEDULER"
            ) from exc
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError as exc:
            client.close()
            raise ClusterError(
                f"no worker joined the Dask scheduler at {self.address} within {WORKER_WAIT_S} s: "
                f"start one with `dask worker {self.address}` on a machine with clausewise installed"
            ) from exc
        return client

    def _probe(self, client: Client, probes: tuple[tuple[str, str], ...]) -> dict[str, WorkerView]:
        """Every worker's view, or a :class:`ClusterError` naming the first that cannot do the run."""
        answers: dict[str, Any] = client.run(probe, self.order, probes, on_error="return")
        for address, answer in sorted(answers.items()):
            if isinstance(answer, OSError):
                raise ClusterError(
                    f"the Dask worker {address} was lost while it was being checked ({type(answer).__name__}: "
                    f"{answer}): run again once the cluster is stable"
                ) from answer
            if isinstance(answer, ImportError):
                raise ClusterError(
                    f"the Dask worker {address} cannot import clausewise ({answer}): install the same "
                    "clausewise, with its dask extra, on every worker machine"
                ) from answer
            if isinstance(answer, BaseException):
                raise ClusterError(
                    f"the Dask worker {address} failed its check ({type(answer).__name__}: {answer})"
                ) from answer
            why = refusal(address, answer, self.order)
            if why is not None:
                raise ClusterError(why)
        return answers

    def _choose_transfer(self, client: Client, jobs: list[ParseJob]) -> str:
        """Check every worker can do the run; by path when all of them see a file of each
        ingested folder."""
        firsts = list({_root(job): job for job in reversed(jobs)}.values())[::-1]
        views = self._probe(client, tuple((str(job.path), job.digest) for job in firsts))
        blind = {a: [j.path for j, seen in zip(firsts, v.sees) if not seen] for a, v in views.items()}
        blind = {a: paths for a, paths in blind.items() if paths}
        wanted = self.settings.dask_transfer
        if wanted == "path" and blind:
            shown = "; ".join(f"{a}: {', '.join(map(str, paths))}" for a, paths in sorted(blind.items()))
            raise ClusterError(
                f"CLAUSEWISE_DASK_TRANSFER=path, but Dask workers do not see these files as they are here "
                f"({shown}): share the filesystem at the same path on every worker, or use content transfer"
            )
        return "path" if wanted == "path" or (wanted == "auto" and not blind) else "content"

    def _sendable(self, jobs: list[ParseJob]) -> dict[str, int]:
        """The size of each file that may travel by content; one larger than the parse memory
        limit would only run out of memory on its worker, and fails here unread."""
        limit_mb = self.settings.parse_memory_mb
        sizes: dict[str, int] = {}
        for job in jobs:
            size = _size(job.path)
            if limit_mb and size > limit_mb << 20:
                self.local.append(
                    Failed(
                        job.source,
                        f"ran out of memory (limit {limit_mb} MiB a file): the file alone is {size >> 20} MiB, "
                        "so it was not sent to the Dask workers (CLAUSEWISE_PARSE_MEMORY_MB)",
                    )
                )
            else:
                sizes[job.source] = size
        return sizes

    def _fill(
        self, client: Client, pending: list[list[ParseJob]], sizes: dict[str, int] | None, done: as_completed
    ) -> None:
        """Submit batches while fewer than the window (twice the cluster's threads now) are
        running and, by content, their bytes stay within ``CONTENT_INFLIGHT_BYTES``; a file's
        bytes are read as its batch is sent."""
        window = max(1, BATCHES_PER_THREAD * sum(client.nthreads().values()))
        while pending and len(self.running) < window:
            size = sum(sizes[job.source] for job in pending[-1]) if sizes is not None else 0
            in_flight = sum(batch.size for batch in self.running.values())
            if self.running and in_flight + size > CONTENT_INFLIGHT_BYTES:
                return
            files = [file for file in (self._file(job, sizes is not None) for job in pending.pop()) if file is not None]
            if files:
                self._submit(client, _Batch(files, size), done)

    def _submit(self, client: Client, batch: _Batch, done: as_completed) -> None:
        future = client.submit(run_batch, self.order, batch.files, pure=False)
        self.running[future.key] = batch
        done.add(future)

    def _file(self, job: ParseJob, by_content: bool) -> BatchFile | None:
        if not by_content:
            return BatchFile(job)
        try:
            return BatchFile(job, read_regular(job.path))
        except OSError as exc:
            self.local.append(Failed(job.source, f"cannot read file: {exc.strerror or exc}"))
            return None

    def _outcome(self, client: Client, future: Future, done: as_completed) -> BatchResult | None:
        """The batch's result; ``None`` when it raised and was submitted again."""
        batch = self.running.pop(future.key)
        where = f"a batch ({_names(batch.jobs)}) on the Dask cluster at {self.address}"
        try:
            result: Any = future.result()
        except KilledWorker as exc:
            raise ClusterError(
                f"{where} was lost with every worker that ran it, and the scheduler gave up on it "
                f"(distributed.scheduler.allowed-failures): {exc}"
            ) from exc
        except DETERMINISTIC as exc:
            raise ClusterError(f"{where} cannot run: {exc}") from exc
        except Exception as exc:
            retries = self.settings.dask_retries
            if batch.attempts < retries:
                log.warning("%s raised %s: %s; retrying", where, type(exc).__name__, exc)
                batch.attempts += 1
                self._submit(client, batch, done)
                return None
            raise ClusterError(
                f"{where} failed {batch.attempts + 1} times (CLAUSEWISE_DASK_RETRIES={retries}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            with contextlib.suppress(Exception):
                future.release()
        return result
