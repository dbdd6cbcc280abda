"""The on-disk index: FAISS vectors, BM25, SQLite metadata and a manifest, published atomically.

Layout of an index folder::

    index/
      current -> builds/<version>     symlink, swapped atomically with rename(2)
      builds/<version>/               immutable once published
        manifest.json  meta.sqlite  vectors.npy  dense.faiss  bm25/
      .lock                           held by the one writer

A build is written into ``index/.tmp-*`` and renamed into ``builds/`` only when complete; then
a new symlink replaces ``current`` in one rename. A crash or Ctrl-C at any point leaves the
previous ``current`` untouched and loadable; leftovers are removed by the next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

from ingest.store.lexical import LexicalIndex
from ingest.types import Document, Passage

FORMAT_VERSION = 1
CURRENT = "current"
BUILDS = "builds"
KEEP_BUILDS = 2  # the current build and the one before it, for readers still holding it


class IndexMissingError(Exception):
    """No index where one was expected."""


class IndexIncompatibleError(Exception):
    """An index this code cannot read, or one built with another model."""


class IndexBusyError(Exception):
    """Another process is writing this index."""


_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT UNIQUE NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
    file_hash TEXT NOT NULL, pages INTEGER, passage_count INTEGER NOT NULL, chars INTEGER NOT NULL
);
CREATE TABLE passages (
    row INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL REFERENCES documents,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    page_start INTEGER, page_end INTEGER, section TEXT, content_hash TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id, ordinal);
"""
_PASSAGE_COLUMNS = "id, doc_id, ordinal, text, char_start, char_end, page_start, page_end, section, content_hash"


