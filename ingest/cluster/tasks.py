"""What runs on a Dask worker: a batch of files parsed and embedded (:func:`run_batch`), and the
probe that tells the coordinator what a worker sees (:func:`probe`).

A batch is parsed exactly as a local run parses: through a :class:`~ingest.workers.pool.ParsePool`
of the worker's own, each file under the coordinator's wall-clock and memory limits, so that a
hostile file costs its own limit on the worker too and the batch goes on. Its passages are then
embedded by the worker's model (:class:`~ingest.workers.feed.EmbedFeed`, as locally), loaded once
per worker process — the probe starts loading it — and kept for every later batch and run.

Every batch checks its worker first (:func:`refusal`): a worker that joined after the probe is
held to the same clausewise, parser and model as the others, and raises a
:class:`~ingest.errors.ClusterError`, which the coordinator does not retry.

Only a :class:`WorkOrder` travels, never the coordinator's ``Settings``: those hold the API keys,
and Dask sends tasks in clear over ``tcp://`` and logs a failed task's arguments.

Workers import this module by name: they run the same clausewise as the coordinator, installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import multiprocessing
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from distributed import get_worker

from ingest.chunker import ChunkParams
from ingest.embedder import Embedder, resolve_model
from ingest.embedding.source import fingerprint, resolve_source
from ingest.errors import ClusterError, ModelError
from ingest.settings import Settings, usable_cores
from ingest.workers.feed import EmbedFeed
from ingest.workers.parse import Failed, Parsed, ParseJob
from ingest.workers.pool import ParseLimits, ParsePool


def clausewise_version() -> str:
    """The installed clausewise's version ("unknown" when run from a source tree alone)."""
    try:
        return importlib.metadata.version("clausewise")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def model_digest(model: str) -> str:
    """The fingerprint of the model's files (weights and configuration), as this machine has them."""
    digests = fingerprint(resolve_source(resolve_model(model).location).path)
    return f"{digests['weights_sha256'][:16]}/{digests['config_sha256'][:16]}"


@dataclass(frozen=True)
class WorkOrder:
    """What every batch of a run shares, and what the coordinator expects of each worker.

    ``limits.workers`` 0 means: this worker's share of its machine's cores."""

    model: str
    batch_size: int
    bf16: bool
    contextualize: bool
    limits: ParseLimits
    params: ChunkParams
    model_name: str
    model_digest: str
    parser_version: int
    version: str

    @classmethod
    def of(cls, settings: Settings, params: ChunkParams, model_name: str, parser_version: int) -> WorkOrder:
        limits = dataclasses.replace(ParseLimits.of(settings), workers=settings.parse_workers)
        return cls(
            model=settings.model,
            batch_size=settings.embed_batch_size,
            bf16=settings.embed_bf16,
            contextualize=settings.contextualize,
            limits=limits,
            params=params,
            model_name=model_name,
            model_digest=model_digest(settings.model),
            parser_version=parser_version,
            version=clausewise_version(),
        )


@dataclass(frozen=True)
class BatchFile:
    """One file of a batch: its job (the path as the coordinator sees it), and its bytes when
    the workers do not share the coordinator's filesystem."""

    job: ParseJob
    content: bytes | None = None


@dataclass
class BatchResult:
    """A batch's outcomes, each parsed file with its vectors, and which worker ran it."""

    worker: str
    outcomes: list[Parsed | Failed]


@dataclass(frozen=True)
class WorkerView:
    """What :func:`probe` finds on one worker."""

    sees: tuple[bool, ...]  # each probed file is at the coordinator's path, with the same content hash
    can_fork: bool  # not a daemonic process: it may start its parse workers
    model_name: str
    model_digest: str
    parser_version: int
    version: str


_lock = threading.Lock()
_embedders: dict[tuple[str, int, bool], Embedder] = {}
_digests: dict[str, str] = {}


def _embedder(order: WorkOrder) -> Embedder:
    """The model of this worker process, loaded once (two threads asking wait for one load) and kept."""
    key = (order.model, order.batch_size, order.bf16)
    with _lock:
        if key not in _embedders:
            _embedders[key] = Embedder(*key)
        embedder = _embedders[key]
    embedder.warm_up()  # the embedder's own lock: loaded once
    return embedder


def _digest(model: str) -> str:
    """:func:`model_digest`, hashed once per worker process."""
    with _lock:
        if model not in _digests:
            _digests[model] = model_digest(model)
        return _digests[model]


