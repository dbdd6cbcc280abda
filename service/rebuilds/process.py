"""Operating-system process helpers shared by the server and the rebuild process."""

from __future__ import annotations

import contextlib
import os
import signal


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


def die_with_parent(parent_pid: int) -> None:
    """Linux: get SIGTERM when the server dies, so no orphan rebuild outlives its server."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def lowest_cpu_priority() -> None:
    """SCHED_IDLE: run only on CPU time no normal process wants, so that /ask keeps its latency
    (measured in docs/benchmarks.md: nice 10 doubled the p99 of /ask, SCHED_IDLE left it as idle)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        with contextlib.suppress(OSError):
            os.nice(19)


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; the number itself for a signal Python does not know."""
    return signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
