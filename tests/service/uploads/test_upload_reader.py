"""The streaming multipart reader: stages and hashes files, refuses with the right status,
and leaves nothing behind when it refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from upload_parts import multipart, read

from ingest.errors import UploadRejected
from service.uploads.reader import UploadReader


def test_reader_stages_and_hashes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    reader, parsed = read(
        corpus,
        [
            ("files", "../x/old.txt", b"new content"),
            ("files", "same.md", b"# Same"),
            ("folder", None, b"inbox"),
        ],
    )
    assert parsed.folder == "inbox"
    assert [(f.raw_name, f.name, f.source) for f in parsed.files] == [
        ("../x/old.txt", "old.txt", "inbox/old.txt"),
        ("same.md", "same.md", "inbox/same.md"),
    ]
    first = parsed.files[0]
    assert (
        first.size == 11 and first.sha256 == hashlib.sha256(b"new content").hexdigest() and first.head == b"new content"
    )
    assert all(f.path.parent == corpus / ".uploads-tmp" and f.path.is_file() and not f.open for f in parsed.files)
    reader.discard()
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
        ([("files", "tool.exe", b"MZ")], 415, "unsupported file type .exe"),
        ([("files", "a.txt", b"x"), ("folder", None, b"../../x")], 400, "leaves the corpus"),
        ([("files", "a.txt", b"x"), ("folder", None, b"f" * 5000)], 413, "too long"),
    ]
    for parts, status, message in cases:
        with pytest.raises(UploadRejected) as caught:
            read(corpus, parts)
        assert caught.value.status == status and message in str(caught.value), (parts[:1], caught.value)
    with pytest.raises(UploadRejected) as caught:
        read(corpus, [("files", "a.txt", b"y" * 5000)] * 30, max_file=10_000, max_request=50_000, max_files=100)
    assert caught.value.status == 413 and "request larger" in str(caught.value)
    for content_type, status in [("application/json", 415), ("multipart/form-data", 400)]:
        with pytest.raises(UploadRejected) as caught:
            UploadReader(content_type, corpus, 1, 1, 1)
        assert caught.value.status == status
    assert list(corpus.iterdir()) in ([], [corpus / ".uploads-tmp"])
    assert not list((corpus / ".uploads-tmp").glob("*")) if (corpus / ".uploads-tmp").exists() else True


def test_truncated_body_is_refused(tmp_path: Path) -> None:
    content_type, chunks = multipart([("files", "a.txt", b"hello" * 100)])
    reader = UploadReader(content_type, tmp_path, 10_000, 100_000, 10)
    reader.feed(b"".join(chunks)[:200])
    with pytest.raises(UploadRejected) as caught:
        reader.finish()
    assert caught.value.status == 400
    reader.discard()
    assert not list((tmp_path / ".uploads-tmp").iterdir())