def contextual_text(passage: Passage, title: str) -> str:
    """What gets embedded and BM25-indexed: the passage under its document title and section."""
    head = f"{title} — {passage.section}" if passage.section else title
    return f"{head}\n{passage.text}"


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(f"another process is writing the index in {index_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_faiss(vectors: np.ndarray, kind: str, params: dict) -> tuple[faiss.Index, dict]:
    n, dim = vectors.shape
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = params["hnsw_ef_search"]
        index.add(vectors)
        return index, {"type": "hnsw", "m": params["hnsw_m"], "ef_search": params["hnsw_ef_search"]}
    if kind == "ivf":
        nlist = max(1, int(4 * np.sqrt(n)))
        if n >= 39 * nlist:
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            index.add(vectors)
            index.nprobe = params["ivf_nprobe"]
            return index, {"type": "ivf", "nlist": nlist, "nprobe": params["ivf_nprobe"]}
        # Too few vectors to train clusters: exact search is cheap anyway (falls through).
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    return index, {"type": "flat"}


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (files created, renamed or removed in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)


def clean_leftovers(index_dir: Path) -> None:
    """Remove unfinished builds (``.tmp-*``) and builds older than the last ``KEEP_BUILDS``."""
    for tmp in index_dir.glob(".tmp-*"):
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


def write_index(
    index_dir: Path,
    manifest: dict,
    documents: list[Document],
    passages: list[Passage],
    vectors: np.ndarray,
    lexical_texts: list[str],
    faiss_kind: str,
    faiss_params: dict,
) -> Path:
    """Write a complete build and publish it as ``current``. Call under :func:`write_lock`."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        db = sqlite3.connect(tmp / "meta.sqlite")
        with db:
            db.executescript(_SCHEMA)
            db.executemany(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                [(d.doc_id, d.source, d.title, d.kind, d.file_hash, d.pages, d.passage_count, d.chars) for d in documents],
            )
            db.executemany(
                f"INSERT INTO passages (row, {_PASSAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (row, p.id, p.doc_id, p.ordinal, p.text, p.char_start, p.char_end,
                     p.page_start, p.page_end, p.section, p.content_hash)
                    for row, p in enumerate(passages)
                ],
            )
        db.close()
        np.save(tmp / "vectors.npy", vectors)
        index, faiss_info = _build_faiss(vectors, faiss_kind, faiss_params)
        faiss.write_index(index, str(tmp / "dense.faiss"))
        LexicalIndex.build(lexical_texts).save(tmp / "bm25")
        manifest = {**manifest, "faiss": faiss_info}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        _fsync_tree(tmp)
        builds = index_dir / BUILDS
        builds.mkdir(exist_ok=True)
        final = builds / manifest["index_version"]
        if final.exists():
            final = builds / f"{manifest['index_version']}-{uuid.uuid4().hex[:6]}"
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = index_dir / f".tmp-link-{uuid.uuid4().hex[:8]}"
    os.symlink(Path(BUILDS) / final.name, link_tmp)
    os.replace(link_tmp, index_dir / CURRENT)  # the atomic switch
    clean_leftovers(index_dir)
    return final


def current_build(index_dir: Path) -> Path:
    link = index_dir / CURRENT
    if not (link / "manifest.json").is_file():
        raise IndexMissingError(
            f"no index in {index_dir}: build one with `clausewise ingest PATH --index {index_dir}`"
        )
    return link.resolve()


def read_manifest(index_dir: Path) -> dict:
    return json.loads((current_build(index_dir) / "manifest.json").read_text())


class StoredIndex:
    """A published build opened for reading: everything needed to search and cite.

    It pins the build folder it resolved at open time, so a writer publishing a new build
    never changes what an open ``StoredIndex`` sees.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest: dict = json.loads((folder / "manifest.json").read_text())
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IncompatibleFormat(folder, self.manifest.get("format_version"))
        self._db = sqlite3.connect(f"file:{folder / 'meta.sqlite'}?mode=ro", uri=True, check_same_thread=False)
        self._db_lock = threading.Lock()
        rows = self._db.execute(
            "SELECT doc_id, source, title, kind, file_hash, pages, passage_count, chars FROM documents ORDER BY source"
        ).fetchall()
        self.documents: dict[str, Document] = {r[0]: Document(*r) for r in rows}
        meta = self._db.execute(
            "SELECT id, doc_id, section, char_start, char_end, content_hash FROM passages ORDER BY row"
        ).fetchall()
        self.passage_ids: list[str] = [m[0] for m in meta]
        self.row_of: dict[str, int] = {pid: row for row, pid in enumerate(self.passage_ids)}
        doc_order = {doc_id: i for i, doc_id in enumerate(self.documents)}
        self.doc_ids: list[str] = list(self.documents)
        self.passage_doc = np.fromiter((doc_order[m[1]] for m in meta), dtype=np.int32, count=len(meta))
        sections = sorted({m[2] or "" for m in meta})
        section_index = {s: i for i, s in enumerate(sections)}
        self.sections = sections
        self.passage_section = np.fromiter((section_index[m[2] or ""] for m in meta), dtype=np.int32, count=len(meta))
        self.passage_span = np.array([(m[3], m[4]) for m in meta], dtype=np.int64).reshape(-1, 2)
        self.passage_hash: list[str] = [m[5] for m in meta]
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.dense = faiss.read_index(str(folder / "dense.faiss"))
        self.lexical = LexicalIndex.load(folder / "bm25", len(meta))

    @classmethod
    def open(cls, index_dir: Path) -> "StoredIndex":
        """The current build of ``index_dir``. A damaged or partly copied build (unreadable
        manifest, missing files, no model recorded) is an :class:`IndexIncompatibleError`
        naming the fix, not whatever the JSON, SQLite, FAISS or numpy reader raised."""
        folder = current_build(index_dir)
        try:
            index = cls(folder)
        except IndexIncompatibleError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, sqlite3.Error) as exc:
            raise _unreadable(index_dir, exc) from exc
        model = index.manifest.get("model")
        if not isinstance(model, dict) or "name" not in model:
            index.close()
            raise _unreadable(index_dir, KeyError("manifest has no model"))
        return index

    @property
    def version(self) -> str:
        return self.manifest["index_version"]

    def __len__(self) -> int:
        return len(self.passage_ids)

    def passages(self, rows: list[int]) -> list[Passage]:
        """Passages by row, in the order asked."""
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        with self._db_lock:
            found = self._db.execute(
                f"SELECT row, {_PASSAGE_COLUMNS} FROM passages WHERE row IN ({marks})", rows
            ).fetchall()
        by_row = {r[0]: Passage(*r[1:]) for r in found}
        return [by_row[row] for row in rows]

    def document_passages(self, doc_id: str) -> list[Passage]:
        with self._db_lock:
            found = self._db.execute(
                f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
            ).fetchall()
        return [Passage(*r) for r in found]

    def with_neighbours(self, passage_id: str, context: int) -> tuple[Passage, list[Passage], list[Passage]] | None:
        """A passage with up to ``context`` passages before and after it in its document."""
        row = self.row_of.get(passage_id)
        if row is None:
            return None
        passage = self.passages([row])[0]
        rows = self.document_rows(passage.doc_id)
        at = passage.ordinal
        before = self.passages(rows[max(0, at - context): at]) if context else []
        after = self.passages(rows[at + 1: at + 1 + context]) if context else []
        return passage, before, after

    def document_rows(self, doc_id: str) -> list[int]:
        with self._db_lock:
            return [r[0] for r in self._db.execute("SELECT row FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,))]

    def mask(self, source: str | None = None, doc_ids: list[str] | None = None, section: str | None = None) -> np.ndarray | None:
        """Boolean mask of the passages matching every given filter, or ``None`` for no filter."""
        if source is None and doc_ids is None and section is None:
            return None
        keep_docs = np.ones(len(self.doc_ids), dtype=bool)
        if source is not None:
            keep_docs &= np.array([_source_matches(self.documents[d].source, source) for d in self.doc_ids], dtype=bool)
        if doc_ids is not None:
            wanted = set(doc_ids)
            keep_docs &= np.array([d in wanted for d in self.doc_ids], dtype=bool)
        mask = keep_docs[self.passage_doc] if len(self.doc_ids) else np.zeros(len(self), dtype=bool)
        if section is not None:
            needle = section.casefold()
            keep_sections = np.array([needle in s.casefold() for s in self.sections], dtype=bool)
            mask &= keep_sections[self.passage_section]
        return mask

    def close(self) -> None:
        self._db.close()


def _unreadable(index_dir: Path, exc: Exception) -> IndexIncompatibleError:
    return IndexIncompatibleError(
        f"the index in {index_dir} cannot be read ({type(exc).__name__}: {exc}); rebuild it with "
        f"`clausewise ingest PATH --rebuild --index {index_dir}`"
    )


def _source_matches(source: str, pattern: str) -> bool:
    """The ``source`` filter: an exact relative path, or a glob whose ``*`` stays inside one
    folder level (``treaties/*.pdf`` does not reach ``treaties/old/x.pdf``). A pattern without
    a ``/`` matches the file name at any depth, as in .gitignore, so ``x.pdf`` and ``*.pdf``
    work whatever folder was ingested."""
    if source == pattern:
        return True
    parts, wanted = source.split("/"), pattern.strip("/").split("/")
    if len(wanted) == 1:
        return fnmatch.fnmatchcase(parts[-1], wanted[0])
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted))


class IncompatibleFormat(IndexIncompatibleError):
    def __init__(self, folder: Path, found: object) -> None:
        super().__init__(
            f"index in {folder} has format version {found!r}; this clausewise reads version "
            f"{FORMAT_VERSION}. Rebuild it with `clausewise ingest PATH --rebuild`."
        )
