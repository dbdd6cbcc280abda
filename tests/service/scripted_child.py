"""A rebuild process played by a thread, for the supervisor's fast tests.

It is not a mock of the supervisor's collaborators: the real :class:`Supervisor` drives it
through the :class:`~service.rebuilds.child.ChildProcess` interface, and it speaks the real
protocol — it decodes the settings and job lines the supervisor encodes, and encodes its
events for the supervisor to decode. What it does with a job is a *script*: a function
``script(child, job) -> exit status`` that emits events (and may wait on events of the test).
The live-server tests cover the real ``python -m service.rebuilds.worker``.
"""

from __future__ import annotations

import itertools
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

from ingest.errors import ExitCode
from service.rebuilds.protocol import (
    BuildReport,
    JobLine,
    Message,
    ReadyEvent,
    ReportEvent,
    SettingsLine,
    decode,
    encode,
)

Script = Callable[["ScriptedChild", JobLine], int]
_pids = itertools.count(70_001)


def succeed(child: ScriptedChild, job: JobLine) -> int:
    """The default script: an incremental rebuild that found nothing to change."""
    child.emit(ReportEvent(BuildReport(unchanged=["a.txt"], index_version="v1", documents=1, passages=3)))
    return ExitCode.OK


class ScriptedChild:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.pid = next(_pids)
        self.settings: SettingsLine | None = None
        self.job: JobLine | None = None
        self.stderr = ""
        self.returncode: int | None = None
        self.closed = False
        self._input: queue.Queue[str | None] = queue.Queue()
        self._output: queue.Queue[str | None] = queue.Queue()
        self._ended = threading.Event()
        threading.Thread(target=self._play, daemon=True).start()

    # --- the process side ----------------------------------------------------------------

    def _play(self) -> None:
        first = self._input.get()
        settings = decode(first) if first is not None else None
        if not isinstance(settings, SettingsLine):
            return self._exit(ExitCode.USAGE)
        self.settings = settings
        self.emit(ReadyEvent())
        line = self._input.get()
        if line is None:
            return self._exit(ExitCode.OK)  # dismissed
        job = decode(line)
        assert isinstance(job, JobLine), line
        self.job = job
        self._exit(int(self.script(self, job)))

    def emit(self, message: Message) -> None:
        if self.returncode is None:
            self._output.put(encode(message) + "\n")

    def _exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._output.put(None)
            self._ended.set()

    def killed(self) -> bool:
        return self.returncode is not None and self.returncode < 0

    def hold(self, gate: threading.Event) -> bool:
        """Wait until the test opens ``gate`` (true) or the child is killed (false)."""
        while not gate.wait(0.01):
            if self.killed():
                return False
        return True

    # --- what the supervisor sees --------------------------------------------------------

    def send(self, message: Message, last: bool = False) -> None:
        self._input.put(encode(message) + "\n")
        if last:
            self._input.put(None)

    def messages(self) -> Iterator[Message]:
        while (line := self._output.get()) is not None:
            message = decode(line)
            if message is not None:
                yield message

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("scripted child", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self._exit(-15)
        self._input.put(None)

    def kill(self) -> None:
        self._exit(-9)
        self._input.put(None)

    def stderr_tail(self) -> str:
        return self.stderr

    def close(self) -> None:
        self.closed = True


class ScriptedSpawn:
    """The supervisor's ``spawn``: each call starts a child playing the next script queued
    with :meth:`then` (``succeed`` when none is), and records it."""

    def __init__(self) -> None:
        self.children: list[ScriptedChild] = []
        self._scripts: list[Script] = []
        self._lock = threading.Lock()

    def then(self, *scripts: Script) -> ScriptedSpawn:
        with self._lock:
            self._scripts.extend(scripts)
        return self

    def __call__(self) -> ScriptedChild:
        with self._lock:
            script = self._scripts.pop(0) if self._scripts else succeed
            child = ScriptedChild(script)
            self.children.append(child)
        return child


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.005)
