"""Progress bars of `clausewise ingest`: one bar per stage a run reports (``parse``, ``embed``,
``write``, and on a Dask cluster ``worker ADDRESS``, the files each worker has done). A stage
reported with a total of 0 has none: it shows a count (workers share the run as they go)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class ProgressBars:
    """A :data:`~ingest.pipeline.Progress` callback drawing rich bars while the block runs."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self.bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.bars.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        known = total or None
        if stage not in self.tasks:
            self.tasks[stage] = self.bars.add_task(stage, total=known)
        self.bars.update(self.tasks[stage], completed=done, total=known)
