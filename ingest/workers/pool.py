"""Parse files in worker processes, each file under a wall-clock and a memory limit.

Workers are long-lived processes forked from a ``forkserver`` that has imported the parsing
code once (a new worker costs a fork and loading the tokenizer, ~0.1 s, not a Python start).
Each worker has its own pipe, takes one file at a time and sends back the result; the
parent watches every busy worker's pipe and process at once (``connection.wait``) and, when a
file runs past its deadline, kills that worker alone and starts another. A worker that dies
(a segfault, ``os._exit``, the kernel's OOM killer) costs only its file, reported with the
signal or exit status; one that raised anything at all reports it. Memory is capped by
``RLIMIT_AS`` in each worker: an allocation past it raises ``MemoryError`` there (reported,
and the worker retires, its heap being suspect).

The deadline of a file is ``parse_timeout_s`` plus ``parse_seconds_per_page`` for each page
of a PDF (counted when the worker opens it), plus what the parsing code asks for through
:func:`ingest.workers.budget.allow` (OCR asks its per-page limit).

:meth:`ParsePool.results` yields files as they finish, from a thread that keeps the workers
busy meanwhile: the caller embeds one file's passages while the next ones are parsed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ingest.chunker import ChunkParams
from ingest.embedding.source import resolve_source
from ingest.settings import Settings, usable_cores
from ingest.workers.parse import TOKENIZER_FILE, Failed, FastOffsets, Parsed, ParseJob, parse_file

ParseFunction = Callable[[ParseJob, Any, ChunkParams], "Parsed | Failed"]

_PRELOAD = ["__main__", "ingest.workers.pool", "ingest.workers.parse", "pypdf", "trafilatura", "charset_normalizer"]
RETIRE_RSS_SHARE = 0.5  # a worker holding more than this share of its memory limit is replaced


@dataclass(frozen=True)
class ParseLimits:
    """How many workers, and what one file may cost (see the module docstring)."""

    workers: int
    seconds: float
    seconds_per_page: float
    memory_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> ParseLimits:
        return cls(
            workers=settings.parse_workers or usable_cores(),
            seconds=settings.parse_timeout_s,
            seconds_per_page=settings.parse_seconds_per_page,
            memory_bytes=int(settings.parse_memory_mb * 1024 * 1024),
        )


def _offsets_for(model_dir: Path) -> Any:
    """The token-offsets function of the model in ``model_dir``: its ``tokenizer.json`` through
    ``tokenizers``, or, for a model shipping only a slow tokenizer, transformers' own."""
    if (model_dir / TOKENIZER_FILE).is_file():
        return FastOffsets(model_dir / TOKENIZER_FILE)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))

    def offsets(text: str) -> list[tuple[int, int]]:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in encoding["offset_mapping"]]

    return offsets


def _page_count(job: ParseJob) -> int:
    """How many pages the worker's PDF has (0 for other files, or when that is unreadable)."""
    try:
        with open(job.path, "rb") as handle:
            if b"%PDF-" not in handle.read(1024):
                return 0
        from pypdf import PdfReader

        return len(PdfReader(job.path, strict=False).pages)
    except Exception:  # noqa: BLE001 — the parse itself reports what is wrong with the file
        return 0


def _worker(conn: Connection, model_dir: Path, params: ChunkParams, memory_bytes: int, parse: ParseFunction) -> None:
    """A worker's life: cap its memory, load the tokenizer, then parse jobs until told to stop."""
    from ingest.workers import budget

    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread a worker: the pool is the parallelism
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_forkserver()
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    offsets = _offsets_for(model_dir)
    budget.listen(lambda seconds: conn.send(("allow", seconds)))
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the run is gone
            return
        if job is None:
            return
        retire = False
        try:
            conn.send(("pages", _page_count(job)))
            result: Parsed | Failed = _parse(parse, job, offsets, params)
        except MemoryError:
            result, retire = Failed(job.source, f"ran out of memory (limit {memory_bytes >> 20} MiB a file)"), True
        try:
            conn.send(("done", result, retire or _resident() > RETIRE_RSS_SHARE * memory_bytes > 0))
        except (BrokenPipeError, ConnectionResetError):  # the run is gone
            return
        if retire:
            return


