"""A rebuild process as the supervisor sees it, and the real one: ``python -m service.rebuilds.worker``.

The supervisor only needs what :class:`ChildProcess` declares — send protocol lines, read them,
wait, stop — and gets its children from a :data:`Spawn` callable. :func:`worker_spawner` makes
the real one (a :class:`PopenChild`); tests pass a scripted child that speaks the protocol.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Protocol

from service.rebuilds.protocol import Message, decode, encode

WORKER_MODULE = "service.rebuilds.worker"


class ChildProcess(Protocol):
    """One rebuild process, started and waiting for protocol lines on its input."""

    @property
    def pid(self) -> int: ...

    def send(self, message: Message, last: bool = False) -> None:
        """Write one line; ``last`` closes the input after it. A child that died is not an
        error here (what it said, or its exit status, tells why)."""

    def messages(self) -> Iterator[Message]:
        """Its output, decoded, until it closes it; lines that are not messages are skipped."""

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def stderr_tail(self) -> str:
        """The end of what it wrote on stderr (a traceback, when it crashed)."""

    def close(self) -> None:
        """Release its pipes and files (the process itself is stopped with terminate or kill)."""


Spawn = Callable[[], ChildProcess]
"""Starts a rebuild process (called on the supervisor's runner thread)."""


class PopenChild:
    """A :class:`ChildProcess` over :class:`subprocess.Popen` with pipes, stderr to a file."""

    def __init__(self, proc: subprocess.Popen[str], stderr: IO[bytes]) -> None:
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("a rebuild process needs pipes on its stdin and stdout")
        self.proc = proc
        self._stdin: IO[str] = proc.stdin
        self._stdout: IO[str] = proc.stdout
        self._stderr = stderr

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: Message, last: bool = False) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self._stdin.write(encode(message) + "\n")
            self._stdin.flush()
            if last:
                self._stdin.close()

    def messages(self) -> Iterator[Message]:
        for line in self._stdout:
            message = decode(line)
            if message is not None:
                yield message

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            return self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        return ""

    def close(self) -> None:
        for stream in (self._stdin, self._stdout, self._stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def worker_spawner(index_dir: Path, corpus_dir: Path, threads: int) -> Spawn:
    """The real spawn: ``python -m service.rebuilds.worker`` on this index and corpus folder,
    with ``threads`` torch/OpenMP threads, dying with this process."""

    def spawn() -> ChildProcess:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "TOKENIZERS_PARALLELISM": "false",
        }
        command = [
            sys.executable,
            "-m",
            WORKER_MODULE,
            "--index",
            str(index_dir),
            "--corpus",
            str(corpus_dir),
            "--parent-pid",
            str(os.getpid()),
        ]
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 — lives as long as the child; closed by close()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
            bufsize=1,
        )
        return PopenChild(proc, stderr)

    return spawn
