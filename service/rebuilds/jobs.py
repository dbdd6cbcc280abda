"""Rebuild jobs: one at a time, in a child process, switched in atomically when they succeed.

The server process keeps the job list and one runner thread. A job runs in
``python -m service.rebuilds.jobs`` — a child that calls :func:`ingest.pipeline.ingest` on the corpus
folder at idle CPU priority with ``rebuild_threads`` torch/OpenMP threads, and reports progress
and its :class:`~ingest.pipeline.IngestReport` as JSON lines on its stdout. Embedding in a
child keeps the GIL and torch's thread pool away from the serving path, and a crash or a
SIGKILL of the child cannot take the server down: the index is published with one rename,
so a dead child leaves the last good build current, and the job says why it failed.

A child runs one job and exits. With ``rebuild_prewarm`` (and API keys set, so that jobs can
happen at all) the runner keeps the next child started ahead of time — Python, torch and the
model loaded, waiting on its stdin — so that a job does not pay that start-up.

Queueing: at most one job runs and one waits. A request arriving while a job waits joins
that job (it has not looked at the corpus folder yet, so it will see the new files), and a
``full`` request upgrades it. Requests are never refused with 409 for being concurrent.

Every job is also written to ``<index>/.jobs/<id>.json`` (atomically), so ``GET /jobs/{id}``
answers from any worker process and after a restart; a job left queued or running by a
server that died is marked failed at the next start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("clausewise.jobs")

JOBS_DIR = ".jobs"
KEEP_JOBS = 200
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
PROGRESS_WRITE_INTERVAL = 0.5


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Progress:
    stage: str = "queued"  # queued, starting, waiting-for-lock, parse, embed, write, switch, done
    files_done: int = 0
    files_total: int = 0
    passages_done: int = 0
    passages_total: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # time spent in each stage so far


@dataclass
class Job:
    id: str
    full: bool
    reasons: list[str]
    state: str = "queued"  # queued, running, succeeded, failed
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    progress: Progress = field(default_factory=Progress)
    counts: dict = field(default_factory=lambda: dict.fromkeys(("added", "updated", "removed", "unchanged", "failed"), 0))
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {"source", "doc_id", "error"}
    warnings: list[dict] = field(default_factory=list)  # {"source", "warning"}: indexed, with a caveat
    error: str | None = None
    published: bool = False
    previous_version: str | None = None
    index_version: str | None = None
    documents: int | None = None
    passages: int | None = None
    pid: int | None = None  # the rebuild process while it runs
    server_pid: int = field(default_factory=os.getpid)

    def to_dict(self) -> dict:
        return asdict(self)


class JobManager:
    """Queue, run and record rebuild jobs of one served index."""

    def __init__(self, settings, engine, corpus_dir: Path, index_dir: Path) -> None:
        self.settings = settings
        self.engine = engine
        self.corpus_dir = corpus_dir
        self.index_dir = index_dir
        self.jobs_dir = index_dir / JOBS_DIR
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._cond = threading.Condition()
        self._queued: Job | None = None
        self._proc: subprocess.Popen | None = None  # the child running a job
        self._standby: _Child | None = None  # the next child, started ahead
        self._prewarm = bool(settings.rebuild_prewarm and settings.api_keys)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._write_lock = threading.Lock()  # job files are written in the order of the states
        self._stage_since: dict[str, float] = {}
        self._last_write: dict[str, float] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def recover(self) -> None:
        """Mark jobs that a dead server left queued or running as failed."""
        if not self.jobs_dir.is_dir():
            return
        version = self.engine.snapshot.version if self.engine.ready else None
        for path in self.jobs_dir.glob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if data.get("state") in {"queued", "running"} and not pid_alive(int(data.get("server_pid") or 0)):
                data.update(
                    state="failed", finished_at=_now(), pid=None,
                    error=(f"interrupted: the server (pid {data.get('server_pid')}) stopped before this job finished. "
                           f"The index serving now is the last one published ({version}); POST /index/rebuild to try again."),
                )
                data.setdefault("progress", {})["stage"] = "done"
                _write_json(path, data)

    def start(self) -> None:
        """Start the runner now when it keeps a child ready; otherwise the first job starts it."""
        if self._prewarm:
            self._start_runner()

    def _start_runner(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                # The runner thread spawns every child: Linux ties a child's parent-death
                # signal to the thread that forked it, and this one lives as long as the server.
                self._thread = threading.Thread(target=self._run_forever, name="clausewise-rebuild", daemon=True)
                self._thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the runner: a running rebuild is terminated (its build is never half-published)."""
        with self._cond:
            self._stopping = True
            procs = [p for p in (self._proc, self._standby.proc if self._standby else None) if p is not None]
            queued = self._queued
            self._queued = None
            self._cond.notify_all()
        if queued is not None:
            self._finish(queued, "failed", error="the server stopped before this job started; POST /index/rebuild to run it")
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)

    # --- public API -----------------------------------------------------------------------

    def submit(self, reason: str, full: bool = False) -> dict:
        """Queue a rebuild, or join the one already waiting. Returns the job (as JSON) to poll."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the server is shutting down")
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
        self._prune_files()
        return snapshot

    def get(self, job_id: str) -> dict | None:
        if not JOB_ID.match(job_id):
            return None
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.to_dict()
        path = self.jobs_dir / f"{job_id}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def recent(self, limit: int = 20) -> list[dict]:
        """The latest jobs (of every worker process), newest first."""
        found: dict[str, dict] = {}
        for path in _newest(self.jobs_dir.glob("*.json"))[: limit * 2]:
            with contextlib.suppress(OSError, ValueError, KeyError):
                data = json.loads(path.read_text())
                found[data["id"]] = data
        with self._cond:
            for job in self._jobs.values():
                found[job.id] = job.to_dict()
        return sorted(found.values(), key=lambda d: d["created_at"], reverse=True)[:limit]

    # --- the runner -----------------------------------------------------------------------

    def _run_forever(self) -> None:
        while True:
            self._keep_standby()
            with self._cond:
                while self._queued is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queued
                self._queued = None
                job.state = "running"
                job.started_at = _now()
                self._stage(job, "starting")
                job.previous_version = self.engine.snapshot.version if self.engine.ready else None
            self._persist(job, force=True)
            try:
                self._run(job)
            except Exception as exc:  # never let one job kill the runner
                log.exception("rebuild job %s crashed", job.id)
                self._finish(job, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._proc = None

    def _spawn(self) -> "_Child":
        threads = str(self.settings.rebuild_threads)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
        command = [
            sys.executable, "-m", "service.rebuilds.jobs", "--index", str(self.index_dir), "--corpus", str(self.corpus_dir),
            "--parent-pid", str(os.getpid()),
        ]
        stderr = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True, bufsize=1,
        )
        with contextlib.suppress(BrokenPipeError):  # a child that died at once is reported by the job
            proc.stdin.write(json.dumps(self._child_settings()) + "\n")
            proc.stdin.flush()
        return _Child(proc, stderr)

    def _child_settings(self) -> dict:
        """The settings a rebuild runs with. Unless a model is configured explicitly, it is the
        served index's own, so an index built with another model is not refused (or, with
        ``full``, silently re-embedded with the default one)."""
        payload = self.settings.model_dump(mode="json", exclude={"api_keys"})
        if "model" not in self.settings.model_fields_set and self.engine.ready:
            payload["model"] = self.engine.snapshot.index.manifest["model"]["name"]
        return payload

    def _keep_standby(self) -> None:
        """Start the next child ahead of time (it loads everything, then waits for a job)."""
        if not self._prewarm:
            return
        with self._cond:
            if self._stopping or (self._standby is not None and self._standby.proc.poll() is None):
                return
            if self._standby is not None:
                self._standby.close()
            self._standby = self._spawn()

    def _take_child(self) -> "_Child":
        with self._cond:
            if self._stopping:
                raise RuntimeError("the server is shutting down")
            child, self._standby = self._standby, None
            if child is None or child.proc.poll() is not None:  # none kept, or it died waiting
                if child is not None:
                    child.close()
                child = self._spawn()
            self._proc = child.proc
        return child

    def _run(self, job: Job) -> None:
        child = self._take_child()
        proc = child.proc
        job.pid = proc.pid
        self._persist(job, force=True)
        with contextlib.suppress(BrokenPipeError):  # a child that died is reported below
            proc.stdin.write(json.dumps({"full": job.full}) + "\n")
            proc.stdin.close()
        expired = threading.Event()

        def kill_on_timeout() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(self.settings.rebuild_timeout_s, kill_on_timeout)
        timer.daemon = True
        timer.start()
        result: dict | None = None
        try:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "progress":
                    with self._cond:
                        self._stage(job, event["stage"])
                        if event["stage"] == "parse":
                            job.progress.files_done, job.progress.files_total = event["done"], event["total"]
                        elif event["stage"] == "embed":
                            job.progress.passages_done, job.progress.passages_total = event["done"], event["total"]
                    self._persist(job)
                elif event.get("event") == "result":
                    result = event
            code = proc.wait()
        finally:
            timer.cancel()
            tail = child.stderr_tail()
            child.close()
        job.pid = None
        if result is not None:
            self._apply_report(job, result.get("report") or {})
        if result is None or not result.get("ok"):
            if result is not None and result.get("error"):
                error = result["error"]
            elif code < 0:
                name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
                error = f"the rebuild process was killed ({name})"
                if expired.is_set():
                    error += f" after the {self.settings.rebuild_timeout_s:g} s limit (CLAUSEWISE_REBUILD_TIMEOUT_S)"
            else:
                error = f"the rebuild process exited with status {code}"
            if tail and (result is None or not result.get("error")):
                error += f": {tail.splitlines()[-1]}"
            self._finish(job, "failed", error=f"{error}. The previous index keeps serving.")
            return
        if job.published:
            with self._cond:
                self._stage(job, "switch")
            self._persist(job, force=True)
            try:
                snapshot, _ = self.engine.reload()
            except Exception as exc:
                self._finish(job, "failed", error=(
                    f"the new index was published but could not be loaded ({type(exc).__name__}: {exc}); "
                    "the previous index keeps serving"))
                return
            job.index_version = snapshot.version
        self._finish(job, "succeeded")

    def _stage(self, job: Job, stage: str) -> None:
        """Enter ``stage``, adding the time since the last change to the stage being left."""
        now = time.monotonic()
        since = self._stage_since.get(job.id)
        if since is not None and job.progress.stage not in {"queued", "done"}:
            seconds = job.progress.seconds
            seconds[job.progress.stage] = round(seconds.get(job.progress.stage, 0.0) + now - since, 3)
        self._stage_since[job.id] = now
        if stage == "done":
            self._stage_since.pop(job.id, None)
        job.progress.stage = stage

    def _apply_report(self, job: Job, report: dict) -> None:
        with self._cond:
            for name in ("added", "updated", "removed"):
                setattr(job, name, list(report.get(name, [])))
            ids = report.get("doc_ids", {})
            job.failed = [{"source": s, "doc_id": ids.get(s), "error": why} for s, why in report.get("failed", [])]
            job.warnings = [{"source": s, "warning": why} for s, why in report.get("warnings", [])]
            job.counts = {
                "added": len(job.added), "updated": len(job.updated), "removed": len(job.removed),
                "unchanged": len(report.get("unchanged", [])), "failed": len(job.failed),
            }
            job.published = bool(report.get("published"))
            job.index_version = report.get("index_version")
            job.documents = report.get("documents")
            job.passages = report.get("passages")

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        with self._cond:
            job.state = state
            job.error = error
            job.finished_at = _now()
            job.pid = None
            self._stage(job, "done")
            if state == "failed" and not job.published:
                job.index_version = self.engine.snapshot.version if self.engine.ready else None
        self._persist(job, force=True)
        log.info("rebuild job %s %s%s", job.id, state, f": {error}" if error else "")

    # --- persistence ----------------------------------------------------------------------

    def _persist(self, job: Job, force: bool = False) -> None:
        with self._write_lock:
            now = time.monotonic()
            if not force and now - self._last_write.get(job.id, 0.0) < PROGRESS_WRITE_INTERVAL:
                return
            self._last_write[job.id] = now
            with self._cond:
                data = job.to_dict()
            if data["state"] in {"succeeded", "failed"}:
                self._last_write.pop(job.id, None)
            try:
                self.jobs_dir.mkdir(parents=True, exist_ok=True)
                _write_json(self.jobs_dir / f"{job.id}.json", data)
            except OSError as exc:  # a read-only or full disk must not fail the job itself
                log.warning("cannot record job %s: %s", job.id, exc)

    def _prune_files(self) -> None:
        for path in _newest(self.jobs_dir.glob("*.json"))[KEEP_JOBS:]:
            with contextlib.suppress(OSError):
                path.unlink()


@dataclass
class _Child:
    """A rebuild process and the file its stderr goes to."""

    proc: subprocess.Popen
    stderr: object

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.stderr.seek(0)
            return self.stderr.read()[-2000:].decode("utf-8", "replace").strip()
        return ""

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.close()


def _newest(paths) -> list[Path]:
    """Newest first by modification time; files that vanish meanwhile are left out."""
    stamped = []
    for path in paths:
        with contextlib.suppress(OSError):
            stamped.append((path.stat().st_mtime, path))
    return [path for _, path in sorted(stamped, reverse=True)]


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False))
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (ours counts)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the rebuild process ------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Linux: get SIGTERM when the server dies, so no orphan rebuild outlives its server."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _lowest_cpu_priority() -> None:
    """SCHED_IDLE: run only on CPU time no normal process wants, so that /ask keeps its latency
    (measured in docs/benchmarks.md: nice 10 doubled the p99 of /ask, SCHED_IDLE left it as idle)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        with contextlib.suppress(OSError):
            os.nice(19)


def worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.rebuilds.jobs", description="One rebuild of a served index (internal).")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)

    # The protocol owns the real stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def emit(**event) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    if args.parent_pid:
        _die_with_parent(args.parent_pid)
    _lowest_cpu_priority()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run finally blocks: temp builds are removed

    import numpy as np
    import torch

    from ingest.embedder import Embedder, ModelError
    from ingest.pipeline import NothingToIngest, ingest
    from ingest.settings import Settings
    from ingest.store.index import IndexBusyError, IndexIncompatibleError

    # Line 1 of stdin: the server's settings. Then load everything, and wait for line 2: the job.
    settings = Settings(**json.loads(sys.stdin.readline() or "{}"))
    torch.set_num_threads(settings.rebuild_threads)

    class ReportingEmbedder(Embedder):
        """Embeds in blocks so that the job can show passages done of total."""

        def embed_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
            block = max(64, 2 * self.batch_size)
            parts = []
            emit(event="progress", stage="embed", done=0, total=len(texts))
            for start in range(0, len(texts), block):
                parts.append(super().embed_passages(texts[start: start + block]))
                emit(event="progress", stage="embed", done=min(len(texts), start + block), total=len(texts))
            return np.concatenate(parts) if parts else super().embed_passages([])

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage != "embed":  # the embedder reports finer steps itself
            emit(event="progress", stage=stage, done=done, total=total)

    embedder = ReportingEmbedder(settings.model, settings.embed_batch_size, settings.embed_bf16)
    model_error: ModelError | None = None
    try:
        embedder.warm_up()
    except ModelError as exc:  # reported to the job that comes
        model_error = exc
    emit(event="ready")
    line = sys.stdin.readline()
    if not line:
        return 0  # dismissed: the server stopped before giving a job
    full = bool(json.loads(line).get("full"))
    if model_error is not None:
        emit(event="result", ok=False, error=str(model_error))
        return 2
    # Another writer (the CLI, another worker's rebuild) holds the index: wait as long as a
    # rebuild may run, since that writer may be one.
    deadline = time.monotonic() + settings.rebuild_timeout_s
    while True:
        try:
            report = ingest([args.corpus], settings, index_dir=args.index, rebuild=full, embedder=embedder,
                            progress=on_progress)
            break
        except IndexBusyError as exc:
            if time.monotonic() > deadline:
                emit(event="result", ok=False, error=f"{exc} (waited {settings.rebuild_timeout_s:g} s)")
                return 4
            emit(event="progress", stage="waiting-for-lock", done=0, total=0)
            time.sleep(1.0)
        except FileNotFoundError as exc:  # the corpus folder itself is gone
            emit(event="result", ok=False, error=str(exc))
            return 2
        except NothingToIngest as exc:
            emit(event="result", ok=False, error=str(exc), report=_report_dict(exc.report))
            return 3
        except (IndexIncompatibleError, ModelError) as exc:
            emit(event="result", ok=False, error=str(exc))
            return 2
    emit(event="result", ok=True, report=_report_dict(report))
    return 0


def _report_dict(report) -> dict:
    return asdict(report)


if __name__ == "__main__":
    status = worker_main()
    # Everything is written, fsynced and published, and the lock released: skip the
    # interpreter's teardown of torch & co. (seconds at idle priority) so the job ends now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
