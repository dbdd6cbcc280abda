"""Live rebuilds through a real `clausewise serve` subprocess on a free loopback port.

Each server loads the model (~5 s) and every rebuild job starts a child that loads it again,
so the tests share one server where they can, wait by polling with generous deadlines, and
never assert on a fixed sleep.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fpdf import FPDF
from hermetic import clausewise_command, clean_env, cleared
from live_support import AUTH, JOB_TIMEOUT, KEY, Server, build_index, cited_sources

pytestmark = [pytest.mark.slow, pytest.mark.live]


# --- documents ----------------------------------------------------------------------------

SEED = {
    "alpha-harbour.txt": (
        "Alpha Harbour Regulations\n\nArticle 1\nEvery vessel entering the Alpha harbour registers with the "
        "harbour master within two hours of mooring.\n\nArticle 2\nFishing boats pay a mooring fee of nine "
        "crowns a night from April to October.\n"
    ),
    "beta-forest.md": (
        "# Beta Forestry Charter\n\n## Article 1\nLogging in the Beta forest is limited to two hundred trees "
        "per season.\n\n## Article 2\nRangers may close trails during the nesting season without notice.\n"
    ),
    "harbour-code.txt": "Night Harbour Signals\n\nArticle 1\nThe night harbour code is ALPHA-ONE, radioed before docking.\n",
}


def write_pdf(path: Path, pages: list[list[str]], title: str) -> Path:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(title)
    for lines in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        for i, line in enumerate(lines):
            pdf.set_xy(20, 25 + i * 7)
            pdf.cell(0, 7, line)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def lighthouse_pdf(path: Path) -> Path:
    return write_pdf(
        path,
        [
            [
                "Zephyrine Maritime Accord",
                "",
                "Article 1",
                "This accord governs the coastal lights of the Zephyrine isles.",
            ],
            [
                "Article 2",
                "The lighthouse tithe under the Zephyrine Accord is four hundred and seventeen silver marks",
                "a year, paid by each harbour town to the keeper of the northern light.",
            ],
        ],
        "Zephyrine Maritime Accord",
    )


def long_text(n_paragraphs: int, seed: str) -> str:
    """A document of many distinct paragraphs: enough passages to keep a rebuild busy."""
    subjects = [
        "The council",
        "Each member state",
        "The secretariat",
        "A tribunal",
        "The standing committee",
        "Any citizen",
    ]
    verbs = ["shall review", "may suspend", "must publish", "will examine", "can appeal against", "shall report on"]
    objects = [
        "the annual water quotas",
        "the fisheries licences",
        "the border crossings",
        "the grain reserves",
        "the customs schedules",
        "the census returns",
        "the rail tariffs",
        "the forest leases",
    ]
    out = [f"{seed} Compendium of Provisions", ""]
    for i in range(n_paragraphs):
        words = [f"Article {i + 1}."]
        for j in range(9):
            k = (i * 7 + j * 3) % 48
            words.append(
                f"{subjects[k % 6]} {verbs[(k // 6) % 6]} {objects[(k + i) % 8]} of district {i * 10 + j} "
                f"in the {seed.lower()} registry, volume {i}-{j}."
            )
        out += [" ".join(words), ""]
    return "\n".join(out)


def corpus_listing(corpus: Path) -> dict[str, str]:
    return {
        p.relative_to(corpus).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(corpus.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cleared(monkeypatch):
        yield


@pytest.fixture(scope="module")
def live(tmp_path_factory, embedder) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("live")
    # module scope: the function-scoped _hermetic has not run yet
    with pytest.MonkeyPatch.context() as patch, cleared(patch):
        build_index(root, embedder, SEED)
    server = Server(root, CLAUSEWISE_MAX_UPLOAD_MB="1", CLAUSEWISE_MAX_REQUEST_MB="3").start()
    try:
        yield server
    finally:
        server.stop()


# --- tests --------------------------------------------------------------------------------


def test_write_endpoints_refuse_missing_or_wrong_key(live: Server) -> None:
    calls = [
        lambda h: live.upload(("x.txt", b"some text"), headers=h),
        lambda h: live.delete("/documents/alpha-harbour.txt", headers=h),
        lambda h: live.post("/index/rebuild", headers=h),
        lambda h: live.post("/index/reload", headers=h),
    ]
    for call in calls:
        missing = call({})
        assert missing.status_code == 401, missing.text
        assert missing.json()["error"] == "unauthorized"
        wrong = call({"Authorization": "Bearer not-the-key"})
        assert wrong.status_code == 403, wrong.text
        assert wrong.json()["message"] == "invalid API key"
    assert "x.txt" not in corpus_listing(live.corpus)
    assert live.get("/readyz").status_code == 200  # reads stay open


def test_upload_pdf_then_ask_cites_it(live: Server, tmp_path: Path) -> None:
    before = live.version()
    pdf = lighthouse_pdf(tmp_path / "zephyrine-accord.pdf").read_bytes()
    escape = b"The escape clause allows withdrawal after ninety days."
    response = live.upload(("zephyrine-accord.pdf", pdf), ("../../../escape.txt", escape), folder="treaties")
    assert response.status_code == 202, response.text
    assert response.headers["location"].startswith("/jobs/")
    body = response.json()
    assert body["files"] == [
        {
            "name": "zephyrine-accord.pdf",
            "source": "treaties/zephyrine-accord.pdf",
            "doc_id": "treaties--zephyrine-accord.pdf",
            "bytes": len(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "status": "added",
        },
        # Only the last component of a client's file name is kept: no way out of the corpus folder.
        {
            "name": "../../../escape.txt",
            "source": "treaties/escape.txt",
            "doc_id": "treaties--escape.txt",
            "bytes": len(escape),
            "sha256": hashlib.sha256(escape).hexdigest(),
            "status": "added",
        },
    ]
    assert (live.corpus / "treaties" / "zephyrine-accord.pdf").read_bytes() == pdf
    assert (live.corpus / "treaties" / "escape.txt").read_bytes() == escape
    assert not any(p.name == "escape.txt" for p in live.root.parent.rglob("escape.txt") if "corpus" not in p.parts)

    job = live.wait_job(body["job"]["id"])
    assert job["state"] == "succeeded", job
    assert job["counts"] == {"added": 2, "updated": 0, "removed": 0, "unchanged": 3, "failed": 0, "failed_unchanged": 0}
    assert job["added"] == ["treaties/escape.txt", "treaties/zephyrine-accord.pdf"]
    assert job["progress"]["files_done"] == job["progress"]["files_total"] == 2
    assert job["progress"]["passages_done"] == job["progress"]["passages_total"] > 0
    assert job["previous_version"] == before and job["published"]
    # The job reports success only once the server answers from the new index.
    assert live.version() == job["index_version"] != before

    answer = live.ask("What is the lighthouse tithe under the Zephyrine Accord?")
    top = answer["passages"][0]
    assert top["citation"]["doc_id"] == "treaties--zephyrine-accord.pdf"
    assert top["citation"]["page_start"] == 2
    assert "seventeen silver marks" in top["text"]
    assert live.get("/documents/treaties--zephyrine-accord.pdf").status_code == 200

    # The same content again: nothing to do, no job.
    again = live.upload(("zephyrine-accord.pdf", pdf), folder="treaties")
    assert again.status_code == 200, again.text
    assert again.json()["job"] is None and again.json()["files"][0]["status"] == "unchanged"
    assert live.version() == job["index_version"]


def test_bad_uploads_are_refused_and_change_nothing(live: Server) -> None:
    version = live.version()
    listing = corpus_listing(live.corpus)
    cases = [
        (("report.pdf", os.urandom(4000)), 415, "does not start with the %PDF- signature"),
        (("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ntruncated"), 415, "cannot be read as a PDF"),
        (("notes.txt", b"\x7fELF\x02\x01\x01\x00" + os.urandom(2000)), 415, "not a valid .txt file"),
        (("page.html", b"plain words, no markup at all"), 415, "no HTML markup"),
        (("empty.md", b""), 415, "empty"),
        (("tool.exe", b"MZ\x90\x00"), 415, "unsupported file type .exe"),
        ((".secret.txt", b"hidden text"), 400, "hidden"),
        (("big.txt", b"word " * 250_000), 413, "per-file limit"),
    ]
    for file, status, message in cases:
        response = live.upload(file)
        assert response.status_code == status, (file[0], response.text)
        assert message in response.json()["message"], response.text
    # One bad file refuses the whole request: the good one is not stored either.
    mixed = live.upload(("fine.txt", b"A perfectly good text."), ("fake.pdf", b"not a pdf at all"))
    assert mixed.status_code == 415
    bad_folder = live.upload(("fine.txt", b"A perfectly good text."), folder="../outside")
    assert bad_folder.status_code == 400 and "leaves the corpus folder" in bad_folder.json()["message"]

    # Past the per-request cap, refused from the Content-Length alone, before any byte is read.
    with socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(
            b"POST /documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000000\r\n\r\n"
        )
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head

    assert corpus_listing(live.corpus) == listing
    assert not list((live.corpus / ".uploads-tmp").glob("*"))
    assert live.version() == version


def test_update_switches_atomically_while_asking(live: Server) -> None:
    """A loop of /ask across the rebuild and the switch: no error, no mixed answer."""
    question = "What is the night harbour code radioed before docking?"
    stop = threading.Event()
    seen: list[tuple[str, list[str]]] = []
    errors: list[str] = []

    def asker() -> None:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            while not stop.is_set():
                try:
                    r = client.post("/ask", json={"question": question, "top_k": 3})
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text}")
                    continue
                body = r.json()
                texts = [p["text"] for p in body["passages"] if p["citation"]["source"] == "harbour-code.txt"]
                seen.append((body["index_version"], texts))
                time.sleep(0.02)  # a steady stream, but not one that starves the rebuild of both cores

    threads = [threading.Thread(target=asker) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        while len(seen) < 5:
            time.sleep(0.05)
        changed = SEED["harbour-code.txt"].replace("ALPHA-ONE", "BRAVO-TWO").encode()
        response = live.upload(("harbour-code.txt", changed))
        assert response.status_code == 202, response.text
        assert response.json()["files"][0]["status"] == "updated"
        job = live.wait_job(response.json()["job"]["id"])
        assert job["state"] == "succeeded", job
        assert job["updated"] == ["harbour-code.txt"]
        after = len(seen)
        deadline = time.monotonic() + 60
        while len(seen) < after + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors[:5]
    old, new = job["previous_version"], job["index_version"]
    assert {version for version, _ in seen} == {old, new}
    for version, texts in seen:
        assert texts, "the harbour document should be cited"
        joined = " ".join(texts)
        if version == old:
            assert "ALPHA-ONE" in joined and "BRAVO-TWO" not in joined, (version, texts)
        else:
            assert "BRAVO-TWO" in joined and "ALPHA-ONE" not in joined, (version, texts)


def test_delete_withdraws_a_document(live: Server) -> None:
    assert "beta-forest.md" in cited_sources(live.ask("How many trees may be logged in the Beta forest each season?"))
    response = live.delete("/documents/beta-forest.md", headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["file_removed"] is True
    assert not (live.corpus / "beta-forest.md").exists()
    job = live.wait_job(response.json()["job"]["id"])
    assert job["state"] == "succeeded" and job["removed"] == ["beta-forest.md"], job
    assert "beta-forest.md" not in cited_sources(
        live.ask("How many trees may be logged in the Beta forest each season?")
    )
    assert live.get("/documents/beta-forest.md").status_code == 404
    missing = live.delete("/documents/beta-forest.md", headers=AUTH)
    assert missing.status_code == 404 and "no document" in missing.json()["message"]


def test_rebuild_requests_queue_and_join(live: Server) -> None:
    """A request while a rebuild runs is queued; one while a job waits joins that job."""
    upload = live.upload(
        ("gamma-water.txt", b"Gamma Water Accord\n\nThe reservoir levy is forty-two crowns per household.")
    )
    first = upload.json()["job"]
    live.wait_job(first["id"], until=lambda job: job["state"] != "queued")
    second = live.post("/index/rebuild", headers=AUTH)
    assert second.status_code == 202, second.text
    third = live.post("/index/rebuild", headers=AUTH, json={"full": True})
    assert third.status_code == 202, third.text
    if live.get(f"/jobs/{first['id']}").json()["state"] == "running":
        assert second.json()["id"] != first["id"]
        assert third.json()["id"] == second.json()["id"]  # joined the queued job...
        assert third.json()["full"] is True  # ...and made it a full rebuild
        assert third.json()["reasons"] == ["rebuild", "full rebuild"]
    done_first = live.wait_job(first["id"])
    done_second = live.wait_job(second.json()["id"])
    assert done_first["state"] == done_second["state"] == "succeeded", (done_first, done_second)
    assert done_second["started_at"] >= done_first["finished_at"]  # one at a time
    listed = [job["id"] for job in live.get("/jobs").json()]
    assert first["id"] in listed and second.json()["id"] in listed


def test_cli_ingest_in_another_process_is_picked_up(live: Server) -> None:
    (live.corpus / "delta-port.txt").write_text(
        "Delta Port Rules\n\nThe Delta port closes at the ninth bell in winter.\n"
    )
    result = subprocess.run(
        [*clausewise_command(), "ingest", str(live.corpus), "--index", str(live.index), "-q"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    published = json.loads((live.index / "current" / "manifest.json").read_text())["index_version"]
    reload = live.post("/index/reload", headers=AUTH)  # the watch may have switched already
    assert reload.status_code == 200, reload.text
    assert reload.json()["index_version"] == published
    assert live.version() == published
    assert "delta-port.txt" in cited_sources(live.ask("When does the Delta port close in winter?"))


def test_killed_rebuild_fails_the_job_and_the_old_index_serves(live: Server) -> None:
    version = live.version()
    response = live.upload(("epsilon-compendium.txt", long_text(120, "Epsilon").encode()))
    assert response.status_code == 202, response.text
    running = live.wait_job(
        response.json()["job"]["id"], until=lambda job: job["pid"] and job["progress"]["stage"] in {"parse", "embed"}
    )
    os.kill(running["pid"], signal.SIGKILL)
    job = live.wait_job(running["id"])
    assert job["state"] == "failed", job
    assert "killed (SIGKILL)" in job["error"] and "previous index keeps serving" in job["error"]
    assert live.version() == version == job["index_version"]
    assert live.ask("Who shall review the annual water quotas of district 10?")["index_version"] == version

    # The lock died with the process and the next rebuild cleans up after it.
    retry = live.post("/index/rebuild", headers=AUTH)
    assert retry.status_code == 202
    done = live.wait_job(retry.json()["id"])
    assert done["state"] == "succeeded" and done["added"] == ["epsilon-compendium.txt"], done
    assert not list(live.index.glob(".tmp-*"))


def test_a_file_that_failed_is_not_parsed_again_until_a_full_rebuild(live: Server) -> None:
    """A broken file put straight into the corpus folder fails once; the next rebuild reports it
    as failed-unchanged without parsing it, and a full rebuild tries it again."""
    broken = live.corpus / "torn-minutes.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n")  # cut short
    try:

        def rebuild(body: dict | None = None) -> dict:
            response = live.post("/index/rebuild", headers=AUTH, json=body)
            assert response.status_code == 202, response.text
            return live.wait_job(response.json()["id"])

        first = rebuild()
        assert first["state"] == "succeeded" and not first["published"], first
        assert [f["source"] for f in first["failed"]] == ["torn-minutes.pdf"] and not first["failed_unchanged"]
        reason = first["failed"][0]["error"]
        again = rebuild()
        assert not again["failed"] and again["failed_unchanged"] == first["failed"], again
        assert again["counts"]["failed_unchanged"] == 1 and again["counts"]["failed"] == 0
        assert live.get(f"/jobs/{again['id']}").json()["failed_unchanged"][0]["source"] == "torn-minutes.pdf"
        full = rebuild({"full": True})
        assert full["state"] == "succeeded", full
        assert [(f["source"], f["error"]) for f in full["failed"]] == [("torn-minutes.pdf", reason)]
        assert not full["failed_unchanged"]
    finally:
        broken.unlink()


def test_server_killed_mid_rebuild_restarts_on_the_last_good_index(tmp_path: Path, embedder) -> None:
    build_index(tmp_path, embedder, {"alpha-harbour.txt": SEED["alpha-harbour.txt"]})
    server = Server(tmp_path).start()
    try:
        version = server.version()
        big = long_text(150, "Omicron").encode()
        response = server.upload(("omicron-compendium.txt", big))
        assert response.status_code == 202, response.text
        job_id = response.json()["job"]["id"]
        server.wait_job(job_id, until=lambda job: job["pid"] and job["progress"]["stage"] in {"parse", "embed"})
        server.stop(signal.SIGKILL)  # the server and its rebuild child, at once
    finally:
        server.stop()

    # Whatever the kill interrupted, the corpus holds the whole upload and the index is loadable.
    assert (tmp_path / "corpus" / "omicron-compendium.txt").read_bytes() == big
    server.start()
    try:
        assert server.version() == version
        assert server.ask("Who shall review the annual water quotas?")["index_version"] == version
        job = server.get(f"/jobs/{job_id}", headers=AUTH).json()
        assert job["state"] == "failed" and "interrupted" in job["error"], job
        retry = server.post("/index/rebuild", headers=AUTH)
        done = server.wait_job(retry.json()["id"])
        assert done["state"] == "succeeded" and done["added"] == ["omicron-compendium.txt"], done
        assert server.version() == done["index_version"] != version
    finally:
        server.stop()
