"""A real `clausewise serve` subprocess on a free loopback port, and the index it starts on:
what the live-rebuild and the replica tests share."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from hermetic import clausewise_command, clean_env

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
JOB_TIMEOUT = 300.0
START_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`clausewise serve` in its own process group (the rebuild children join it)."""

    def __init__(self, root: Path, *, name: str = "server", **env: str) -> None:
        """``name``: of the log file in ``root`` (several servers may share one index)."""
        self.root = root
        self.index = root / "index"
        self.corpus = root / "corpus"
        self.env = clean_env(CLAUSEWISE_WRITE_KEYS=KEY, CLAUSEWISE_RELOAD_INTERVAL_S="0.5", **env)
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = root / f"{name}.log"

    def start(self) -> Server:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *clausewise_command(),
                    "serve",
                    "--index",
                    str(self.index),
                    "--corpus",
                    str(self.corpus),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server not ready in {START_TIMEOUT} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    # HTTP helpers
    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=60, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=60, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return httpx.delete(f"{self.url}{path}", timeout=60, **kw)

    def version(self) -> str:
        return self.get("/readyz").json()["index_version"]

    def upload(self, *files: tuple[str, bytes], folder: str | None = None, headers=AUTH) -> httpx.Response:
        data = {"folder": folder} if folder is not None else None
        return self.post("/documents", files=[("files", f) for f in files], data=data, headers=headers)

    def ask(self, question: str, top_k: int = 3) -> dict:
        response = self.post("/ask", json={"question": question, "top_k": top_k})
        assert response.status_code == 200, response.text
        return response.json()

    def wait_job(self, job_id: str, until: Callable[[dict], bool] | None = None, timeout: float = JOB_TIMEOUT) -> dict:
        custom = until is not None
        until = until or (lambda job: job["state"] in {"succeeded", "failed"})
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/jobs/{job_id}", headers=AUTH)  # a write key sees pids and errors
            assert response.status_code == 200, response.text
            job = response.json()
            if until(job):
                return job
            assert not (custom and job["state"] in {"succeeded", "failed"}), f"job ended early: {job}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s: {job}")
            time.sleep(0.1)


def build_index(root: Path, embedder, files: dict[str, str | bytes]) -> None:
    """The initial index, built in-process with the session's model (no extra model load)."""
    from ingest.pipeline import ingest
    from ingest.settings import Settings

    corpus = root / "corpus"
    for name, content in files.items():
        path = corpus / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    settings = Settings(_env_file=None, index_dir=root / "index", corpus_dir=corpus)
    ingest([corpus], settings, index_dir=root / "index", embedder=embedder)


def cited_sources(answer: dict) -> list[str]:
    return [p["citation"]["source"] for p in answer["passages"]]
