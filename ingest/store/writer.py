"""Writing a build and publishing it atomically, under the one writer's lock.

A build is written into ``index/.tmp-*``, fsynced, renamed into ``builds/`` and only then made
``current`` by replacing the link in one rename (the layout is in :mod:`ingest.store.format`).
A crash or Ctrl-C at any point leaves the previous ``current`` untouched; the next writer
removes the leftovers (:func:`clean_leftovers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ingest.errors import IndexBusyError
from ingest.settings import Settings
from ingest.store.format import (
    BUILDS,
    CURRENT,
    DENSE,
    KEEP_BUILDS,
    LEXICAL,
    LOCK,
    MANIFEST,
    META,
    PASSAGE_COLUMNS,
    SCHEMA,
    TMP_PREFIX,
    VECTORS,
    FaissInfo,
    FaissType,
    Manifest,
)
from ingest.store.lexical import LexicalIndex
from ingest.types import Document, Passage


def contextual_text(passage: Passage, title: str) -> str:
    """What gets embedded and BM25-indexed: the passage under its document title and section."""
    head = f"{title} — {passage.section}" if passage.section else title
    return f"{head}\n{passage.text}"


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock, or raise :class:`~ingest.errors.IndexBusyError` at once."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(f"another process is writing the index in {index_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class FaissParams:
    """Which FAISS index to build, and the tunables of the approximate ones."""

    kind: FaissType
    hnsw_m: int
    hnsw_ef_search: int
    ivf_nprobe: int

    @classmethod
    def of(cls, settings: Settings) -> FaissParams:
        return cls(settings.faiss_index, settings.hnsw_m, settings.hnsw_ef_search, settings.ivf_nprobe)


def _build_faiss(vectors: np.ndarray, params: FaissParams) -> tuple[faiss.Index, FaissInfo]:
    n, dim = vectors.shape
    if params.kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 200
        hnsw.hnsw.efSearch = params.hnsw_ef_search
        hnsw.add(vectors)
        return hnsw, FaissInfo("hnsw", m=params.hnsw_m, ef_search=params.hnsw_ef_search)
    if params.kind == "ivf":
        nlist = max(1, int(4 * np.sqrt(n)))
        if n >= 39 * nlist:
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.train(vectors)
            ivf.add(vectors)
            ivf.nprobe = params.ivf_nprobe
            return ivf, FaissInfo("ivf", nlist=nlist, nprobe=params.ivf_nprobe)
        # Too few vectors to train clusters: exact search is cheap anyway (falls through).
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    return flat, FaissInfo("flat")


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (files created, renamed or removed in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Make every file under ``folder``, and the folder's own entries, durable."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)


def clean_leftovers(index_dir: Path) -> None:
    """Remove unfinished builds (``.tmp-*``) and builds older than the last ``KEEP_BUILDS``."""
    for tmp in index_dir.glob(f"{TMP_PREFIX}*"):
        if tmp.is_symlink():  # a `current` link never renamed into place
            tmp.unlink(missing_ok=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    builds = index_dir / BUILDS
    if not builds.is_dir():
        return
    current = (index_dir / CURRENT).resolve() if (index_dir / CURRENT).exists() else None
    published = sorted((p for p in builds.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in published[:-KEEP_BUILDS]:
        if old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)


def _write_meta(path: Path, documents: list[Document], passages: list[Passage]) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
            [(d.doc_id, d.source, d.title, d.kind, d.file_hash, d.pages, d.passage_count, d.chars) for d in documents],
        )
        db.executemany(
            f"INSERT INTO passages (row, {PASSAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    row,
                    p.id,
                    p.doc_id,
                    p.ordinal,
                    p.text,
                    p.char_start,
                    p.char_end,
                    p.page_start,
                    p.page_end,
                    p.section,
                    p.content_hash,
                )
                for row, p in enumerate(passages)
            ],
        )
    db.close()


def _write_build(
    tmp: Path,
    manifest: Manifest,
    documents: list[Document],
    passages: list[Passage],
    vectors: np.ndarray,
    lexical_texts: list[str],
    faiss_params: FaissParams,
) -> Manifest:
    """Every file of a build into ``tmp``, fsynced; the manifest as written (with its FAISS part)."""
    _write_meta(tmp / META, documents, passages)
    np.save(tmp / VECTORS, vectors)
    index, faiss_info = _build_faiss(vectors, faiss_params)
    faiss.write_index(index, str(tmp / DENSE))
    LexicalIndex.build(lexical_texts).save(tmp / LEXICAL)
    manifest = dataclasses.replace(manifest, faiss=faiss_info)
    (tmp / MANIFEST).write_text(manifest.dumps())
    fsync_tree(tmp)
    return manifest


def write_index(
    index_dir: Path,
    manifest: Manifest,
    documents: list[Document],
    passages: list[Passage],
    vectors: np.ndarray,
    lexical_texts: list[str],
    faiss_params: FaissParams,
) -> Path:
    """Write a complete build and publish it as ``current``. Call under :func:`write_lock`."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        manifest = _write_build(tmp, manifest, documents, passages, vectors, lexical_texts, faiss_params)
        builds = index_dir / BUILDS
        builds.mkdir(exist_ok=True)
        final = builds / manifest.index_version
        if final.exists():
            final = builds / f"{manifest.index_version}-{uuid.uuid4().hex[:6]}"
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = index_dir / f"{TMP_PREFIX}link-{uuid.uuid4().hex[:8]}"
    os.symlink(Path(BUILDS) / final.name, link_tmp)
    os.replace(link_tmp, index_dir / CURRENT)  # the atomic switch
    clean_leftovers(index_dir)
    return final
