"""The supervisor: queue rebuild jobs, run them one at a time in a child process, switch the
served index when one has published a build.

Queueing: at most one job runs and one waits. A request arriving while a job waits joins that
job (it has not looked at the corpus folder yet, so it will see the new files), and a ``full``
request upgrades it. Requests are never refused with 409 for being concurrent.

One runner thread starts every child (Linux ties a child's parent-death signal to the thread
that forked it, and this one lives as long as the server) and talks to it in the protocol of
:mod:`service.rebuilds.protocol`. A child runs one job and exits. With ``rebuild_prewarm`` (and
API keys set, so that jobs can happen at all) the runner keeps the next child started ahead of
time — Python, torch and the model loaded, waiting for its job line — so that a job does not
pay that start-up. Children come from an injectable :data:`~service.rebuilds.child.Spawn`: the
real ``python -m service.rebuilds.worker`` by default, a scripted child in tests.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import subprocess
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ClausewiseError, NotReady
from service.rebuilds.child import ChildProcess, Spawn, worker_spawner
from service.rebuilds.model import Job, now
from service.rebuilds.process import signal_name
from service.rebuilds.protocol import BuildReport, ErrorEvent, JobLine, ProgressEvent, ReportEvent, SettingsLine
from service.rebuilds.store import JOB_ID, KEEP_JOBS, JobStore

if TYPE_CHECKING:
    from ingest.settings import Settings
    from service.search.engine import Engine

log = logging.getLogger("clausewise.jobs")

Outcome = ReportEvent | ErrorEvent | None
STOPPED = "the server stopped before this job started; POST /index/rebuild to run it"


class Supervisor:
    """Queue, run and record the rebuild jobs of one served index."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        corpus_dir: Path,
        index_dir: Path,
        spawn: Spawn | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.corpus_dir = corpus_dir
        self.index_dir = index_dir
        self.store = JobStore(index_dir)
        self._spawn = spawn or worker_spawner(index_dir, corpus_dir, settings.rebuild_threads)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._cond = threading.Condition()
        self._queued: Job | None = None
        self._running: ChildProcess | None = None  # the child running a job
        self._standby: ChildProcess | None = None  # the next child, started ahead
        self._prewarm = bool(settings.rebuild_prewarm and settings.accepted_write_keys)
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------

    def recover(self) -> None:
        """Mark jobs that a dead server left queued or running as failed."""
        self.store.recover(self._serving())

    def start(self) -> None:
        """Start the runner now when it keeps a child ready; otherwise the first job starts it."""
        if self._prewarm:
            self._start_runner()

    def _start_runner(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run_forever, name="clausewise-rebuild", daemon=True)
                self._thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the runner: a running rebuild is terminated (its build is never half-published)."""
        with self._cond:
            self._stopping = True
            children = [c for c in (self._running, self._standby) if c is not None]
            queued, self._queued = self._queued, None
            self._cond.notify_all()
        if queued is not None:
            self._finish(queued, "failed", error=STOPPED)
        for child in children:
            if child.poll() is None:
                child.terminate()
        if self._thread is not None:
            self._thread.join(timeout)
        for child in children:
            if child.poll() is None:
                child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout)

    # --- public API -----------------------------------------------------------------------

    def submit(self, reason: str, full: bool = False) -> dict:
        """Queue a rebuild, or join the one already waiting. Returns the job (as JSON) to poll."""
        with self._cond:
            if self._stopping:
                raise NotReady("the server is shutting down")
            job = self._queued
            if job is not None:
                job.reasons.append(reason)
                job.full = job.full or full
            else:
                job = Job(id=secrets.token_hex(8), full=full, reasons=[reason])
                self._queued = job
                self._jobs[job.id] = job
                while len(self._jobs) > KEEP_JOBS:
                    self._jobs.popitem(last=False)
            self._cond.notify_all()
            snapshot = job.to_dict()
        self._start_runner()
        self._persist(job, force=True)
        self.store.prune()
        return snapshot

    def get(self, job_id: str) -> dict | None:
        """A job of this process, or one recorded by any (``None`` when there is none)."""
        if not JOB_ID.match(job_id):
            return None
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.to_dict()
        return self.store.load(job_id)

    def recent(self, limit: int = 20) -> list[dict]:
        """The latest jobs (of every worker process), newest first."""
        found: dict[str, dict] = {}
        for data in self.store.recent(limit * 2):
            if isinstance(data, dict) and "id" in data:
                found[data["id"]] = data
        with self._cond:
            for job in self._jobs.values():
                found[job.id] = job.to_dict()
        return sorted(found.values(), key=lambda d: d["created_at"], reverse=True)[:limit]

    # --- the runner -----------------------------------------------------------------------

    def _run_forever(self) -> None:
        while True:
            self._keep_standby()
            job = self._next_job()
            if job is None:
                return
            self._persist(job, force=True)
            try:
                self._run(job)
            except ClausewiseError as exc:
                self._finish(job, "failed", error=exc.message)
            except Exception as exc:  # never let one job kill the runner
                log.exception("rebuild job %s crashed", job.id)
                self._finish(job, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._running = None

    def _next_job(self) -> Job | None:
        """Wait for a queued job and mark it running; ``None`` when the server stops."""
        with self._cond:
            while self._queued is None and not self._stopping:
                self._cond.wait()
            job = self._queued
            if self._stopping or job is None:
                return None
            self._queued = None
            job.state = "running"
            job.started_at = now()
            self._stage(job, "starting")
            job.previous_version = self._serving()
        return job

    def _start_child(self) -> ChildProcess:
        child = self._spawn()
        child.send(SettingsLine(self._child_settings()))
        return child

    def _child_settings(self) -> dict:
        """The settings a rebuild runs with. Unless a model is configured explicitly, it is the
        served index's own, so an index built with another model is not refused (or, with
        ``full``, silently re-embedded with the default one)."""
        payload = self.settings.model_dump(
            mode="json", exclude={"api_keys", "read_keys", "write_keys", "protect_reads"}
        )
        if "model" not in self.settings.model_fields_set and self.engine.ready:
            payload["model"] = self.engine.snapshot.index.manifest.model.name
        return payload

    def _keep_standby(self) -> None:
        """Start the next child ahead of time (it loads everything, then waits for a job)."""
        if not self._prewarm:
            return
        with self._cond:
            if self._stopping or (self._standby is not None and self._standby.poll() is None):
                return
            if self._standby is not None:
                self._standby.close()
            self._standby = self._start_child()

    def _take_child(self) -> ChildProcess:
        with self._cond:
            if self._stopping:
                raise NotReady(STOPPED)
            child, self._standby = self._standby, None
            if child is None or child.poll() is not None:  # none kept, or it died waiting
                if child is not None:
                    child.close()
                child = self._start_child()
            self._running = child
        return child

    def _run(self, job: Job) -> None:
        child = self._take_child()
        with self._cond:
            job.pid = child.pid
        self._persist(job, force=True)
        try:
            outcome, code, expired = self._exchange(child, job)
            tail = child.stderr_tail()
        finally:
            child.close()
        with self._cond:
            job.pid = None
            if outcome is not None:
                job.apply(outcome.report or BuildReport())
        if not isinstance(outcome, ReportEvent):
            self._finish(job, "failed", error=_failure(outcome, code, expired, tail, self.settings.rebuild_timeout_s))
        elif not job.published or self._switch(job):
            self._finish(job, "succeeded")

    def _exchange(self, child: ChildProcess, job: Job) -> tuple[Outcome, int, bool]:
        """Hand the child its job and follow it to its end: ``(last event, exit status, timed out)``."""
        child.send(JobLine(full=job.full), last=True)
        expired = threading.Event()

        def kill_on_timeout() -> None:
            expired.set()
            child.kill()

        timer = threading.Timer(self.settings.rebuild_timeout_s, kill_on_timeout)
        timer.daemon = True
        timer.start()
        outcome: Outcome = None
        try:
            for message in child.messages():
                if isinstance(message, ProgressEvent):
                    with self._cond:
                        self._stage(job, message.stage)
                        job.progress.advance(message.stage, message.done, message.total)
                    self._persist(job)
                elif isinstance(message, (ReportEvent, ErrorEvent)):
                    outcome = message
            code = child.wait()
        finally:
            timer.cancel()
        return outcome, code, expired.is_set()

    def _switch(self, job: Job) -> bool:
        """Serve the build the job published; ``False`` (and the job failed) if it cannot load."""
        with self._cond:
            self._stage(job, "switch")
        self._persist(job, force=True)
        try:
            snapshot, _ = self.engine.reload()
        except Exception as exc:  # noqa: BLE001 — the job says why; the old build keeps serving
            self._finish(
                job,
                "failed",
                error=(
                    f"the new index was published but could not be loaded ({type(exc).__name__}: {exc}); "
                    "the previous index keeps serving"
                ),
            )
            return False
        job.index_version = snapshot.version
        return True

    # --- bookkeeping ----------------------------------------------------------------------

    def _serving(self) -> str | None:
        return self.engine.snapshot.version if self.engine.ready else None

    def _stage(self, job: Job, stage: str) -> None:
        job.progress.enter(stage, time.monotonic())

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        with self._cond:
            job.state = state
            job.error = error
            job.finished_at = now()
            job.pid = None
            self._stage(job, "done")
            if state == "failed" and not job.published:
                job.index_version = self._serving()
        self._persist(job, force=True)
        log.info("rebuild job %s %s%s", job.id, state, f": {error}" if error else "")

    def _persist(self, job: Job, force: bool = False) -> None:
        def take() -> dict:
            with self._cond:
                return job.to_dict()

        self.store.save(job.id, take, force)


def _failure(outcome: Outcome, code: int, expired: bool, tail: str, timeout_s: float) -> str:
    """Why a job failed, from the child's last event, its exit status and its stderr."""
    said = outcome.error if isinstance(outcome, ErrorEvent) else ""
    if said:
        error = said
    elif code < 0:
        error = f"the rebuild process was killed ({signal_name(-code)})"
        if expired:
            error += f" after the {timeout_s:g} s limit (CLAUSEWISE_REBUILD_TIMEOUT_S)"
    else:
        error = f"the rebuild process exited with status {code}"
    if tail and not said:
        error += f": {tail.splitlines()[-1]}"
    return f"{error}. The previous index keeps serving."
