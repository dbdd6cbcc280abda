"""The supervisor's queueing and job lifecycle, fast: the real Supervisor with scripted
children (``scripted_child.py``) that speak the real protocol, and an engine stand-in."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from scripted_child import ScriptedChild, ScriptedSpawn, wait_for

from ingest.errors import ExitCode, NotReady
from ingest.settings import Settings
from service.rebuilds.protocol import BuildReport, ErrorEvent, JobLine, ProgressEvent, ReportEvent
from service.rebuilds.supervisor import STOPPED, Supervisor

pytestmark = pytest.mark.usefixtures("hermetic")


class Engine:
    """What the supervisor uses of :class:`service.search.engine.Engine`."""

    def __init__(self, version: str = "v1", model: str = "served-model") -> None:
        self.version = version
        self.model = model
        self.published = version
        self.reload_error: Exception | None = None
        self.index_dir = Path("index")

    ready = True

    @property
    def snapshot(self) -> SimpleNamespace:
        manifest = SimpleNamespace(model=SimpleNamespace(name=self.model))
        return SimpleNamespace(version=self.version, index=SimpleNamespace(manifest=manifest))

    def reload(self) -> tuple[SimpleNamespace, bool]:
        if self.reload_error is not None:
            raise self.reload_error
        switched = self.published != self.version
        self.version = self.published
        return self.snapshot, switched


def publishing(version: str, engine: Engine, gate: threading.Event | None = None):
    """A script: parse one file, embed three passages (after ``gate`` opens), publish ``version``."""

    def script(child: ScriptedChild, job: JobLine) -> int:
        child.emit(ProgressEvent("parse", 0, 1))
        child.emit(ProgressEvent("parse", 1, 1))
        if gate is not None and not child.hold(gate):
            return -9
        child.emit(ProgressEvent("embed", 3, 3))
        child.emit(ProgressEvent("write", 1, 1))
        engine.published = version
        child.emit(
            ReportEvent(
                BuildReport(
                    added=["new.txt"],
                    unchanged=["a.txt"],
                    published=True,
                    index_version=version,
                    documents=2,
                    passages=5,
                )
            )
        )
        return ExitCode.OK

    return script


@pytest.fixture
def engine() -> Engine:
    return Engine()


@pytest.fixture
def spawn() -> ScriptedSpawn:
    return ScriptedSpawn()


@pytest.fixture
def make(tmp_path: Path, engine: Engine, spawn: ScriptedSpawn):
    made: list[Supervisor] = []

    def make(**settings) -> Supervisor:
        values = {
            "index_dir": tmp_path / "index",
            "corpus_dir": tmp_path / "corpus",
            "rebuild_prewarm": False,
            **settings,
        }
        supervisor = Supervisor(
            Settings(_env_file=None, **values), engine, tmp_path / "corpus", tmp_path / "index", spawn=spawn
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.shutdown(timeout=5)


def running(supervisor: Supervisor, job_id: str) -> dict:
    """Wait until the job's child has it."""
    wait_for(lambda: supervisor.get(job_id)["pid"] is not None)
    return supervisor.get(job_id)


def ended(supervisor: Supervisor, job_id: str) -> dict:
    wait_for(lambda: supervisor.get(job_id)["state"] in {"succeeded", "failed"})
    return supervisor.get(job_id)


def test_a_job_runs_publishes_and_switches(make, engine: Engine, spawn: ScriptedSpawn) -> None:
    supervisor = make()
    spawn.then(publishing("v2", engine))
    queued = supervisor.submit("upload of new.txt")
    assert queued["state"] == "queued" and queued["reasons"] == ["upload of new.txt"] and not queued["full"]
    job = ended(supervisor, queued["id"])
    assert job["state"] == "succeeded", job
    assert job["previous_version"] == "v1" and job["index_version"] == "v2" == engine.version  # switched first
    assert job["published"] and job["added"] == ["new.txt"] and job["error"] is None and job["pid"] is None
    assert job["counts"] == {"added": 1, "updated": 0, "removed": 0, "unchanged": 1, "failed": 0, "failed_unchanged": 0}
    progress = job["progress"]
    assert progress["stage"] == "done"
    counted = ("files_done", "files_total", "passages_done", "passages_total")
    assert [progress[name] for name in counted] == [1, 1, 3, 3]
    assert {"starting", "parse", "embed", "write", "switch"} <= set(progress["seconds"])
    # The child got the served index's model (none configured) and never the API keys.
    [child] = spawn.children
    assert child.settings.settings["model"] == "served-model" and "api_keys" not in child.settings.settings
    assert child.job == JobLine(full=False) and child.closed
    # Recorded for other worker processes, and listed.
    wait_for(lambda: supervisor.store.load(job["id"]) == job)
    assert [j["id"] for j in supervisor.recent()] == [job["id"]]


