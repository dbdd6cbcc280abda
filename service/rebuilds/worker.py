"""The rebuild process: ``python -m service.rebuilds.worker`` (internal: the supervisor starts it).

It calls the same incremental :func:`ingest.pipeline.ingest` as ``clausewise ingest`` on the
corpus folder, at idle CPU priority with ``rebuild_threads`` torch/OpenMP threads, and speaks
the line protocol of :mod:`service.rebuilds.protocol`: settings in, then (once the model is
loaded) ``ready`` out, then the job in, progress and one report or error out. Its exit status
is an :class:`~ingest.errors.ExitCode`. Embedding in a child keeps the GIL and torch's thread
pool away from the serving path, and a crash or a SIGKILL of the child cannot take the server
down: the index is published with one rename, so a dead child leaves the last good build current.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.errors import ClausewiseError, ExitCode, IndexBusyError, ModelError, NothingToIngest
from service.rebuilds.process import die_with_parent, lowest_cpu_priority
from service.rebuilds.protocol import (
    BuildReport,
    ErrorEvent,
    JobLine,
    Message,
    ProgressEvent,
    ReadyEvent,
    ReportEvent,
    SettingsLine,
    decode,
    encode,
)

if TYPE_CHECKING:
    from ingest.embedder import Embedder
    from ingest.settings import Settings

Emit = Callable[[Message], None]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m service.rebuilds.worker", description="One rebuild of a served index (internal)."
    )
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    return parser.parse_args(argv)


def _protocol_output() -> Emit:
    """The protocol owns the real stdout; anything a library prints goes to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def emit(message: Message) -> None:
        out.write(encode(message) + "\n")
        out.flush()

    return emit


def _reporting_embedder(settings: Settings, emit: Emit) -> Embedder:
    """The configured model, embedding in blocks so that the job shows passages done of total."""
    import numpy as np

    from ingest.embedder import Embedder

    class ReportingEmbedder(Embedder):
        def embed_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
            block = max(64, 2 * self.batch_size)
            parts = []
            emit(ProgressEvent("embed", 0, len(texts)))
            for start in range(0, len(texts), block):
                parts.append(super().embed_passages(texts[start : start + block]))
                emit(ProgressEvent("embed", min(len(texts), start + block), len(texts)))
            return np.concatenate(parts) if parts else super().embed_passages([])

    return ReportingEmbedder(settings.model, settings.embed_batch_size, settings.embed_bf16)


def _rebuild(args: argparse.Namespace, settings: Settings, embedder: Embedder, full: bool, emit: Emit) -> ExitCode:
    """Run the ingestion; say how it ended. Another writer (the CLI, another worker's rebuild)
    holding the index is waited for as long as a rebuild may run, since that writer may be one."""
    from ingest.pipeline import ingest

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage != "embed":  # the embedder reports finer steps itself
            emit(ProgressEvent(stage, done, total))

    deadline = time.monotonic() + settings.rebuild_timeout_s
    while True:
        try:
            report: Any = ingest(
                [args.corpus],
                settings,
                index_dir=args.index,
                rebuild=full,
                embedder=embedder,
                progress=on_progress,
                retry_failed=full,  # a full rebuild parses every file again, those that failed too
            )
        except IndexBusyError as exc:
            if time.monotonic() > deadline:
                emit(ErrorEvent(f"{exc} (waited {settings.rebuild_timeout_s:g} s)"))
                return ExitCode.BUSY
            emit(ProgressEvent("waiting-for-lock", 0, 0))
            time.sleep(1.0)
            continue
        except NothingToIngest as exc:
            found = getattr(exc, "report", None)
            emit(ErrorEvent(str(exc), BuildReport.of(found) if found is not None else None))
            return exc.exit_code
        except ClausewiseError as exc:  # an incompatible index, a model that cannot load, ...
            emit(ErrorEvent(str(exc)))
            return exc.exit_code
        except FileNotFoundError as exc:  # the corpus folder itself is gone
            emit(ErrorEvent(str(exc)))
            return ExitCode.USAGE
        emit(ReportEvent(BuildReport.of(report)))
        return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    emit = _protocol_output()
    if args.parent_pid:
        die_with_parent(args.parent_pid)
    lowest_cpu_priority()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run finally blocks: temp builds are removed

    import torch

    from ingest.settings import Settings

    # Line 1 of stdin: the server's settings. Then load everything, and wait for line 2: the job.
    line = sys.stdin.readline()
    first = decode(line) if line.strip() else SettingsLine()
    if not isinstance(first, SettingsLine):
        print(f"error: the first line is not the settings: {line[:200]!r}", file=sys.stderr)
        return ExitCode.USAGE
    settings = Settings(**first.settings)
    torch.set_num_threads(settings.rebuild_threads)
    embedder = _reporting_embedder(settings, emit)
    model_error: ModelError | None = None
    try:
        embedder.warm_up()
    except ModelError as exc:  # reported to the job that comes
        model_error = exc
    emit(ReadyEvent())
    line = sys.stdin.readline()
    if not line:
        return ExitCode.OK  # dismissed: the server stopped before giving a job
    job = decode(line)
    if not isinstance(job, JobLine):
        emit(ErrorEvent(f"the rebuild process got {line[:200]!r} instead of a job"))
        return ExitCode.USAGE
    if model_error is not None:
        emit(ErrorEvent(str(model_error)))
        return model_error.exit_code
    return _rebuild(args, settings, embedder, job.full, emit)


if __name__ == "__main__":
    status = main()
    # Everything is written, fsynced and published, and the lock released: skip the
    # interpreter's teardown of torch & co. (seconds at idle priority) so the job ends now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))