def _view(order: WorkOrder, probes: tuple[tuple[str, str], ...] = ()) -> WorkerView:
    from ingest.changes import file_hash
    from ingest.pipeline import PARSER_VERSION

    sees = []
    for path, digest in probes:
        try:
            sees.append(file_hash(path) == digest)
        except OSError:
            sees.append(False)
    try:
        digest = _digest(order.model)
    except ModelError:
        digest = "missing"
    return WorkerView(
        sees=tuple(sees),
        can_fork=not multiprocessing.current_process().daemon,
        model_name=resolve_model(order.model).name,
        model_digest=digest,
        parser_version=PARSER_VERSION,
        version=clausewise_version(),
    )


def refusal(address: str, view: WorkerView, order: WorkOrder) -> str | None:
    """Why the worker at ``address`` cannot do ``order``'s run, with the fix; ``None`` if it can."""
    if not view.can_fork:
        return (
            f"the Dask worker {address} is a daemonic process and cannot start its parse processes: "
            "start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"
        )
    mine = (view.version, view.parser_version, view.model_name, view.model_digest)
    wanted = (order.version, order.parser_version, order.model_name, order.model_digest)
    if mine != wanted:
        return (
            f"the Dask worker {address} has clausewise {view.version} (parser {view.parser_version}) and model "
            f"{view.model_name!r} (files {view.model_digest}); this run has clausewise {order.version} (parser "
            f"{order.parser_version}) and {order.model_name!r} (files {order.model_digest}): "
            "install the same clausewise and model on every worker"
        )
    return None


def _pool(order: WorkOrder) -> ParsePool:
    """A parse pool of this worker's share of its machine: its cores over its threads, each
    thread running a batch at once (``parse_workers`` when set)."""
    workers = order.limits.workers or max(1, usable_cores() // max(1, get_worker().state.nthreads))
    return ParsePool.for_model(order.model, order.params, dataclasses.replace(order.limits, workers=workers))


def _local_job(item: BatchFile, scratch: Path, number: int, address: str) -> ParseJob:
    """The job as this worker runs it: the shared path, or the bytes written under ``scratch``
    with the file's own name (loaders read its suffix). A shared path this worker does not see
    is a deployment problem, not the file's: the run stops rather than remember it as failed."""
    if item.content is None:
        if not os.path.exists(item.job.path):
            raise ClusterError(
                f"the Dask worker {address} does not see {item.job.path}: share the filesystem at the same "
                "path on every worker, or use CLAUSEWISE_DASK_TRANSFER=content (or auto)"
            )
        return item.job
    folder = scratch / str(number)
    folder.mkdir()
    path = folder / item.job.path.name
    path.write_bytes(item.content)
    return dataclasses.replace(item.job, path=path)


def run_batch(order: WorkOrder, files: list[BatchFile]) -> BatchResult:
    """Parse ``files`` in contained processes and embed each parsed file's passages."""
    from ingest.pipeline import quiet

    address = get_worker().address
    why = refusal(address, _view(order), order)
    if why is not None:
        raise ClusterError(why)
    embedder = _embedder(order)
    feed = EmbedFeed(embedder, order.contextualize, quiet)  # the coordinator shows progress per batch
    outcomes: list[Parsed | Failed] = []
    with TemporaryDirectory(prefix="clausewise-batch-") as scratch:
        jobs = [_local_job(item, Path(scratch), number, address) for number, item in enumerate(files)]
        for outcome in _pool(order).results(jobs):  # embedding overlaps the parsing of the next files
            if isinstance(outcome, Parsed):
                feed.add(outcome)
            outcomes.append(outcome)
    vectors = feed.finish()
    for outcome in outcomes:
        if isinstance(outcome, Parsed):
            outcome.vectors = vectors[outcome.source]
    return BatchResult(address, outcomes)


def _warm(order: WorkOrder) -> None:
    with contextlib.suppress(ModelError):  # the first batch loads it again and raises the error there
        _embedder(order)


def probe(order: WorkOrder, probes: tuple[tuple[str, str], ...]) -> WorkerView:
    """Run on every worker before a run: whether it sees each ``(path, content hash)`` of
    ``probes``, whether it may start processes, which clausewise, parser and model it has. It
    starts loading the model in a thread, so that every worker loads at once, before its first batch."""
    view = _view(order, probes)
    if refusal("", view, order) is None:
        threading.Thread(target=_warm, args=(order,), name="clausewise-model-load", daemon=True).start()
    return view
