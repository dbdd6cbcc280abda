"""Where jobs are recorded: ``<index>/.jobs/<id>.json``, one file per job, the latest 200.

Files are written atomically (a temporary file, then ``os.replace``), so ``GET /jobs/{id}``
answers from any worker process and after a restart. A job that a server left ``queued`` or
``running`` when it died is marked failed (``interrupted``) by :meth:`JobStore.recover`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from service.rebuilds.model import ENDED, now
from service.rebuilds.process import pid_alive

log = logging.getLogger("clausewise.jobs")

JOBS_DIR = ".jobs"
KEEP_JOBS = 200
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
PROGRESS_WRITE_INTERVAL = 0.5  # seconds between two writes of a job's progress


class JobStore:
    """The job files of one index."""

    def __init__(self, index_dir: Path, keep: int = KEEP_JOBS) -> None:
        self.folder = index_dir / JOBS_DIR
        self.keep = keep
        self._lock = threading.Lock()  # job files are written in the order of the states
        self._last_write: dict[str, float] = {}

    def save(self, job_id: str, take: Callable[[], dict], force: bool = False) -> None:
        """Write the job that ``take()`` returns, unless its progress was written less than
        :data:`PROGRESS_WRITE_INTERVAL` ago (``force`` writes anyway). ``take`` is called under
        the write lock, so the files follow the order of the job's states."""
        with self._lock:
            at = time.monotonic()
            if not force and at - self._last_write.get(job_id, 0.0) < PROGRESS_WRITE_INTERVAL:
                return
            self._last_write[job_id] = at
            data = take()
            if data["state"] in ENDED:
                self._last_write.pop(job_id, None)
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                _write_json(self.folder / f"{job_id}.json", data)
            except OSError as exc:  # a read-only or full disk must not fail the job itself
                log.warning("cannot record job %s: %s", job_id, exc)

    def load(self, job_id: str) -> dict | None:
        """The recorded job, or ``None`` (unknown, unreadable, or not a job id at all)."""
        if not JOB_ID.match(job_id):
            return None
        try:
            return json.loads((self.folder / f"{job_id}.json").read_text())
        except (OSError, ValueError):
            return None

    def recent(self, limit: int) -> list[dict]:
        """The jobs of the ``limit`` most recently written files, in no particular order."""
        found = []
        for path in _newest(self.folder.glob("*.json"))[:limit]:
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
        return found

    def prune(self) -> None:
        """Keep the files of the latest :attr:`keep` jobs."""
        for path in _newest(self.folder.glob("*.json"))[self.keep :]:
            with contextlib.suppress(OSError):
                path.unlink()

    def recover(self, serving: str | None) -> None:
        """Mark jobs that a dead server left queued or running as failed; ``serving`` is the
        index version serving now."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if data.get("state") in {"queued", "running"} and not pid_alive(int(data.get("server_pid") or 0)):
                data.update(
                    state="failed",
                    finished_at=now(),
                    pid=None,
                    error=(
                        f"interrupted: the server (pid {data.get('server_pid')}) stopped before this job finished. "
                        f"The index serving now is the last one published ({serving}); POST /index/rebuild to try again."
                    ),
                )
                data.setdefault("progress", {})["stage"] = "done"
                _write_json(path, data)


def _newest(paths: Iterable[Path]) -> list[Path]:
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
