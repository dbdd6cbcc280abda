"""One upload request end to end (without HTTP): the declared-length cap, all-or-nothing
storing, and what each file is to the index."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from upload_parts import multipart

from ingest.errors import UploadRejected
from service.uploads.intake import UploadLimits, describe, receive

LIMITS = UploadLimits(file_mb=1, request_mb=3, files=10)


async def _chunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def upload(corpus: Path, parts, limits: UploadLimits = LIMITS):
    content_type, chunks = multipart(parts)
    return asyncio.run(receive(content_type, _chunks(chunks), corpus, limits))


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    LIMITS.check_declared("")
    LIMITS.check_declared(str(3 * 2**20))
    with pytest.raises(UploadRejected) as caught:
        LIMITS.check_declared(str(3 * 2**20 + 1))
    assert caught.value.status == 413
    assert caught.value.message == "request of 3.0 MB is larger than the 3 MB limit (CLAUSEWISE_MAX_REQUEST_MB)"


def test_receive_stores_all_files_or_none(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    results = upload(corpus, [("files", "a.txt", b"alpha text"), ("files", "b.md", b"# Beta"), ("folder", None, b"in")])
    assert [(f.source, written) for f, written in results] == [("in/a.txt", True), ("in/b.md", True)]
    assert (corpus / "in" / "a.txt").read_bytes() == b"alpha text"
    with pytest.raises(UploadRejected) as caught:
        upload(corpus, [("files", "c.txt", b"fine"), ("files", "d.pdf", b"not a pdf")])
    assert caught.value.status == 415
    assert not (corpus / "c.txt").exists() and not list((corpus / ".uploads-tmp").iterdir())


def test_describe_tells_added_updated_and_unchanged(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "same.txt").write_bytes(b"same")
    (corpus / "other").mkdir()
    (corpus / "other" / "new one.txt").write_bytes(b"indexed")
    results = upload(
        corpus, [("files", "new one.txt", b"new"), ("files", "old.txt", b"changed"), ("files", "same.txt", b"same")]
    )
    indexed = [
        SimpleNamespace(source="old.txt", doc_id="old.txt", file_hash="0" * 64),
        SimpleNamespace(source="same.txt", doc_id="same-id", file_hash=hashlib.sha256(b"same").hexdigest()),
        SimpleNamespace(source="other/new one.txt", doc_id="new-one.txt", file_hash="1" * 64),
    ]
    files = [f.model_dump() for f in describe(results, indexed, corpus)]
    assert [(f["source"], f["status"], f["bytes"]) for f in files] == [
        ("new one.txt", "added", 3),
        ("old.txt", "updated", 7),
        ("same.txt", "unchanged", 4),
    ]
    assert files[1]["doc_id"] == "old.txt" and files[2]["doc_id"] == "same-id"
    assert files[0]["doc_id"].startswith("new-one.txt-")  # its slug is taken: suffixed
    assert [written for _, written in results] == [True, True, False]
