"""The line protocol between the server and a rebuild process: every message survives the
wire, and a line that is not a message is recognised as such."""

from __future__ import annotations

import json

import pytest

from ingest.changes import IngestReport
from service.rebuilds.protocol import (
    BuildReport,
    ErrorEvent,
    JobLine,
    ProgressEvent,
    ReadyEvent,
    ReportEvent,
    SettingsLine,
    decode,
    encode,
)

REPORT = BuildReport(
    added=["a.txt"],
    updated=["b.pdf"],
    removed=["c.md"],
    unchanged=["d.txt"],
    failed=[("e.pdf", "no text")],
    warnings=[("b.pdf", "page 3 unreadable")],
    doc_ids={"e.pdf": "e.pdf"},
    published=True,
    index_version="20260101T000000.000Z-abcdef12",
    documents=3,
    passages=40,
)


@pytest.mark.parametrize(
    "message",
    [
        SettingsLine({"model": "all-MiniLM-L6-v2", "rebuild_threads": 1, "corpus_dir": "corpus"}),
        SettingsLine(),
        JobLine(full=True),
        JobLine(),
        ReadyEvent(),
        ProgressEvent("embed", 64, 128),
        ProgressEvent("waiting-for-lock"),
        ReportEvent(REPORT),
        ReportEvent(BuildReport()),
        ErrorEvent("nothing could be ingested", REPORT),
        ErrorEvent("the index was built with another model"),
    ],
)
def test_every_message_round_trips(message) -> None:
    line = encode(message)
    assert "\n" not in line
    assert decode(line) == message
    assert decode(line + "\n") == message  # as read from a pipe


def test_the_wire_names_the_type() -> None:
    assert json.loads(encode(ProgressEvent("parse", 1, 2))) == {
        "type": "progress",
        "stage": "parse",
        "done": 1,
        "total": 2,
    }
    assert json.loads(encode(ReadyEvent())) == {"type": "ready"}
    assert json.loads(encode(JobLine(full=True))) == {"type": "job", "full": True}
    assert json.loads(encode(ErrorEvent("why")))["report"] is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "\n",
        "not json",
        "[1, 2]",
        '"ready"',
        "{}",
        '{"type": "nope"}',
        '{"type": ["ready"]}',
        '{"type": "progress"}',
        '{"type": "progress", "stage": "parse", "done": "many"}',
        '{"type": "ready", "extra": 1}',
        '{"type": "report"}',
        '{"type": "report", "report": {"failed": [1]}}',
        '{"type": "error"}',
    ],
)
def test_a_line_that_is_not_a_message_decodes_to_none(line: str) -> None:
    assert decode(line) is None


def test_a_report_is_taken_from_the_ingest_report() -> None:
    ingested = IngestReport(
        added=["a.txt"],
        failed=[("e.pdf", "no text")],
        skipped=[("x.exe", "unsupported")],
        doc_ids={"e.pdf": "e.pdf"},
        documents=1,
        passages=4,
        pages=2,
        embedded=4,
        seconds=1.5,
        index_version="v2",
        published=True,
    )
    report = BuildReport.of(ingested)
    assert report == BuildReport(
        added=["a.txt"],
        failed=[("e.pdf", "no text")],
        doc_ids={"e.pdf": "e.pdf"},
        published=True,
        index_version="v2",
        documents=1,
        passages=4,
    )
    assert decode(encode(ReportEvent(report))) == ReportEvent(report)
