"""What the server and a rebuild process (``python -m service.rebuilds.worker``) say to each other.

One JSON object per line, ``{"type": <kind>, ...fields}``; every message is a dataclass below
and :func:`encode` / :func:`decode` are the only code that reads or writes the wire.

Server → child, on the child's stdin:

1. :class:`SettingsLine` — the settings to run with, written right after the child starts; it
   then loads Python, torch and the model and says :class:`ReadyEvent`.
2. :class:`JobLine` — the job, written when one is due (perhaps much later: a prewarmed child
   waits). End of input instead means "dismissed": the child exits with ``ExitCode.OK``.

Child → server, on its stdout: :class:`ReadyEvent`, any number of :class:`ProgressEvent`,
then exactly one :class:`ReportEvent` (the build succeeded or there was nothing to change) or
:class:`ErrorEvent` (why the rebuild failed). The child's exit status is an
:class:`~ingest.errors.ExitCode`; a status without a last event means it died (killed, crashed).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass
class BuildReport:
    """What a rebuild did: the part of :class:`ingest.changes.IngestReport` a job shows."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    # Failed before with the same bytes: not parsed again until changed (a full rebuild retries).
    failed_unchanged: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (source, caveat)
    doc_ids: dict[str, str] = field(default_factory=dict)  # source → doc_id, failed files included
    published: bool = False
    index_version: str | None = None
    documents: int | None = None
    passages: int | None = None

    @classmethod
    def of(cls, report: Any) -> BuildReport:
        """From an :class:`~ingest.changes.IngestReport` (or anything with its attributes)."""
        names = cls.__dataclass_fields__
        return cls.from_wire({name: getattr(report, name) for name in names if hasattr(report, name)})

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> BuildReport:
        return cls(
            added=[str(s) for s in data.get("added", [])],
            updated=[str(s) for s in data.get("updated", [])],
            removed=[str(s) for s in data.get("removed", [])],
            unchanged=[str(s) for s in data.get("unchanged", [])],
            failed=[(str(s), str(why)) for s, why in data.get("failed", [])],
            failed_unchanged=[(str(s), str(why)) for s, why in data.get("failed_unchanged", [])],
            warnings=[(str(s), str(why)) for s, why in data.get("warnings", [])],
            doc_ids={str(k): str(v) for k, v in (data.get("doc_ids") or {}).items()},
            published=bool(data.get("published")),
            index_version=data.get("index_version"),
            documents=data.get("documents"),
            passages=data.get("passages"),
        )


@dataclass(frozen=True)
class Message:
    """Base of every message; ``kind`` is its ``type`` on the wire."""

    kind: ClassVar[str]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        return cls(**data)


@dataclass(frozen=True)
class SettingsLine(Message):
    """The server's settings (``Settings.model_dump(mode="json")`` without the API keys)."""

    kind: ClassVar[str] = "settings"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobLine(Message):
    """Run one rebuild: incremental, or from scratch with ``full``."""

    kind: ClassVar[str] = "job"
    full: bool = False

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> JobLine:
        return cls(full=bool(data.get("full", False)))


@dataclass(frozen=True)
class ReadyEvent(Message):
    """Everything is loaded; the child waits for its :class:`JobLine`."""

    kind: ClassVar[str] = "ready"


@dataclass(frozen=True)
class ProgressEvent(Message):
    """``done`` of ``total`` in ``stage`` (``waiting-for-lock``, ``parse``, ``embed``, ``write``)."""

    kind: ClassVar[str] = "progress"
    stage: str
    done: int = 0
    total: int = 0

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ProgressEvent:
        return cls(stage=str(data["stage"]), done=int(data.get("done", 0)), total=int(data.get("total", 0)))


@dataclass(frozen=True)
class ReportEvent(Message):
    """The rebuild ended well: published a build, or found nothing to change."""

    kind: ClassVar[str] = "report"
    report: BuildReport

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ReportEvent:
        return cls(report=BuildReport.from_wire(data["report"]))


@dataclass(frozen=True)
class ErrorEvent(Message):
    """The rebuild failed; ``error`` says why, ``report`` what it found when it has one."""

    kind: ClassVar[str] = "error"
    error: str
    report: BuildReport | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ErrorEvent:
        report = data.get("report")
        return cls(error=str(data["error"]), report=BuildReport.from_wire(report) if report is not None else None)


_KINDS: dict[str, type[Message]] = {
    cls.kind: cls for cls in (SettingsLine, JobLine, ReadyEvent, ProgressEvent, ReportEvent, ErrorEvent)
}


def encode(message: Message) -> str:
    """One line of the wire (without its newline)."""
    return json.dumps({"type": message.kind, **asdict(message)}, ensure_ascii=False)


def decode(line: str) -> Message | None:
    """The message on one line, or ``None`` when the line is not one (blank, not JSON, of an
    unknown type or with the wrong fields): the reader skips it."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind = data.pop("type", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:
        return cls.from_wire(data)
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