def test_a_request_while_a_job_waits_joins_it(make, engine: Engine, spawn: ScriptedSpawn) -> None:
    gate = threading.Event()
    supervisor = make()
    spawn.then(publishing("v2", engine, gate))
    first = supervisor.submit("rebuild")
    running(supervisor, first["id"])
    second = supervisor.submit("upload of b.txt")
    third = supervisor.submit("delete of c.txt")
    assert third["id"] == second["id"] != first["id"]
    assert third["reasons"] == ["upload of b.txt", "delete of c.txt"]
    gate.set()
    assert ended(supervisor, second["id"])["state"] == "succeeded"
    assert len(spawn.children) == 2  # a burst costs at most two rebuilds


def test_a_full_request_upgrades_the_waiting_job(make, engine: Engine, spawn: ScriptedSpawn) -> None:
    gate = threading.Event()
    supervisor = make()
    spawn.then(publishing("v2", engine, gate))
    first = supervisor.submit("rebuild")
    running(supervisor, first["id"])
    waiting = supervisor.submit("rebuild")
    upgraded = supervisor.submit("full rebuild", full=True)
    assert upgraded["id"] == waiting["id"] and upgraded["full"] is True
    assert upgraded["reasons"] == ["rebuild", "full rebuild"]
    assert supervisor.submit("rebuild")["full"] is True  # an incremental request does not downgrade it
    gate.set()
    ended(supervisor, waiting["id"])
    assert [child.job for child in spawn.children] == [JobLine(full=False), JobLine(full=True)]


def test_one_job_runs_while_one_waits(make, engine: Engine, spawn: ScriptedSpawn) -> None:
    gate = threading.Event()
    supervisor = make()
    spawn.then(publishing("v2", engine, gate), publishing("v3", engine))
    first = supervisor.submit("rebuild")
    running(supervisor, first["id"])
    second = supervisor.submit("rebuild")
    assert supervisor.get(first["id"])["pid"] == spawn.children[0].pid
    assert supervisor.get(second["id"])["state"] == "queued" and len(spawn.children) == 1
    gate.set()
    done_first, done_second = ended(supervisor, first["id"]), ended(supervisor, second["id"])
    assert done_first["state"] == done_second["state"] == "succeeded"
    assert done_second["started_at"] >= done_first["finished_at"]
    assert done_second["previous_version"] == "v2" and done_second["index_version"] == "v3"
    assert [j["id"] for j in supervisor.recent()] == [second["id"], first["id"]]  # newest first


def said(error: str, report: BuildReport | None = None, status: int = ExitCode.USAGE):
    def script(child: ScriptedChild, job: JobLine) -> int:
        child.emit(ErrorEvent(error, report))
        return status

    return script


def died(status: int, stderr: str = ""):
    def script(child: ScriptedChild, job: JobLine) -> int:
        child.emit(ProgressEvent("parse", 0, 4))
        child.stderr = stderr
        return status

    return script


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (
            said("the index was built with model 'x'"),
            "the index was built with model 'x'. The previous index keeps serving.",
        ),
        (
            died(1, "Traceback (most recent call last):\n  ...\nValueError: boom"),
            "the rebuild process exited with status 1: ValueError: boom. The previous index keeps serving.",
        ),
        (died(-9), "the rebuild process was killed (SIGKILL). The previous index keeps serving."),
        (
            died(-15, "Terminated"),
            "the rebuild process was killed (SIGTERM): Terminated. The previous index keeps serving.",
        ),
    ],
)
def test_a_failed_child_fails_the_job_with_the_reason(make, spawn: ScriptedSpawn, script, error: str) -> None:
    supervisor = make()
    spawn.then(script)
    job = ended(supervisor, supervisor.submit("rebuild")["id"])
    assert job["state"] == "failed" and job["error"] == error, job
    assert job["index_version"] == "v1" and not job["published"] and job["progress"]["stage"] == "done"


