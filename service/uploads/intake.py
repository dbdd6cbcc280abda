"""One upload request, start to end: refuse an oversized declared body, stream the body into
staging, check every file, commit them all or none, and say what each file is to the index
(``added``, ``updated`` or ``unchanged``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ingest.errors import UploadRejected
from service.uploads.content import check_contents
from service.uploads.reader import StagedFile, UploadReader
from service.uploads.staging import commit

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.types import Document

MB = 2**20


@dataclass(frozen=True)
class UploadLimits:
    """The caps of ``CLAUSEWISE_MAX_UPLOAD_MB``, ``_MAX_REQUEST_MB`` and ``_MAX_UPLOAD_FILES``."""

    file_mb: float
    request_mb: float
    files: int

    @classmethod
    def of(cls, settings: Settings) -> UploadLimits:
        return cls(settings.max_upload_mb, settings.max_request_mb, settings.max_upload_files)

    def check_declared(self, content_length: str) -> None:
        """Refuse (413) a request whose declared ``Content-Length`` is over the cap, before
        anything is read."""
        if content_length.isdigit() and int(content_length) > int(self.request_mb * MB):
            raise UploadRejected(
                f"request of {int(content_length) / MB:.1f} MB is larger than the {self.request_mb:g} MB "
                "limit (CLAUSEWISE_MAX_REQUEST_MB)",
                status=413,
            )


async def receive(
    content_type: str,
    body: AsyncIterator[bytes],
    corpus: Path,
    limits: UploadLimits,
) -> list[tuple[StagedFile, bool]]:
    """Store the files of a multipart ``body`` in ``corpus``: all of them, or none (an
    :class:`~ingest.errors.UploadRejected` says why). Returns ``(file, written)`` pairs."""
    reader = None
    try:
        reader = UploadReader(content_type, corpus, int(limits.file_mb * MB), int(limits.request_mb * MB), limits.files)
        async for chunk in body:
            reader.feed(chunk)
        parsed = reader.finish()
        await run_in_threadpool(check_contents, parsed.files)
        return await run_in_threadpool(commit, corpus, parsed.files)
    except BaseException:
        if reader is not None:
            await run_in_threadpool(reader.discard)
        raise


class StoredFile(BaseModel):
    """One file of an upload, as the response lists it."""

    name: str = Field(description="The file name as sent.")
    source: str = Field(description="Where it is stored, relative to the corpus folder.")
    doc_id: str
    bytes: int
    sha256: str
    status: str = Field(description="added, updated, or unchanged (same content already indexed: nothing to do)")


def describe(results: Iterable[tuple[StagedFile, bool]], indexed: Iterable[Document], corpus: Path) -> list[StoredFile]:
    """What each stored file is to the served index (``indexed``: its documents), with the id
    the next rebuild gives it: ids are assigned over every file of the corpus folder, so the
    id of a new file depends on the other new files there (two names of one slug). Blocking
    (it lists the corpus folder): call it in a thread."""
    from ingest.changes import doc_ids
    from ingest.discover import discover

    by_source = {d.source: d for d in indexed}
    results = list(results)
    sources = {f.source for f in discover([corpus]).files} | {staged.source for staged, _ in results}
    ids = doc_ids(sources, {source: d.doc_id for source, d in by_source.items()})
    files = []
    for staged, _written in results:
        old = by_source.get(staged.source)
        status = "added" if old is None else ("unchanged" if old.file_hash == staged.sha256 else "updated")
        files.append(
            StoredFile(
                name=staged.raw_name,
                source=staged.source,
                doc_id=ids[staged.source],
                bytes=staged.size,
                sha256=staged.sha256,
                status=status,
            )
        )
    return files
