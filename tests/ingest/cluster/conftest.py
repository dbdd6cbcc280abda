"""A real Dask cluster on 127.0.0.1 for the module that asks for it: `dask scheduler` and two
`dask worker --nworkers 1 --nthreads 1` processes started as an operator would, stopped at
teardown. Each worker loads the model when first probed (seconds), so the tests share one.
The workers import this checkout's code: its root leads their ``PYTHONPATH``.

When this process may (root and `unshare`), the workers run in their own mount namespace with
an empty tmpfs over ``Cluster.hidden``: a folder the coordinator sees and the workers do not,
as on machines that share no filesystem.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip(
    "distributed", reason="the Dask tests need distributed: pip install 'dask[distributed]' (or `make install`)"
)
from distributed import Client
from hermetic import clean_env

WORKERS = 2
ROOT = Path(__file__).resolve().parents[3]  # the checkout under test
START_S = 120


@dataclass
class Cluster:
    address: str
    hidden: Path | None  # a folder the workers cannot see, or None where it cannot be arranged
    processes: list[subprocess.Popen]

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address and the pid of its worker process (the nanny's child)."""
        with Client(self.address, set_as_default=False) as client:
            return client.run(os.getpid)

    def wait_for_workers(self, count: int = WORKERS) -> None:
        with Client(self.address, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=START_S)


def _can_hide() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _wait_for_file(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_S
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Dask scheduler did not start (exit {process.poll()})")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """The process's whole group: the nanny, its worker, the worker's parse processes."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("dask")
    hidden = base / "hidden" if _can_hide() else None
    if hidden is not None:
        hidden.mkdir()
    scheduler_file = base / "scheduler.json"
    # Dask's nanny starts daemonic workers by default, and a daemonic process may not start
    # the parse processes: the README's deployment sets the same variable.
    # No CLAUSEWISE_* setting of the developer's shell reaches the workers (tests/hermetic.py).
    env = clean_env(DASK_DISTRIBUTED__WORKER__DAEMON="False")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    logs = open(base / "cluster.log", "w")  # noqa: SIM115 — closed at teardown
    run = {"env": env, "stdout": logs, "stderr": subprocess.STDOUT, "start_new_session": True, "cwd": base}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0"]
        + ["--no-dashboard", "--scheduler-file", str(scheduler_file)],
        **run,
    )
    processes = [scheduler]
    try:
        _wait_for_file(scheduler_file, scheduler)
        worker = [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file)]
        worker += ["--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"]
        worker += ["--local-directory", str(base / "scratch")]
        if hidden is not None:
            hide = 'mount -t tmpfs none "$0" && exec "$@"'
            worker = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, str(hidden), *worker]
        processes += [subprocess.Popen(worker, **run) for _ in range(WORKERS)]
        address = json.loads(scheduler_file.read_text())["address"]
        started = Cluster(address, hidden, processes)
        started.wait_for_workers()
        yield started
    finally:
        for process in reversed(processes):
            _stop(process)
        logs.close()
