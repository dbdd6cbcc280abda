"""The job model: stage timing, progress counts, taking over a rebuild's report."""

from __future__ import annotations

from service.rebuilds.model import Job, Progress
from service.rebuilds.protocol import BuildReport


def test_time_is_counted_per_stage_and_not_while_queued_or_done() -> None:
    progress = Progress()
    progress.enter("starting", 10.0)  # leaving "queued": not counted
    progress.enter("parse", 12.5)
    progress.enter("parse", 13.0)  # the same stage again: time keeps adding up
    progress.enter("embed", 14.0)
    progress.enter("done", 20.0)
    progress.enter("done", 99.0)
    assert progress.seconds == {"starting": 2.5, "parse": 1.5, "embed": 6.0}
    assert progress.stage == "done"


def test_progress_counts_files_and_passages() -> None:
    progress = Progress()
    progress.advance("parse", 2, 5)
    progress.advance("embed", 64, 200)
    progress.advance("write", 1, 1)
    assert (progress.files_done, progress.files_total, progress.passages_done, progress.passages_total) == (
        2,
        5,
        64,
        200,
    )


def test_a_job_takes_over_the_report_and_round_trips_as_json() -> None:
    job = Job(id="0123456789abcdef", full=False, reasons=["rebuild"])
    assert job.state == "queued" and job.progress.stage == "queued" and job.counts["added"] == 0
    job.apply(
        BuildReport(
            added=["a.txt"],
            unchanged=["b.txt", "c.txt"],
            failed=[("d.pdf", "no text")],
            doc_ids={"d.pdf": "d.pdf"},
            warnings=[("a.txt", "odd bytes")],
            published=True,
            index_version="v2",
            documents=3,
            passages=9,
        )
    )
    assert job.counts == {"added": 1, "updated": 0, "removed": 0, "unchanged": 2, "failed": 1, "failed_unchanged": 0}
    data = job.to_dict()
    assert data["failed"] == [{"source": "d.pdf", "doc_id": "d.pdf", "error": "no text"}]
    assert data["warnings"] == [{"source": "a.txt", "warning": "odd bytes"}]
    assert list(data)[:4] == ["id", "full", "reasons", "state"]
    assert Job.model_validate(data).to_dict() == data


def test_an_error_without_a_report_clears_what_the_job_had() -> None:
    job = Job(id="0123456789abcdef", full=True, reasons=["full rebuild"], documents=4)
    job.apply(BuildReport())
    assert job.documents is None and job.index_version is None and not job.published and job.added == []
