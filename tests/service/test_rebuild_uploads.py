"""Upload safety (names, content, caps, atomic commit) and job bookkeeping, in-process and fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF

from ingest.settings import Settings
from service.http.app import create_app
from service.rebuilds.jobs import JobManager
from service.uploads.uploads import (
    UploadError,
    UploadReader,
    check_contents,
    clean_staging,
    commit,
    content_problem,
    safe_filename,
    safe_folder,
    target_path,
)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CLAUSEWISE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> tuple[str, list[bytes]]:
    """A multipart body as (content type, chunks): ``(field, filename or None, data)`` per part."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", [body[i: i + 1000] for i in range(0, len(body), 1000)]


def read(corpus: Path, parts, max_file=10_000, max_request=100_000, max_files=10):
    content_type, chunks = multipart(parts)
    reader = UploadReader(content_type, corpus, max_file, max_request, max_files)
    try:
        for chunk in chunks:
            reader.feed(chunk)
        return reader, reader.finish()
    except UploadError:
        reader.discard()
        raise


def pdf_bytes() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "A real PDF page.")
    return bytes(pdf.output())


@pytest.mark.parametrize(("raw", "clean"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/cron.txt", "cron.txt"),
    ("C:\\Users\\me\\Desktop\\notes.md", "notes.md"),
    ("/abs/path/page.HTML", "page.HTML"),
    ("weird<>:|?*name.txt", "weird______name.txt"),
    ("tab\tand\nnewline.txt", "tab_and_newline.txt"),
])
def test_safe_filename_keeps_only_a_plain_name(raw: str, clean: str) -> None:
    assert safe_filename(raw) == clean


@pytest.mark.parametrize(("raw", "status"), [
    (".env.txt", 400), ("dir/.hidden.md", 400), ("..", 400), ("", 400), ("../", 400),
    ("script.sh", 415), ("archive.pdf.zip", 415), ("noextension", 415), ("x" * 300 + ".txt", 400),
])
def test_safe_filename_refuses(raw: str, status: int) -> None:
    with pytest.raises(UploadError) as caught:
        safe_filename(raw)
    assert caught.value.status == status


def test_safe_folder() -> None:
    assert safe_folder(None) == "" and safe_folder("  ") == ""
    assert safe_folder("treaties/2024/") == "treaties/2024"
    assert safe_folder("a\\b/./c") == "a/b/c"
    for bad in ("../up", "a/../../b", "/etc", "C:/x", "a/.git", "/".join("d" * 9)):
        with pytest.raises(UploadError):
            safe_folder(bad)


