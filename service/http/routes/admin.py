"""Live rebuilds over HTTP: upload and withdraw documents, rebuild, reload, follow jobs.

Write endpoints need an API key (``Authorization: Bearer``); see docs/rebuilds.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ingest.store.index import IndexIncompatibleError, IndexMissingError, fsync_dir
from service.http.auth import ReadKey, WriteKey
from service.http.deps import EngineDep, get_snapshot
from service.rebuilds.jobs import JobManager
from service.http.schemas import ErrorOut
from service.search.engine import Engine, Snapshot
from service.uploads.uploads import UploadError, UploadReader, check_contents, clean_staging, commit, target_path

log = logging.getLogger("clausewise")
router = APIRouter(tags=["live rebuilds"])
ERRORS = {code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 415, 503)}


# --- response models (for the OpenAPI page; the handlers return plain dicts) -----------------


class ProgressOut(BaseModel):
    stage: str = Field(description="queued, starting, waiting-for-lock, parse, embed, write, switch, done")
    files_done: int
    files_total: int = Field(description="New or changed files to parse.")
    passages_done: int
    passages_total: int = Field(description="Passages to embed.")
    seconds: dict[str, float] = Field(description="Time spent in each stage so far.")


class FileErrorOut(BaseModel):
    source: str
    doc_id: str = Field(description="Pass to DELETE /documents/{doc_id} to remove the file.")
    error: str


class FileWarningOut(BaseModel):
    source: str
    warning: str


class JobOut(BaseModel):
    id: str
    state: str = Field(description="queued, running, succeeded or failed")
    full: bool
    reasons: list[str] = Field(description="The requests this job serves (later ones join a queued job).")
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: ProgressOut
    counts: dict[str, int] = Field(description="added, updated, removed, unchanged, failed")
    added: list[str]
    updated: list[str]
    removed: list[str]
    failed: list[FileErrorOut]
    warnings: list[FileWarningOut] = Field(description="Files indexed with a caveat (e.g. unreadable pages left out).")
    error: str | None = Field(description="Why the job failed; the previous index keeps serving.")
    published: bool = Field(description="Whether a new build was published (false when nothing changed).")
    previous_version: str | None
    index_version: str | None = Field(description="The index serving once the job finished.")
    documents: int | None
    passages: int | None
    pid: int | None = Field(description="The rebuild process, while it runs.")
    server_pid: int


class StoredFileOut(BaseModel):
    name: str = Field(description="The file name as sent.")
    source: str = Field(description="Where it is stored, relative to the corpus folder.")
    doc_id: str
    bytes: int
    sha256: str
    status: str = Field(description="added, updated, or unchanged (same content already indexed: nothing to do)")


class UploadOut(BaseModel):
    files: list[StoredFileOut]
    job: JobOut | None = Field(description="The rebuild that indexes the files; null when every file was unchanged.")


class DeleteOut(BaseModel):
    doc_id: str
    source: str
    file_removed: bool
    job: JobOut


class RebuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full: bool = Field(False, description="Re-parse and re-embed every file instead of only new and changed ones.")


class ReloadOut(BaseModel):
    reloaded: bool
    index_version: str
    previous_version: str


# --- helpers ------------------------------------------------------------------------------


def get_jobs(request: Request) -> JobManager:
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise HTTPException(503, "the job manager is not running (the app's lifespan has not started)")
    return jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]


def _check_corpus(snapshot: Snapshot, corpus: Path) -> None:
    """An incremental rebuild from the corpus folder drops every indexed document that is not
    in it: refuse when the served index was built from somewhere else."""
    roots = [str(Path(r)) for r in snapshot.index.manifest.get("roots") or []]
    if roots != [str(corpus)]:
        raise HTTPException(
            409,
            f"the served index was built from {', '.join(roots) or 'an unknown folder'}, not from the corpus folder "
            f"{corpus}; an incremental rebuild from {corpus} would withdraw every document that is not in it. "
            "Serve with `clausewise serve --corpus <the folder the index was built from>`, or replace the index "
            "with one built from the corpus folder: POST /index/rebuild {\"full\": true}",
        )


def _accepted(payload: dict, job: dict | None) -> JSONResponse:
    if job is None:
        return JSONResponse(payload, status_code=200)
    return JSONResponse(payload, status_code=202, headers={"Location": f"/jobs/{job['id']}"})


# --- endpoints ----------------------------------------------------------------------------

_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                  "description": "PDF, TXT, MD or HTML files (any part with a filename is taken)."},
                        "folder": {"type": "string", "description": "Sub-folder of the corpus folder, e.g. `treaties`."},
                    },
                }
            }
        },
    }
}


@router.post(
    "/documents", status_code=202, dependencies=[WriteKey], openapi_extra=_MULTIPART_BODY,
    responses={200: {"model": UploadOut, "description": "Every file already indexed with this content: no job."},
               202: {"model": UploadOut}, **ERRORS},
)
async def upload_documents(request: Request, engine: EngineDep, jobs: JobsDep) -> JSONResponse:
    """Store files under the corpus folder and start an incremental rebuild that indexes them.

    The request is all or nothing: if any file is too large (413), of a type not allowed or
    whose content does not match its extension (415), or badly named (400), nothing is stored."""
    settings = request.app.state.settings
    corpus: Path = request.app.state.corpus_dir
    _check_corpus(get_snapshot(engine), corpus)
    max_file = int(settings.max_upload_mb * 2**20)
    max_request = int(settings.max_request_mb * 2**20)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_request:
        raise HTTPException(413, f"request of {int(length) / 2**20:.1f} MB is larger than the {settings.max_request_mb:g} MB "
                                 "limit (CLAUSEWISE_MAX_REQUEST_MB)")
    reader = None
    try:
        reader = UploadReader(request.headers.get("content-type", ""), corpus, max_file, max_request, settings.max_upload_files)
        async for chunk in request.stream():
            reader.feed(chunk)
        parsed = reader.finish()
        await run_in_threadpool(check_contents, parsed.files)
        results = await run_in_threadpool(commit, corpus, parsed.files)
    except UploadError as exc:
        if reader is not None:
            await run_in_threadpool(reader.discard)
        raise HTTPException(exc.status, str(exc)) from None
    except BaseException:
        if reader is not None:
            await run_in_threadpool(reader.discard)
        raise

    from ingest.pipeline import new_doc_id

    indexed = {d.source: d for d in get_snapshot(engine).index.documents.values()}
    taken = {d.doc_id for d in indexed.values()}
    files = []
    for staged, _written in results:
        old = indexed.get(staged.source)
        status = "added" if old is None else ("unchanged" if old.file_hash == staged.sha256 else "updated")
        files.append({
            "name": staged.raw_name, "source": staged.source, "doc_id": old.doc_id if old else new_doc_id(staged.source, taken),
            "bytes": staged.size, "sha256": staged.sha256, "status": status,
        })
    changed = [f["source"] for f in files if f["status"] != "unchanged"]
    job = jobs.submit(f"upload of {', '.join(changed)}") if changed else None
    return _accepted({"files": files, "job": job}, job)


def _find_in_corpus(corpus: Path, doc_id: str, indexed: dict[str, str]) -> str | None:
    """The source of a file in the corpus folder that is not indexed (one that failed to load),
    by the id the ingestion gives it (``indexed``: source → doc_id of the indexed documents)."""
    from ingest.discover import discover
    from ingest.pipeline import new_doc_id

    if not corpus.is_dir():
        return None
    taken = set(indexed.values())
    for found in discover([corpus]).files:
        if found.source not in indexed and new_doc_id(found.source, taken) == doc_id:
            return found.source
    return None


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


@router.delete(
    "/documents/{doc_id}", status_code=202, dependencies=[WriteKey], response_model=DeleteOut, responses=ERRORS,
)
async def delete_document(doc_id: str, request: Request, engine: EngineDep, jobs: JobsDep) -> JSONResponse:
    """Withdraw a document: remove its file from the corpus folder and start a rebuild that
    drops it from the index. Also removes a file that failed to load (its `doc_id` is in the job)."""
    corpus: Path = request.app.state.corpus_dir
    snapshot = get_snapshot(engine)
    _check_corpus(snapshot, corpus)
    document = snapshot.index.documents.get(doc_id)
    if document is not None:
        source = document.source
        if len(snapshot.index.documents) == 1:
            raise HTTPException(409, f"{doc_id} is the only document in the index; an index cannot be empty. "
                                     "Upload its replacement first.")
    else:
        indexed = {d.source: d.doc_id for d in snapshot.index.documents.values()}
        source = await run_in_threadpool(_find_in_corpus, corpus, doc_id, indexed)
        if source is None:
            raise HTTPException(404, f"no document with id {doc_id!r} in the index or the corpus folder; GET /documents lists them")
    try:
        path = target_path(corpus, source)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    removed = await run_in_threadpool(_remove, path)
    job = jobs.submit(f"delete of {source}")
    return _accepted({"doc_id": doc_id, "source": source, "file_removed": removed, "job": job}, job)


@router.post("/index/rebuild", status_code=202, dependencies=[WriteKey], response_model=JobOut, responses=ERRORS)
async def rebuild_index(
    request: Request, engine: EngineDep, jobs: JobsDep, body: Annotated[RebuildIn | None, Body()] = None,
) -> JSONResponse:
    """Bring the index in line with the corpus folder (incremental), or rebuild it from scratch
    with `{"full": true}`. One rebuild runs at a time; a request while one waits joins it."""
    corpus: Path = request.app.state.corpus_dir
    full = bool(body and body.full)
    if not full:
        _check_corpus(get_snapshot(engine), corpus)
    if not corpus.is_dir():
        raise HTTPException(409, f"the corpus folder {corpus} does not exist (CLAUSEWISE_CORPUS_DIR, or serve --corpus)")
    job = jobs.submit("full rebuild" if full else "rebuild", full=full)
    return _accepted(job, job)


@router.post("/index/reload", dependencies=[WriteKey], response_model=ReloadOut, responses=ERRORS)
def reload_index(engine: EngineDep) -> ReloadOut:
    """Switch to the index's current build now, e.g. one just written by `clausewise ingest`.
    The server also does this by itself every CLAUSEWISE_RELOAD_INTERVAL_S seconds."""
    before = get_snapshot(engine).version
    try:
        snapshot, switched = engine.reload()
    except (IndexMissingError, IndexIncompatibleError) as exc:
        raise HTTPException(409, f"{exc}; the previous index keeps serving") from None
    return ReloadOut(reloaded=switched, index_version=snapshot.version, previous_version=before)


@router.get("/jobs", dependencies=[ReadKey], response_model=list[JobOut])
def list_jobs(jobs: JobsDep) -> list[dict]:
    """The latest rebuild jobs, newest first."""
    return jobs.recent()


@router.get("/jobs/{job_id}", dependencies=[ReadKey], response_model=JobOut, responses=ERRORS)
def get_job(job_id: str, jobs: JobsDep) -> dict:
    """State, progress, counts and per-file errors of a rebuild job."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return job


