"""The rebuild job: what a client polls at ``GET /jobs/{id}``, and what ``<index>/.jobs/<id>.json``
holds. One pydantic model serves as the record the supervisor updates, the file it writes and
the response schema of the HTTP routes, so the three cannot drift apart.

A job is ``queued``, then ``running``, then ``succeeded`` or ``failed``; while it runs, its
:class:`Progress` moves through the stages ``starting``, ``waiting-for-lock``, ``parse``,
``embed``, ``write``, ``switch`` and ends at ``done``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pydantic import BaseModel, Field, PrivateAttr

from service.rebuilds.protocol import BuildReport

STATES = ("queued", "running", "succeeded", "failed")
ENDED = frozenset({"succeeded", "failed"})
STAGES = ("queued", "starting", "waiting-for-lock", "parse", "embed", "write", "switch", "done")
_UNTIMED = frozenset({"queued", "done"})  # stages whose time is not counted


def now() -> str:
    """A timestamp as jobs record them: UTC, ISO 8601, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(("added", "updated", "removed", "unchanged", "failed", "failed_unchanged"), 0)


class Progress(BaseModel):
    stage: str = Field(default="queued", description=", ".join(STAGES))
    files_done: int = 0
    files_total: int = Field(default=0, description="New or changed files to parse.")
    passages_done: int = 0
    passages_total: int = Field(default=0, description="Passages to embed.")
    seconds: dict[str, float] = Field(default_factory=dict, description="Time spent in each stage so far.")
    _since: float | None = PrivateAttr(None)  # monotonic time the current stage was entered

    def enter(self, stage: str, at: float) -> None:
        """Enter ``stage`` at monotonic time ``at``, adding the time since the last change to the
        stage being left."""
        if self._since is not None and self.stage not in _UNTIMED:
            self.seconds[self.stage] = round(self.seconds.get(self.stage, 0.0) + at - self._since, 3)
        self._since = None if stage == "done" else at
        self.stage = stage

    def advance(self, stage: str, done: int, total: int) -> None:
        """Record ``done`` of ``total`` for the stages that count files or passages."""
        if stage == "parse":
            self.files_done, self.files_total = done, total
        elif stage == "embed":
            self.passages_done, self.passages_total = done, total


class FileError(BaseModel):
    source: str
    doc_id: str | None = Field(description="Pass to DELETE /documents/{doc_id} to remove the file.")
    error: str


class FileWarning(BaseModel):
    source: str
    warning: str


class Job(BaseModel):
    id: str
    full: bool
    reasons: list[str] = Field(description="The requests this job serves (later ones join a queued job).")
    state: str = Field(default="queued", description="queued, running, succeeded or failed")
    created_at: str = Field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    progress: Progress = Field(default_factory=Progress)
    counts: dict[str, int] = Field(
        default_factory=_zero_counts, description="added, updated, removed, unchanged, failed, failed_unchanged"
    )
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    failed: list[FileError] = Field(default_factory=list)
    failed_unchanged: list[FileError] = Field(
        default_factory=list,
        description="Files that failed before with the same bytes: not parsed again until they change "
        'or a full rebuild (`{"full": true}`) retries them.',
    )
    warnings: list[FileWarning] = Field(
        default_factory=list, description="Files indexed with a caveat (e.g. unreadable pages left out)."
    )
    error: str | None = Field(
        default=None,
        description="Why the job failed (with a write key; others read only that it failed). "
        "The previous index keeps serving.",
    )
    published: bool = Field(
        default=False, description="Whether a new build was published (false when nothing changed)."
    )
    previous_version: str | None = None
    index_version: str | None = Field(default=None, description="The index serving once the job finished.")
    documents: int | None = None
    passages: int | None = None
    pid: int | None = Field(default=None, description="The rebuild process, while it runs (with a write key).")
    server_pid: int | None = Field(default_factory=os.getpid, description="The server process (with a write key).")

    def to_dict(self) -> dict:
        """The job as JSON-ready data (what is written to its file and returned by the routes)."""
        return self.model_dump()

    def apply(self, report: BuildReport) -> None:
        """Take over what a rebuild did."""
        self.added, self.updated, self.removed = list(report.added), list(report.updated), list(report.removed)
        self.failed = [FileError(source=s, doc_id=report.doc_ids.get(s), error=why) for s, why in report.failed]
        self.failed_unchanged = [
            FileError(source=s, doc_id=report.doc_ids.get(s), error=why) for s, why in report.failed_unchanged
        ]
        self.warnings = [FileWarning(source=s, warning=why) for s, why in report.warnings]
        self.counts = {
            "added": len(self.added),
            "updated": len(self.updated),
            "removed": len(self.removed),
            "unchanged": len(report.unchanged),
            "failed": len(self.failed),
            "failed_unchanged": len(self.failed_unchanged),
        }
        self.published = report.published
        self.index_version = report.index_version
        self.documents = report.documents
        self.passages = report.passages