def _die_with_forkserver() -> None:
    """Linux: be killed when the forkserver exits, which it does when the run that started it
    dies (even by SIGKILL), so that no worker outlives its run. Elsewhere, nothing."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _parse(parse: ParseFunction, job: ParseJob, offsets: Any, params: ChunkParams) -> Parsed | Failed:
    try:
        return parse(job, offsets, params)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 — any exception from any step is this file's failure
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Failed(
            job.source, f"parser error: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        )


def _resident() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Slot:
    """One worker process and the file it is parsing."""

    def __init__(self, context: Any, pool: ParsePool) -> None:
        self.conn, child = context.Pipe()
        limits = pool.limits
        self.process = context.Process(
            target=_worker, args=(child, pool.model_dir, pool.params, limits.memory_bytes, pool.parse), daemon=True
        )
        self.process.start()
        child.close()
        self.limits = limits
        self.job: ParseJob | None = None
        self.started = 0.0
        self.deadline = 0.0

    def give(self, job: ParseJob) -> None:
        self.job, self.started = job, time.monotonic()
        self.deadline = self.started + self.limits.seconds
        self.conn.send(job)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(2)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


def _death(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        why = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the parser crashed: killed by {name}{why}"
    return f"the parser crashed: its process exited with status {code}"


class ParsePool:
    """Parse :class:`ParseJob` files in worker processes under :class:`ParseLimits`."""

    def __init__(
        self, model_dir: Path, params: ChunkParams, limits: ParseLimits, parse: ParseFunction = parse_file
    ) -> None:
        """``parse`` is what a worker runs on each file: a module-level function (workers
        import it by name), :func:`~ingest.workers.parse.parse_file` but in tests."""
        self.model_dir, self.params, self.limits, self.parse = model_dir, params, limits, parse
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(_PRELOAD)

    @classmethod
    def for_model(cls, model: str, params: ChunkParams, limits: ParseLimits) -> ParsePool:
        """A pool whose workers cut passages with the tokenizer of ``model`` (a name or folder)."""
        return cls(resolve_source(model).path, params, limits)

    def results(self, jobs: list[ParseJob]) -> Iterator[Parsed | Failed]:
        """Every job's outcome, in the order they finish."""
        if not jobs:
            return
        out: queue.Queue[Parsed | Failed | BaseException] = queue.Queue()
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(jobs, out, stop), name="parse-pool", daemon=True)
        thread.start()
        try:
            for _ in jobs:
                item = out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()

    def _run(self, jobs: list[ParseJob], out: queue.Queue[Any], stop: threading.Event) -> None:
        try:
            self._drive(deque(jobs), out, stop)
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer, raised there
            out.put(exc)

    def _drive(self, pending: deque[ParseJob], out: queue.Queue[Any], stop: threading.Event) -> None:
        """Keep up to ``workers`` files in progress until every job has an outcome."""
        slots: list[_Slot] = []
        try:
            while (pending or any(s.job for s in slots)) and not stop.is_set():
                idle = [s for s in slots if s.job is None]
                while pending and (idle or len(slots) < self.limits.workers):
                    slot = idle.pop() if idle else self._new_slot(slots)
                    slot.give(pending.popleft())
                busy = [s for s in slots if s.job is not None]
                timeout = max(0.0, min(s.deadline for s in busy) - time.monotonic())
                ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy], min(timeout, 1.0)))
                for slot in busy:
                    outcome = self._check(slot, ready)
                    if outcome is not None:
                        out.put(outcome)
                slots = [s for s in slots if s.process.is_alive() or s.job is not None]
        finally:
            for slot in slots:
                slot.kill() if slot.job is not None else slot.stop()

    def _new_slot(self, slots: list[_Slot]) -> _Slot:
        slot = _Slot(self.context, self)
        slots.append(slot)
        return slot

    def _check(self, slot: _Slot, ready: set[Any]) -> Parsed | Failed | None:
        """The outcome of ``slot``'s file if it has one now: a result, a crash, a timeout."""
        job = slot.job
        assert job is not None
        if slot.conn in ready:
            try:
                message = slot.conn.recv()
            except (EOFError, OSError):
                message = None
            if message is not None and message[0] == "pages":
                slot.deadline += message[1] * self.limits.seconds_per_page
                return None
            if message is not None and message[0] == "allow":
                slot.deadline += message[1]
                return None
            if message is not None:  # ("done", result, retire)
                slot.job = None
                if message[2]:
                    slot.stop()
                return message[1]
            slot.process.join(5)  # the pipe closed: the worker is dying
        elif slot.process.sentinel not in ready and time.monotonic() < slot.deadline:
            return None
        slot.job = None
        if slot.process.is_alive():  # past its deadline
            slot.kill()
            limit = slot.deadline - slot.started
            return Failed(
                job.source, f"took too long: stopped at its limit of {limit:.0f} s (CLAUSEWISE_PARSE_TIMEOUT_S)"
            )
        reason = _death(slot.process)
        slot.conn.close()
        return Failed(job.source, reason)
