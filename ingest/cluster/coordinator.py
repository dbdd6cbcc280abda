"""The coordinator's side of a distributed ingest: :class:`DaskParser` is the run's parser
(:class:`~ingest.workers.stage.Parser`), with outcomes parsed and embedded on Dask workers.

Before the first batch, :func:`~ingest.cluster.tasks.probe` runs on every worker: a worker must
be able to start its parse processes, use the run's model and parser version, and — for
transfer by path — see the first file at the coordinator's path with the same content hash.

Batches of ``dask_batch_files`` files are submitted a few at a time (twice the cluster's
threads), so that content transfer holds only those batches' bytes, and each task is retried
``dask_retries`` times when it raises. A worker that dies mid-batch costs that batch: Dask
runs it again elsewhere (up to the scheduler's ``allowed-failures``). A batch that still
fails stops the run with a :class:`~ingest.errors.ClusterError` before anything is published.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed

from ingest.chunker import ChunkParams
from ingest.cluster.tasks import BatchFile, BatchResult, WorkerView, WorkOrder, probe, run_batch
from ingest.discover import read_regular
from ingest.errors import ClusterError
from ingest.settings import Settings
from ingest.workers.parse import Failed, Parsed, ParseJob

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 30
# A batch sent by content stays under distributed's 10 MB large-graph warning (a larger file
# travels alone): the scheduler holds a task's bytes until the task is done.
CONTENT_BATCH_BYTES = 8 << 20
BATCHES_PER_THREAD = 2


def plan_batches(jobs: list[ParseJob], files: int, max_bytes: int | None) -> list[list[ParseJob]]:
    """``jobs`` in order, cut into batches of at most ``files`` files and (by content) bytes."""
    batches: list[list[ParseJob]] = []
    size = 0
    for job in jobs:
        length = _size(job.path) if max_bytes is not None else 0
        if not batches or len(batches[-1]) >= files or (max_bytes is not None and size + length > max_bytes):
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


class DaskParser:
    """Parse and embed jobs on the Dask cluster at ``settings.dask_scheduler``.

    ``notify`` hears ``("worker ADDRESS", files done there, files of the run)`` after each
    batch and ``("embed", passages received, passages so far)``; ``transfer`` is what the run
    chose (``path`` or ``content``), set once the probe has run.
    """

    def __init__(
        self,
        settings: Settings,
        params: ChunkParams,
        model_name: str,
        parser_version: int,
        notify: Callable[[str, int, int], None],
    ) -> None:
        if not settings.dask_scheduler:
            raise ClusterError("no Dask scheduler: pass --dask tcp://HOST:8786 or set CLAUSEWISE_DASK_SCHEDULER")
        self.address = settings.dask_scheduler
        self.settings, self.notify = settings, notify
        self.order = WorkOrder(settings, params, model_name)
        self.parser_version = parser_version
        self.unreadable: list[Failed] = []  # files gone or unreadable since they were hashed
        self.transfer: str | None = None
        self.per_worker: Counter[str] = Counter()  # files done by each worker's address

    def results(self, jobs: list[ParseJob]) -> Iterator[Parsed | Failed]:
        if not jobs:
            return
        with self._connect() as client:
            self.transfer = self._choose_transfer(client, jobs[0])
            by_content = self.transfer == "content"
            pending = plan_batches(jobs, self.settings.dask_batch_files, CONTENT_BATCH_BYTES if by_content else None)
            pending.reverse()  # popped from the end: submitted in order
            threads = sum(client.nthreads().values())
            log.info(
                "Dask cluster %s: %d workers, %d files in %d batches, sent by %s",
                self.address,
                len(client.nthreads()),
                len(jobs),
                len(pending),
                self.transfer,
            )
            running = as_completed(loop=client.loop)
            batches: dict[object, list[ParseJob]] = {}
            for _ in range(max(1, BATCHES_PER_THREAD * threads)):
                self._submit_next(client, pending, by_content, batches, running)
            passages = 0
            for future in running:
                result = self._outcome(future, batches)
                self.per_worker[result.worker] += len(result.outcomes)
                self.notify(f"worker {result.worker}", self.per_worker[result.worker], len(jobs))
                passages += sum(len(o.passages) for o in result.outcomes if isinstance(o, Parsed))
                self.notify("embed", passages, passages)
                self._submit_next(client, pending, by_content, batches, running)
                yield from result.outcomes
            yield from self.unreadable

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

    def _choose_transfer(self, client: Client, first: ParseJob) -> str:
        """Check every worker can do the run; by path when all of them see the first file."""
        views: dict[str, WorkerView] = client.run(probe, self.settings, str(first.path), first.digest)
        for address, view in views.items():
            if not view.can_fork:
                raise ClusterError(
                    f"the Dask worker {address} is a daemonic process and cannot start its parse "
                    "processes: start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"
                )
            if view.model_name != self.order.model_name or view.parser_version != self.parser_version:
                raise ClusterError(
                    f"the Dask worker {address} would use model {view.model_name!r} and parser "
                    f"{view.parser_version}, this run {self.order.model_name!r} and {self.parser_version}: "
                    "install the same clausewise and model on every worker"
                )
        sees = all(view.sees_path for view in views.values())
        wanted = self.settings.dask_transfer
        if wanted == "path" and not sees:
            blind = sorted(a for a, v in views.items() if not v.sees_path)
            raise ClusterError(
                f"CLAUSEWISE_DASK_TRANSFER=path, but the workers {', '.join(blind)} do not see {first.path} "
                "as it is here: share the filesystem at the same path, or use content transfer"
            )
        return "path" if wanted == "path" or (wanted == "auto" and sees) else "content"

    def _submit_next(
        self,
        client: Client,
        pending: list[list[ParseJob]],
        by_content: bool,
        batches: dict[object, list[ParseJob]],
        running: as_completed,
    ) -> None:
        """Send the next batch, its files' bytes read now when they travel by content."""
        while pending:
            files = [file for file in (self._file(job, by_content) for job in pending.pop()) if file is not None]
            if files:
                future = client.submit(run_batch, self.order, files, retries=self.settings.dask_retries, pure=False)
                batches[future.key] = [file.job for file in files]
                running.add(future)
                return

    def _file(self, job: ParseJob, by_content: bool) -> BatchFile | None:
        if not by_content:
            return BatchFile(job)
        try:
            return BatchFile(job, read_regular(job.path))
        except OSError as exc:
            self.unreadable.append(Failed(job.source, f"cannot read file: {exc.strerror or exc}"))
            return None

    def _outcome(self, future: Future, batches: dict[object, list[ParseJob]]) -> BatchResult:
        batch = batches.pop(future.key)
        try:
            result: Any = future.result()
        except Exception as exc:
            names = ", ".join(job.source for job in batch[:3]) + (", …" if len(batch) > 3 else "")
            raise ClusterError(
                f"a batch ({names}) failed on the Dask cluster at {self.address} after "
                f"{self.settings.dask_retries} retries: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            with contextlib.suppress(Exception):
                future.release()
        return result