# --- lifespan: job manager and the watch on the index -------------------------------------


async def watch_index(engine: Engine, interval: float) -> None:
    """Switch to a build published by anyone (a job, `clausewise ingest`, another worker)."""
    broken: Path | None = None
    while True:
        await asyncio.sleep(interval)
        folder = engine.published_folder()
        if folder is None or folder == broken or engine.is_current():
            continue
        try:
            snapshot, switched = await asyncio.to_thread(engine.reload)
            if switched:
                log.info("switched to index %s", snapshot.version)
        except Exception as exc:  # keep serving the loaded build
            broken = folder
            log.warning("cannot load the published index %s, still serving the previous one: %s", folder, exc)


@asynccontextmanager
async def live_rebuilds(app: FastAPI):
    """Start the job manager and the index watch; stop them (and any running rebuild) on exit."""
    settings = app.state.settings
    engine: Engine = app.state.engine
    corpus = Path(settings.corpus_dir).resolve()
    app.state.corpus_dir = corpus
    jobs = JobManager(settings, engine, corpus, Path(engine.index_dir).resolve())
    await asyncio.to_thread(clean_staging, corpus)
    await asyncio.to_thread(jobs.recover)
    app.state.jobs = jobs
    jobs.start()
    watcher = asyncio.create_task(watch_index(engine, settings.reload_interval_s)) if settings.reload_interval_s > 0 else None
    try:
        yield
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await asyncio.to_thread(jobs.shutdown)
