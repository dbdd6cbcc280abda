"""What the endpoints open to anyone say: jobs without process ids, failure reasons (stderr) or
absolute paths unless the caller has a write key; /metrics as CLAUSEWISE_METRICS_ACCESS says.

An app without its lifespan (no model, no index), with the real supervisor driving scripted
rebuild children (``scripted_child.py``), as in ``test_admin_routes.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hermetic import clean_settings
from http_support import LOCAL
from scripted_child import ScriptedChild, ScriptedSpawn, wait_for

from ingest.errors import ExitCode
from service.http.app import create_app
from service.rebuilds.protocol import BuildReport, ErrorEvent, JobLine
from service.rebuilds.supervisor import Supervisor

pytestmark = pytest.mark.usefixtures("hermetic")
READ, WRITE = "read-key-0123456789", "write-key-0123456789"
SECRET_FOLDER = "/srv/clausewise-private"
FILE_ERROR = f"FileNotFoundError: [Errno 2] No such file or directory: '{SECRET_FOLDER}/corpus/treaties/a.pdf'"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def failing_with_internals(child: ScriptedChild, job: JobLine) -> int:
    """A rebuild whose failure names the server's folders, with a file error that does too."""
    report = BuildReport(failed=[("treaties/a.pdf", FILE_ERROR)], doc_ids={"treaties/a.pdf": "treaties--a.pdf"})
    child.emit(ErrorEvent(f"the index at {SECRET_FOLDER}/index is locked by pid 4242", report))
    return ExitCode.FAILED


def crashing(child: ScriptedChild, job: JobLine) -> int:
    child.stderr = (
        f'Traceback (most recent call last):\n  File "{SECRET_FOLDER}/worker.py"\nValueError: {SECRET_FOLDER}'
    )
    return 1


def app_for(tmp_path: Path, **settings):
    values = {"index_dir": tmp_path / "index", "corpus_dir": tmp_path / "corpus", "rebuild_prewarm": False}
    return create_app(clean_settings(**{**values, **settings}))


@pytest.fixture
def failed_jobs(tmp_path: Path):
    """A client of an app with read and write keys whose two rebuild jobs failed, and their ids."""
    app = app_for(tmp_path, read_keys=[READ], write_keys=[WRITE])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    app.state.corpus_dir = corpus
    spawn = ScriptedSpawn().then(failing_with_internals, crashing)
    app.state.jobs = Supervisor(app.state.settings, app.state.engine, corpus, tmp_path / "index", spawn=spawn)
    client = TestClient(app, base_url=LOCAL)
    ids = []
    for _ in range(2):
        job = client.post("/index/rebuild", json={"full": True}, headers=bearer(WRITE)).json()
        wait_for(lambda job=job: client.get(f"/jobs/{job['id']}", headers=bearer(WRITE)).json()["state"] == "failed")
        ids.append(job["id"])
    yield client, ids
    app.state.jobs.shutdown(timeout=5)


def test_jobs_show_no_internals_without_a_write_key(failed_jobs) -> None:
    client, (locked, crashed) = failed_jobs
    listed = client.get("/jobs", headers=bearer(READ))
    assert listed.status_code == 200 and len(listed.json()) == 2
    assert SECRET_FOLDER not in listed.text and "4242" not in listed.text and "Traceback" not in listed.text
    for job_id in (locked, crashed):
        job = client.get(f"/jobs/{job_id}", headers=bearer(READ)).json()
        assert job["state"] == "failed" and job["pid"] is None and job["server_pid"] is None
        assert job["error"].startswith("the job failed; the previous index keeps serving")
        assert SECRET_FOLDER not in json.dumps(job)
    file_error = client.get(f"/jobs/{locked}", headers=bearer(READ)).json()["failed"][0]
    assert file_error["source"] == "treaties/a.pdf" and file_error["doc_id"] == "treaties--a.pdf"
    assert file_error["error"] == "FileNotFoundError: [Errno 2] No such file or directory: '…/a.pdf'"


def test_a_write_key_sees_the_whole_job(failed_jobs) -> None:
    client, (locked, crashed) = failed_jobs
    job = client.get(f"/jobs/{locked}", headers=bearer(WRITE)).json()
    assert job["server_pid"] == os.getpid()
    assert f"{SECRET_FOLDER}/index" in job["error"] and job["failed"][0]["error"] == FILE_ERROR
    assert f"ValueError: {SECRET_FOLDER}" in client.get(f"/jobs/{crashed}", headers=bearer(WRITE)).json()["error"]


def test_open_jobs_are_redacted_for_anonymous_callers(tmp_path: Path) -> None:
    """With no read keys the job list is open: anonymous callers get the redacted view."""
    app = app_for(tmp_path, write_keys=[WRITE])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    app.state.corpus_dir = corpus
    spawn = ScriptedSpawn().then(crashing)
    app.state.jobs = Supervisor(app.state.settings, app.state.engine, corpus, tmp_path / "index", spawn=spawn)
    try:
        client = TestClient(app, base_url=LOCAL)
        job_id = client.post("/index/rebuild", json={"full": True}, headers=bearer(WRITE)).json()["id"]
        wait_for(lambda: client.get(f"/jobs/{job_id}").json()["state"] == "failed")
        anonymous = client.get("/jobs").text
        assert SECRET_FOLDER not in anonymous and 'server_pid":null' in anonymous.replace(" ", "")
        assert client.get("/jobs", headers=bearer("not-a-key")).text == anonymous  # a wrong key is anonymous
    finally:
        app.state.jobs.shutdown(timeout=5)


@pytest.mark.parametrize(
    ("access", "anonymous", "read_key", "write_key"),
    [(None, 200, 200, 200), ("open", 200, 200, 200), ("write-key", 401, 403, 200), ("off", 404, 404, 404)],
)
def test_metrics_exposure_follows_the_setting(tmp_path: Path, access, anonymous, read_key, write_key) -> None:
    """Open by default (what a Prometheus scraper expects), as the README's security section says."""
    chosen = {} if access is None else {"metrics_access": access}
    client = TestClient(app_for(tmp_path, read_keys=[READ], write_keys=[WRITE], **chosen), base_url=LOCAL)
    assert client.get("/metrics").status_code == anonymous
    assert client.get("/metrics", headers=bearer(READ)).status_code == read_key
    scraped = client.get("/metrics", headers=bearer(WRITE))
    assert scraped.status_code == write_key
    if write_key == 200:
        assert "clausewise_requests_total" in scraped.text
    else:
        assert scraped.json()["message"] == "metrics are switched off (CLAUSEWISE_METRICS_ACCESS=off)"
