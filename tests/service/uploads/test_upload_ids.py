"""Upload ids and folders: the id an upload reports is the id the next rebuild gives the file,
distinct names get distinct ids, and a folder the file system cannot make is a 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from upload_parts import multipart

from ingest.changes import IngestReport, sort_out
from ingest.discover import discover
from ingest.errors import UploadRejected
from service.uploads.intake import UploadLimits, describe, receive

LIMITS = UploadLimits(file_mb=1, request_mb=3, files=10)


async def _chunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def upload(corpus: Path, parts):
    content_type, chunks = multipart(parts)
    return asyncio.run(receive(content_type, _chunks(chunks), corpus, LIMITS))


def test_an_upload_reports_the_ids_the_rebuild_assigns(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kept.txt").write_bytes(b"indexed already")
    (corpus / "broken.pdf").write_bytes(b"%PDF- failed to load, so not indexed")
    indexed = [SimpleNamespace(source="kept.txt", doc_id="kept.txt", file_hash="0" * 64)]
    parts = [("files", name, b"some text") for name in ("\u00e9.txt", "\u00fc.txt", "e.txt", "a b.txt", "a-b.txt")]
    reported = {f.source: f.doc_id for f in describe(upload(corpus, parts), indexed, corpus)}
    # What the next incremental run decides, over the same corpus folder and index.
    report = IngestReport()
    old = {"kept.txt": SimpleNamespace(doc_id="kept.txt", file_hash="0" * 64)}
    sort_out(discover([corpus]).files, old, rechunk=False, report=report)  # type: ignore[arg-type]
    assert reported == {source: report.doc_ids[source] for source in reported}
    assert len(set(report.doc_ids.values())) == len(report.doc_ids)  # all distinct
    assert reported["\u00fc.txt"] == "u.txt" and reported["a b.txt"] == "a-b.txt"


@pytest.mark.parametrize(
    ("folder", "status", "message"),
    [
        ("d" * 256, 400, "longer than 200 bytes"),
        ("treaties/" + "\u00e9" * 130, 400, "longer than 200 bytes"),
        ("notes.txt", 409, "is a file"),
        ("notes.txt/deeper", 409, "is a file"),
    ],
)
def test_a_folder_the_file_system_cannot_make_is_a_4xx(tmp_path: Path, folder: str, status: int, message: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_bytes(b"a file, not a folder")
    with pytest.raises(UploadRejected, match=message) as caught:
        upload(corpus, [("files", "a.txt", b"alpha text"), ("folder", None, folder.encode())])
    assert caught.value.status == status
    assert (corpus / "notes.txt").read_bytes() == b"a file, not a folder"
    assert not list((corpus / ".uploads-tmp").iterdir())


def test_a_new_folder_is_made_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every folder an upload creates is fsynced in its parent, after the file's rename."""
    import service.uploads.staging as staging

    synced: list[Path] = []
    real = staging.fsync_dir
    monkeypatch.setattr(staging, "fsync_dir", lambda folder: (synced.append(Path(folder)), real(folder))[1])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    upload(corpus, [("files", "a.txt", b"alpha text"), ("folder", None, b"new/deeper")])
    root = corpus.resolve()
    assert synced == [root / "new" / "deeper", root / "new", root]
