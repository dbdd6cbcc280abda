"""Shared helpers of the benchmark scripts: subprocess timing, servers on loopback, result blocks."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CLAUSEWISE = str(Path(sys.executable).with_name("clausewise"))
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def descendants(pid: int) -> list[int]:
    """``pid``'s children and theirs, from /proc/PID/task/*/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                kids = [int(k) for k in children.read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _high_water_kib(pid: int) -> int:
    """VmHWM of ``pid``: its own peak RSS since its exec (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def run_measured(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return wall seconds, the peak RSS in MiB of its largest process (itself or
    a worker it started), and its output.

    The peak is VmHWM polled every 10 ms, not ``wait4``'s ``ru_maxrss``: a child's
    ``ru_maxrss`` starts from its parent's RSS at the fork (Linux keeps it across exec), so a
    child of a benchmark holding gigabytes reports gigabytes whatever it used itself."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd)
        peaks: dict[int, int] = {}
        while proc.poll() is None:
            for pid in [proc.pid, *descendants(proc.pid)]:
                peaks[pid] = max(peaks.get(pid, 0), _high_water_kib(pid))
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        out.seek(0)
        output = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return elapsed, max(peaks.values(), default=0) // 1024, output


def questions() -> list[str]:
    """The shared question sets' questions, as a realistic stream of /ask requests."""
    items = []
    for name in ("treaties-dev.jsonl", "policies-dev.jsonl"):
        path = SHARED / "qa" / name
        if path.exists():
            items += [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    return items or ["Can a state send a refugee back to a country where they face persecution?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class Served:
    """A running `clausewise serve`: its URL, the process, and seconds from launch to ready."""

    url: str
    proc: subprocess.Popen
    ready_s: float


def stop_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM to a server started in a session of its own, SIGKILL after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def serving(
    index: Path,
    workers: int = 1,
    extra_env: dict | None = None,
    args: list[str] | None = None,
    checkout: Path | None = None,
) -> Iterator[Served]:
    """A `clausewise serve` on a free loopback port, stopped on exit; with ``checkout``, that
    checkout's code run by this venv (``PYTHONPATH`` takes precedence over the editable install)."""
    port = free_port()
    started = time.perf_counter()
    command = [sys.executable, "-m", "service.cli"] if checkout else [CLAUSEWISE]
    if checkout:
        extra_env = {**(extra_env or {}), "PYTHONPATH": str(checkout)}
    proc = subprocess.Popen(
        [
            *command,
            "serve",
            "--index",
            str(index),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            *(args or []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(extra_env or {})},
        cwd=checkout,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise TimeoutError("server did not become ready")
            time.sleep(0.05)
        yield Served(url, proc, time.perf_counter() - started)
    finally:
        stop_group(proc)


@contextlib.contextmanager
def server(
    index: Path, workers: int = 1, extra_env: dict | None = None, args: list[str] | None = None
) -> Iterator[str]:
    """The URL of a :func:`serving` server."""
    with serving(index, workers, extra_env, args) as served:
        yield served.url


def write_block(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- bench:NAME -->`` markers, leaving hand-written text alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + f"\n\n{block}\n"
    path.write_text(text)


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def dump_json(name: str, data) -> None:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=2))
