"""The live-rebuild routes, fast: an app without its lifespan (no model, no index), with the
real supervisor driving scripted children (``scripted_child.py``). The live-server tests
(``test_rebuild_live.py``) cover the whole path with the real worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from scripted_child import ScriptedSpawn, wait_for

from ingest.settings import Settings
from service.http.app import create_app
from service.rebuilds.supervisor import Supervisor

pytestmark = pytest.mark.usefixtures("hermetic")
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def app_for(tmp_path: Path, **settings):
    values = {"index_dir": tmp_path / "index", "corpus_dir": tmp_path / "corpus", "rebuild_prewarm": False, **settings}
    return create_app(Settings(_env_file=None, **values))


@pytest.fixture
def served(tmp_path: Path):
    """An app with a write key and a supervisor, as its lifespan would set them up."""
    app = app_for(tmp_path, write_keys=[KEY])
    corpus = tmp_path / "corpus"
    app.state.corpus_dir = corpus
    app.state.jobs = Supervisor(app.state.settings, app.state.engine, corpus, tmp_path / "index", spawn=ScriptedSpawn())
    yield app, TestClient(app, base_url="http://localhost")
    app.state.jobs.shutdown(timeout=5)


def test_write_endpoints_are_disabled_without_configured_keys(tmp_path: Path) -> None:
    client = TestClient(
        app_for(tmp_path), base_url="http://localhost"
    )  # no lifespan: the key check answers before anything loads
    calls = [
        lambda: client.post("/documents", files={"files": ("a.txt", b"text")}, headers={"Authorization": "Bearer x"}),
        lambda: client.delete("/documents/a.txt"),
        lambda: client.post("/index/rebuild", json={"full": True}),
        lambda: client.post("/index/reload"),
    ]
    for call in calls:
        response = call()
        assert response.status_code == 403, response.text
        assert "CLAUSEWISE_WRITE_KEYS" in response.json()["message"]


def test_jobs_before_the_lifespan_started_are_not_ready(tmp_path: Path) -> None:
    response = TestClient(app_for(tmp_path), base_url="http://localhost").get("/jobs/0123456789abcdef")
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": "not_ready",
        "message": "the job manager is not running (the app's lifespan has not started)",
    }


def test_writes_while_the_index_loads_are_not_ready(served) -> None:
    _, client = served
    response = client.post("/documents", files={"files": ("a.txt", b"text")}, headers=AUTH)
    assert response.status_code == 503 and response.json()["error"] == "not_ready", response.text


def test_a_full_rebuild_is_accepted_and_followed(served, tmp_path: Path) -> None:
    _, client = served
    missing = client.post("/index/rebuild", json={"full": True}, headers=AUTH)
    assert missing.status_code == 409, missing.text
    assert "the corpus folder" in missing.json()["message"] and "does not exist" in missing.json()["message"]
    (tmp_path / "corpus").mkdir()
    accepted = client.post("/index/rebuild", json={"full": True}, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert accepted.headers["location"] == f"/jobs/{job['id']}"
    assert job["full"] is True and job["reasons"] == ["full rebuild"]
    wait_for(lambda: client.get(f"/jobs/{job['id']}").json()["state"] == "succeeded")
    assert [j["id"] for j in client.get("/jobs").json()] == [job["id"]]
    assert client.post("/index/rebuild", json={"full": True, "extra": 1}, headers=AUTH).status_code == 422


def test_an_unknown_job_is_not_found(served) -> None:
    _, client = served
    for job_id in ("0123456789abcdef", "not-an-id"):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "not_found", "message": f"no job with id {job_id!r}"}


def test_the_job_schema_is_the_job_model(served) -> None:
    _, client = served
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"Job", "Progress", "FileError", "StoredFile", "UploadOut", "DeleteOut"} <= set(schemas)
    assert schemas["Progress"]["properties"]["files_total"]["description"] == "New or changed files to parse."
