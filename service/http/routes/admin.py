"""Live rebuilds over HTTP: upload and withdraw documents, rebuild, reload, follow jobs.

Thin routes over :mod:`service.uploads` (storing and withdrawing files) and
:mod:`service.rebuilds` (the jobs); the supervisor and the index watch are started by
:func:`service.http.lifespan.live_rebuilds`. Write endpoints need an API key
(``Authorization: Bearer``); see docs/rebuilds.md. Refusals are raised as
:class:`~ingest.errors.ClausewiseError` (their status and message) and answered by the app's
one handler, :mod:`service.http.errors`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ingest.errors import Conflict, IndexIncompatibleError, IndexMissingError, NotFound, NotReady
from service.http.auth import ReadKey, WriteKey, has_write_key
from service.http.deps import EngineDep, get_snapshot
from service.http.schemas import error_responses
from service.rebuilds.model import Job
from service.rebuilds.supervisor import Supervisor
from service.uploads.corpus import check_built_from, withdraw
from service.uploads.intake import StoredFile, UploadLimits, describe, receive

router = APIRouter(tags=["live rebuilds"], responses=error_responses(421))
# The statuses each write endpoint can answer besides its own: no key, a read key, not ready.
WRITE_ERRORS = (401, 403, 503)


class UploadOut(BaseModel):
    files: list[StoredFile]
    job: Job | None = Field(description="The rebuild that indexes the files; null when every file was unchanged.")


class DeleteOut(BaseModel):
    doc_id: str
    source: str
    file_removed: bool
    job: Job


class RebuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full: StrictBool = Field(
        False, description="Re-parse and re-embed every file instead of only new and changed ones."
    )


class ReloadOut(BaseModel):
    reloaded: bool
    index_version: str
    previous_version: str


def get_jobs(request: Request) -> Supervisor:
    if request.app.state.settings.backend == "postgres":
        raise Conflict(
            "uploads and rebuild jobs write the embedded index; with CLAUSEWISE_BACKEND=postgres run "
            "`clausewise ingest PATH` (on any machine): every replica switches to the new version within "
            "CLAUSEWISE_RELOAD_INTERVAL_S"
        )
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise NotReady("the job manager is not running (the app's lifespan has not started)")
    return jobs


JobsDep = Annotated[Supervisor, Depends(get_jobs)]


def _corpus(request: Request) -> Path:
    return request.app.state.corpus_dir


def _accepted(payload: dict, job: dict | None) -> JSONResponse:
    if job is None:
        return JSONResponse(payload, status_code=200)
    return JSONResponse(payload, status_code=202, headers={"Location": f"/jobs/{job['id']}"})


_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                            "description": "PDF, TXT, MD or HTML files (any part with a filename is taken).",
                        },
                        "folder": {
                            "type": "string",
                            "description": "Sub-folder of the corpus folder, e.g. `treaties`.",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/documents",
    status_code=202,
    dependencies=[WriteKey],
    openapi_extra=_MULTIPART_BODY,
    responses={
        200: {"model": UploadOut, "description": "Every file already indexed with this content: no job."},
        202: {"model": UploadOut},
        **error_responses(400, 409, 413, 415, *WRITE_ERRORS),
    },
)
async def upload_documents(request: Request, engine: EngineDep, jobs: JobsDep) -> JSONResponse:
    """Store files under the corpus folder and start an incremental rebuild that indexes them.

    The request is all or nothing: if any file is too large (413), of a type not allowed or
    whose content does not match its extension (415), or badly named (400), nothing is stored."""
    corpus = _corpus(request)
    check_built_from(get_snapshot(engine).index, corpus)
    limits = UploadLimits.of(request.app.state.settings)
    limits.check_declared(request.headers.get("content-length", ""))
    results = await receive(request.headers.get("content-type", ""), request.stream(), corpus, limits)
    files = await run_in_threadpool(describe, results, get_snapshot(engine).index.documents.values(), corpus)
    changed = [f.source for f in files if f.status != "unchanged"]
    job = jobs.submit(f"upload of {', '.join(changed)}") if changed else None
    return _accepted({"files": [f.model_dump() for f in files], "job": job}, job)


@router.delete(
    "/documents/{doc_id}",
    status_code=202,
    dependencies=[WriteKey],
    response_model=DeleteOut,
    responses=error_responses(404, 409, *WRITE_ERRORS),
)
async def delete_document(doc_id: str, request: Request, engine: EngineDep, jobs: JobsDep) -> JSONResponse:
    """Withdraw a document: remove its file from the corpus folder and start a rebuild that
    drops it from the index. Also removes a file that failed to load (its `doc_id` is in the job)."""
    corpus = _corpus(request)
    snapshot = get_snapshot(engine)
    check_built_from(snapshot.index, corpus)
    source, removed = await run_in_threadpool(withdraw, snapshot.index, corpus, doc_id)
    job = jobs.submit(f"delete of {source}")
    return _accepted({"doc_id": doc_id, "source": source, "file_removed": removed, "job": job}, job)


@router.post(
    "/index/rebuild",
    status_code=202,
    dependencies=[WriteKey],
    response_model=Job,
    responses=error_responses(400, 409, 413, 422, *WRITE_ERRORS),
)
async def rebuild_index(
    request: Request,
    engine: EngineDep,
    jobs: JobsDep,
    body: Annotated[RebuildIn | None, Body()] = None,
) -> JSONResponse:
    """Bring the index in line with the corpus folder (incremental), or rebuild it from scratch
    with `{"full": true}`. One rebuild runs at a time; a request while one waits joins it."""
    corpus = _corpus(request)
    full = bool(body and body.full)
    if not full:
        check_built_from(get_snapshot(engine).index, corpus)
    if not corpus.is_dir():
        raise Conflict(f"the corpus folder {corpus} does not exist (CLAUSEWISE_CORPUS_DIR, or serve --corpus)")
    job = jobs.submit("full rebuild" if full else "rebuild", full=full)
    return _accepted(job, job)


@router.post(
    "/index/reload", dependencies=[WriteKey], response_model=ReloadOut, responses=error_responses(409, *WRITE_ERRORS)
)
def reload_index(engine: EngineDep) -> ReloadOut:
    """Switch to the index's current build now, e.g. one just written by `clausewise ingest`.
    The server also does this by itself every CLAUSEWISE_RELOAD_INTERVAL_S seconds."""
    before = get_snapshot(engine).version
    try:
        snapshot, switched = engine.reload()
    except (IndexMissingError, IndexIncompatibleError) as exc:
        raise Conflict(f"{exc}; the previous index keeps serving") from exc
    return ReloadOut(reloaded=switched, index_version=snapshot.version, previous_version=before)


@router.get("/jobs", dependencies=[ReadKey], response_model=list[Job], responses=error_responses(401, 403, 503))
def list_jobs(request: Request, jobs: JobsDep) -> list[dict]:
    """The latest rebuild jobs, newest first. Process ids and why a job failed are shown only
    with a write key."""
    recent = jobs.recent()
    return recent if has_write_key(request) else [redacted(job) for job in recent]


@router.get("/jobs/{job_id}", dependencies=[ReadKey], response_model=Job, responses=error_responses(401, 403, 404, 503))
def get_job(job_id: str, request: Request, jobs: JobsDep) -> dict:
    """State, progress, counts and per-file errors of a rebuild job (process ids and why it
    failed only with a write key)."""
    job = jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}")
    return job if has_write_key(request) else redacted(job)


# What a server's folders look like is none of an anonymous caller's business: an absolute
# POSIX or Windows path, shown as its last part.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])(?:/|[A-Za-z]:\\)[^\s'\"]*")
FAILED_PRIVATELY = "the job failed; the previous index keeps serving (the reason is shown with a write key)"


def _scrub(text: str) -> str:
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)


def redacted(job: dict) -> dict:
    """A job as a caller without a write key sees it: no process ids, no failure reason (it
    can quote the rebuild process's stderr and name the server's folders), no absolute path in
    the per-file errors and warnings."""
    return {
        **job,
        "pid": None,
        "server_pid": None,
        "error": FAILED_PRIVATELY if job.get("error") else None,
        "failed": [{**f, "error": _scrub(f["error"])} for f in job.get("failed", [])],
        "failed_unchanged": [{**f, "error": _scrub(f["error"])} for f in job.get("failed_unchanged", [])],
        "warnings": [{**w, "warning": _scrub(w["warning"])} for w in job.get("warnings", [])],
    }