def test_a_report_of_files_that_failed_names_them(make, spawn: ScriptedSpawn) -> None:
    supervisor = make()
    report = BuildReport(failed=[("bad.pdf", "no text")], doc_ids={"bad.pdf": "bad.pdf"})
    spawn.then(said("nothing could be ingested", report, ExitCode.NOTHING_TO_DO))
    job = ended(supervisor, supervisor.submit("upload of bad.pdf")["id"])
    assert job["state"] == "failed" and job["error"].startswith("nothing could be ingested. ")
    assert job["failed"] == [{"source": "bad.pdf", "doc_id": "bad.pdf", "error": "no text"}]
    assert job["counts"]["failed"] == 1


def test_a_rebuild_past_the_timeout_is_killed(make, spawn: ScriptedSpawn, engine: Engine) -> None:
    supervisor = make(rebuild_timeout_s=0.2)
    spawn.then(publishing("v2", engine, threading.Event()))  # a gate never opened
    job = ended(supervisor, supervisor.submit("rebuild")["id"])
    assert job["state"] == "failed"
    assert job["error"] == (
        "the rebuild process was killed (SIGKILL) after the 0.2 s limit "
        "(CLAUSEWISE_REBUILD_TIMEOUT_S). The previous index keeps serving."
    )
    assert spawn.children[0].returncode == -9


def test_a_published_build_that_cannot_load_fails_the_job(make, spawn: ScriptedSpawn, engine: Engine) -> None:
    supervisor = make()
    engine.reload_error = OSError("disk gone")
    spawn.then(publishing("v2", engine))
    job = ended(supervisor, supervisor.submit("rebuild")["id"])
    assert job["state"] == "failed" and "could not be loaded (OSError: disk gone)" in job["error"]
    assert job["published"] and job["index_version"] == "v2" and engine.version == "v1"


def test_a_child_that_crashes_the_exchange_does_not_stop_the_runner(make, spawn: ScriptedSpawn) -> None:
    def garbage(child: ScriptedChild, job: JobLine) -> int:
        child._output.put("not json\n")
        child._output.put('{"type": "progress"}\n')  # a message without its fields
        child.emit(ReportEvent(BuildReport(index_version="v1")))
        return ExitCode.OK

    supervisor = make()
    spawn.then(garbage)
    assert ended(supervisor, supervisor.submit("rebuild")["id"])["state"] == "succeeded"
    assert ended(supervisor, supervisor.submit("rebuild")["id"])["state"] == "succeeded"


def test_prewarm_keeps_the_next_child_ready(make, spawn: ScriptedSpawn) -> None:
    supervisor = make(rebuild_prewarm=True, api_keys=["k"], model="configured-model")
    supervisor.start()
    wait_for(lambda: len(spawn.children) == 1)
    standby = spawn.children[0]
    assert standby.job is None and standby.settings.settings["model"] == "configured-model"
    job = ended(supervisor, supervisor.submit("rebuild")["id"])
    assert job["state"] == "succeeded" and standby.job == JobLine(full=False)
    wait_for(lambda: len(spawn.children) == 2)  # the next one, started right after
    assert spawn.children[1].poll() is None
    supervisor.shutdown(timeout=5)
    assert spawn.children[1].returncode == -15  # the standby is stopped with the server


def test_shutdown_fails_the_waiting_job_and_refuses_new_ones(make, spawn: ScriptedSpawn, engine: Engine) -> None:
    gate = threading.Event()
    supervisor = make()
    spawn.then(publishing("v2", engine, gate))
    started = running(supervisor, supervisor.submit("rebuild")["id"])
    waiting = supervisor.submit("rebuild")
    supervisor.shutdown(timeout=5)
    assert supervisor.get(waiting["id"])["state"] == "failed" and supervisor.get(waiting["id"])["error"] == STOPPED
    stopped = supervisor.get(started["id"])
    assert stopped["state"] == "failed" and "killed (SIGTERM)" in stopped["error"], stopped
    with pytest.raises(NotReady, match="shutting down") as caught:
        supervisor.submit("rebuild")
    assert caught.value.status == 503


def test_unknown_or_malformed_job_ids_are_not_found(make) -> None:
    supervisor = make()
    assert supervisor.get("0123456789abcdef") is None
    assert supervisor.get("../../etc/passwd") is None and supervisor.get("nope") is None
