"""Staging and commit: files move into the corpus atomically, identical content is not
rewritten, and staged files of dead processes are cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from upload_parts import read

from ingest.errors import UploadRejected
from service.uploads.content import check_contents
from service.uploads.staging import clean_staging, commit


def test_commit_moves_files_atomically_and_skips_identical_content(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "old.txt").write_bytes(b"old content")
    _, parsed = read(
        corpus,
        [
            ("files", "old.txt", b"new content"),
            ("files", "same.md", b"# Same"),
            ("folder", None, b"inbox"),
        ],
    )
    staged = [f.path for f in parsed.files]
    check_contents(parsed.files)
    results = commit(corpus, parsed.files)
    assert [written for _, written in results] == [True, True]
    assert (corpus / "inbox" / "old.txt").read_bytes() == b"new content"
    assert (corpus / "old.txt").read_bytes() == b"old content"  # another folder: untouched
    assert (corpus / "inbox" / "old.txt").stat().st_mode & 0o777 == 0o644
    assert not any(p.exists() for p in staged)
    # Identical content again: nothing is written.
    _, again = read(corpus, [("files", "same.md", b"# Same"), ("folder", None, b"inbox")])
    mtime = (corpus / "inbox" / "same.md").stat().st_mtime_ns
    assert [written for _, written in commit(corpus, again.files)] == [False]
    assert (corpus / "inbox" / "same.md").stat().st_mtime_ns == mtime
    assert not list((corpus / ".uploads-tmp").iterdir())


def test_commit_checks_every_target_before_moving_any(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "taken.txt").mkdir(parents=True)  # a folder where the second file would go
    _, parsed = read(corpus, [("files", "fine.txt", b"fine"), ("files", "taken.txt", b"x")])
    with pytest.raises(UploadRejected) as caught:
        commit(corpus, parsed.files)
    assert caught.value.status == 409
    assert not (corpus / "fine.txt").exists()


def test_stale_staging_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    staging = tmp_path / ".uploads-tmp"
    staging.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (staging / f"{dead.stdout.strip()}-abc.part").write_bytes(b"half an upload")
    (staging / f"{os.getpid()}-def.part").write_bytes(b"an upload in progress")
    old = staging / f"{os.getpid()}-old.part"
    old.write_bytes(b"an upload of yesterday")
    os.utime(old, (0, 0))
    assert clean_staging(tmp_path) == 2
    assert [p.name for p in staging.iterdir()] == [f"{os.getpid()}-def.part"]
    assert clean_staging(tmp_path / "nowhere") == 0
