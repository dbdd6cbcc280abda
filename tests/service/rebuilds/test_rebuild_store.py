"""Job files: written atomically, read by id, pruned, and recovered after a server died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.settings import Settings
from service.rebuilds.model import Job
from service.rebuilds.store import JobStore
from service.rebuilds.supervisor import Supervisor

pytestmark = pytest.mark.usefixtures("hermetic")


def dead_pid() -> int:
    return int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )


class _Engine:
    ready = False


def test_jobs_left_running_by_a_dead_server_are_marked_failed(tmp_path: Path) -> None:
    jobs_dir = tmp_path / "index" / ".jobs"
    jobs_dir.mkdir(parents=True)
    stale = {
        "id": "0123456789abcdef",
        "state": "running",
        "server_pid": dead_pid(),
        "pid": 4242,
        "progress": {"stage": "embed"},
    }
    mine = {"id": "fedcba9876543210", "state": "running", "server_pid": os.getpid(), "progress": {"stage": "embed"}}
    for job in (stale, mine):
        (jobs_dir / f"{job['id']}.json").write_text(json.dumps(job))
    (jobs_dir / "garbage.json").write_text("{not json")
    manager = Supervisor(Settings(_env_file=None), _Engine(), tmp_path / "corpus", tmp_path / "index", spawn=None)
    manager.recover()
    recovered = manager.get("0123456789abcdef")
    assert recovered["state"] == "failed" and "interrupted" in recovered["error"] and recovered["pid"] is None
    assert recovered["progress"]["stage"] == "done" and recovered["finished_at"]
    assert "(None)" in recovered["error"]  # the engine serves nothing yet
    assert manager.get("fedcba9876543210")["state"] == "running"  # its server is alive
    assert manager.get("../../etc/passwd") is None and manager.get("nope") is None


def test_a_store_writes_reads_throttles_and_prunes(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "index", keep=3)
    assert store.load("0123456789abcdef") is None and store.recent(5) == []
    store.recover("v1")  # no folder yet: nothing to do
    job = Job(id="0123456789abcdef", full=False, reasons=["rebuild"])
    store.save(job.id, job.to_dict, force=True)
    assert store.load(job.id) == job.to_dict()
    job.progress.stage = "parse"
    store.save(job.id, job.to_dict)  # progress right after a write: skipped
    assert store.load(job.id)["progress"]["stage"] == "queued"
    job.state = "failed"
    store.save(job.id, job.to_dict, force=True)
    assert store.load(job.id)["state"] == "failed"
    for n in range(5):
        other = Job(id=f"{n:016x}", full=False, reasons=["rebuild"])
        store.save(other.id, other.to_dict, force=True)
        os.utime(store.folder / f"{other.id}.json", (1000 + n, 1000 + n))
    store.prune()
    assert sorted(p.stem for p in store.folder.glob("*.json")) == sorted([job.id, f"{3:016x}", f"{4:016x}"])
    assert {d["id"] for d in store.recent(2)} == {job.id, f"{4:016x}"}
    assert not list(store.folder.glob(".*.tmp"))