def test_target_path_stays_inside_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (corpus / "escape").symlink_to(outside)
    (corpus / "link.txt").symlink_to(outside / "target.txt")
    assert target_path(corpus, "sub/new.txt") == corpus.resolve() / "sub" / "new.txt"
    with pytest.raises(UploadError, match="outside the corpus"):
        target_path(corpus, "escape/x.txt")
    with pytest.raises(UploadError, match="symbolic link"):
        target_path(corpus, "link.txt")
    with pytest.raises(UploadError, match="folder"):
        target_path(corpus, "sub")


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("a.txt", "Plain UTF-8 text — with a dash.".encode(), None),
    ("a.txt", "Déjà vu in Latin-1.".encode("latin-1"), None),
    ("a.txt", "\ufeffUTF-16 text".encode("utf-16"), None),
    ("a.md", b"# Title\n\nBody", None),
    ("a.txt", b"text\x00with NUL", "NUL"),
    ("a.txt", b"%PDF-1.4 pretending", "binary"),
    ("a.txt", bytes(range(1, 32)) * 20, "does not decode"),
    ("a.html", b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", None),
    ("a.htm", b"  <p>fragment</p>", None),
    ("a.html", b"no markup here", "no HTML markup"),
    ("a.pdf", b"GIF89a....", "%PDF-"),
    ("a.pdf", b"%PDF-1.4\nnot really", "cannot be read"),
])
def test_content_is_checked_against_the_extension(tmp_path: Path, name: str, data: bytes, problem: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    found = content_problem(path, name, data, b"\x00" in data)
    assert (found is None) if problem is None else (problem in found), found


def test_a_real_pdf_passes(tmp_path: Path) -> None:
    path = tmp_path / "real.pdf"
    path.write_bytes(pdf_bytes())
    assert content_problem(path, "real.pdf", path.read_bytes()[:65536], False) is None


def test_reader_stages_hashes_and_commits_atomically(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "old.txt").write_bytes(b"old content")
    reader, parsed = read(corpus, [
        ("files", "old.txt", b"new content"),
        ("files", "same.md", b"# Same"),
        ("folder", None, b"inbox"),
    ])
    assert parsed.folder == "inbox"
    assert [f.source for f in parsed.files] == ["inbox/old.txt", "inbox/same.md"]
    staged = [f.path for f in parsed.files]
    assert all(p.parent == corpus / ".uploads-tmp" and p.is_file() for p in staged)
    check_contents(parsed.files)
    results = commit(corpus, parsed.files)
    assert [written for _, written in results] == [True, True]
    assert (corpus / "inbox" / "old.txt").read_bytes() == b"new content"
    assert (corpus / "old.txt").read_bytes() == b"old content"  # another folder: untouched
    assert not any(p.exists() for p in staged)
    # Identical content again: nothing is written.
    _, again = read(corpus, [("files", "same.md", b"# Same"), ("folder", None, b"inbox")])
    mtime = (corpus / "inbox" / "same.md").stat().st_mtime_ns
    assert [written for _, written in commit(corpus, again.files)] == [False]
    assert (corpus / "inbox" / "same.md").stat().st_mtime_ns == mtime
    assert not list((corpus / ".uploads-tmp").iterdir())


def test_reader_caps_and_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cases = [
        ([("files", "big.txt", b"x" * 20_000)], 413, "per-file limit"),
        ([("files", f"f{i}.txt", b"x") for i in range(11)], 413, "more than 10 files"),
        ([("files", "a.txt", b"one"), ("files", "A.TXT", b"two")], 400, "both be stored"),
        ([("folder", None, b"x")], 400, "no file"),
        ([("files", ".hidden.txt", b"x")], 400, "hidden"),
        ([("files", "a.txt", b"x"), ("folder", None, b"../../x")], 400, "leaves the corpus"),
        ([("files", "a.txt", b"x"), ("folder", None, b"f" * 5000)], 413, "too long"),
    ]
    for parts, status, message in cases:
        with pytest.raises(UploadError) as caught:
            read(corpus, parts)
        assert caught.value.status == status and message in str(caught.value), (parts[:1], caught.value)
    with pytest.raises(UploadError) as caught:
        read(corpus, [("files", "a.txt", b"y" * 5000)] * 30, max_file=10_000, max_request=50_000, max_files=100)
    assert caught.value.status == 413 and "request larger" in str(caught.value)
    with pytest.raises(UploadError) as caught:
        UploadReader("application/json", corpus, 1, 1, 1)
    assert caught.value.status == 415
    assert list(corpus.iterdir()) in ([], [corpus / ".uploads-tmp"])
    assert not list((corpus / ".uploads-tmp").glob("*")) if (corpus / ".uploads-tmp").exists() else True


def test_truncated_body_is_refused(tmp_path: Path) -> None:
    content_type, chunks = multipart([("files", "a.txt", b"hello" * 100)])
    reader = UploadReader(content_type, tmp_path, 10_000, 100_000, 10)
    reader.feed(b"".join(chunks)[:200])
    with pytest.raises(UploadError) as caught:
        reader.finish()
    assert caught.value.status == 400
    reader.discard()
    assert not list((tmp_path / ".uploads-tmp").iterdir())


def test_stale_staging_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    staging = tmp_path / ".uploads-tmp"
    staging.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (staging / f"{dead.stdout.strip()}-abc.part").write_bytes(b"half an upload")
    (staging / f"{os.getpid()}-def.part").write_bytes(b"an upload in progress")
    assert clean_staging(tmp_path) == 1
    assert [p.name for p in staging.iterdir()] == [f"{os.getpid()}-def.part"]


class _Engine:
    ready = False


def test_jobs_left_running_by_a_dead_server_are_marked_failed(tmp_path: Path) -> None:
    jobs_dir = tmp_path / "index" / ".jobs"
    jobs_dir.mkdir(parents=True)
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    stale = {"id": "0123456789abcdef", "state": "running", "server_pid": dead, "pid": 4242, "progress": {"stage": "embed"}}
    mine = {"id": "fedcba9876543210", "state": "running", "server_pid": os.getpid(), "progress": {"stage": "embed"}}
    for job in (stale, mine):
        (jobs_dir / f"{job['id']}.json").write_text(json.dumps(job))
    manager = JobManager(Settings(_env_file=None), _Engine(), tmp_path / "corpus", tmp_path / "index")
    manager.recover()
    recovered = manager.get("0123456789abcdef")
    assert recovered["state"] == "failed" and "interrupted" in recovered["error"] and recovered["pid"] is None
    assert manager.get("fedcba9876543210")["state"] == "running"  # its server is alive
    assert manager.get("../../etc/passwd") is None and manager.get("nope") is None


def test_write_endpoints_are_disabled_without_configured_keys(tmp_path: Path) -> None:
    app = create_app(Settings(_env_file=None, index_dir=tmp_path / "index", api_keys=[]))
    client = TestClient(app)  # no lifespan: the key check answers before anything loads
    calls = [
        lambda: client.post("/documents", files={"files": ("a.txt", b"text")}, headers={"Authorization": "Bearer x"}),
        lambda: client.delete("/documents/a.txt"),
        lambda: client.post("/index/rebuild", json={"full": True}),
        lambda: client.post("/index/reload"),
    ]
    for call in calls:
        response = call()
        assert response.status_code == 403, response.text
        assert "CLAUSEWISE_API_KEYS" in response.json()["message"]
