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
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CLAUSEWISE = str(Path(sys.executable).with_name("clausewise"))
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return wall seconds, the child's peak RSS in MiB, and its stderr."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, text=True
    )
    stdout, stderr = "", ""
    # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stdout = proc.stdout.read() if proc.stdout else ""
    stderr = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return elapsed, usage.ru_maxrss // 1024, stdout + stderr


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


@contextlib.contextmanager
def serving(
    index: Path, workers: int = 1, extra_env: dict | None = None, args: list[str] | None = None
) -> Iterator[Served]:
    """A `clausewise serve` on a free loopback port, stopped on exit."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            CLAUSEWISE,
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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


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
