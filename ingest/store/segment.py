"""One immutable segment: writing it (into ``index/.tmp-*``, then renamed into ``segments/``)
and opening it for reading. The layout is in :mod:`ingest.store.format`."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from ingest.store.dense import DensePolicy, SegmentDense, build_dense, read_dense
from ingest.store.format import (
    COLUMNS,
    DENSE,
    DOCUMENT_COLUMNS,
    LEXICAL,
    META,
    PASSAGE_COLUMNS,
    SCHEMA,
    SEGMENTS,
    TMP_PREFIX,
    VECTORS,
    SegmentRef,
)
from ingest.store.lexical import Postings
from ingest.store.vectors import StoredVectors
from ingest.types import Document, Passage

SECTIONS = "sections.json"  # the distinct sections of a segment, which ``columns.npy`` indexes
COLUMN_TYPE = np.dtype([("doc", "<i4"), ("section", "<i4"), ("start", "<i8"), ("end", "<i8"), ("hash", "S16")])


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (files created, renamed or removed in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Make every file under ``folder``, and the entries of every folder in it, durable."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)


def _write_meta(path: Path, documents: Sequence[Document], passages: Sequence[Passage]) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
            [(d.doc_id, d.source, d.title, d.kind, d.file_hash, d.pages, d.passage_count, d.chars) for d in documents],
        )
        names = [name.strip() for name in PASSAGE_COLUMNS.split(",")]
        marks = ",".join("?" * (len(names) + 1))
        db.executemany(
            f"INSERT INTO passages (row, {PASSAGE_COLUMNS}) VALUES ({marks})",
            [(row, *(_sql_value(getattr(p, name)) for name in names)) for row, p in enumerate(passages)],
        )
    db.close()


def _sql_value(value: object) -> object:
    """A passage field as SQLite stores it (flags as 0/1)."""
    return int(value) if isinstance(value, bool) else value


def _columns(documents: Sequence[Document], passages: Sequence[Passage]) -> tuple[np.ndarray, list[str]]:
    """Per row, what the reader keeps in memory: document and section (as indexes), span, hash."""
    doc_index = {d.doc_id: i for i, d in enumerate(documents)}
    sections = sorted({p.section or "" for p in passages})
    section_index = {s: i for i, s in enumerate(sections)}
    columns = np.zeros(len(passages), dtype=COLUMN_TYPE)
    columns["doc"] = [doc_index[p.doc_id] for p in passages]
    columns["section"] = [section_index[p.section or ""] for p in passages]
    columns["start"] = [p.char_start for p in passages]
    columns["end"] = [p.char_end for p in passages]
    columns["hash"] = [p.content_hash.encode() for p in passages]
    return columns, sections


def write_segment(
    index_dir: Path,
    documents: Sequence[Document],
    passages: Sequence[Passage],
    vectors: np.ndarray,
    postings: Postings,
    policy: DensePolicy,
) -> SegmentRef:
    """Write a complete segment and rename it into ``segments/``; nothing references it until
    a generation naming it is published. ``passages`` are grouped by document, in row order."""
    created = datetime.now(UTC)
    segment_id = f"{created:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f"{TMP_PREFIX}{segment_id}"
    tmp.mkdir(parents=True)
    try:
        _write_meta(tmp / META, documents, passages)
        columns, sections = _columns(documents, passages)
        np.save(tmp / COLUMNS, columns)
        (tmp / SECTIONS).write_text(json.dumps(sections, ensure_ascii=False))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        np.save(tmp / VECTORS, vectors)
        index, info = build_dense(vectors, policy)
        if index is not None:
            faiss.write_index(index, str(tmp / DENSE))
        postings.save(tmp / LEXICAL)
        fsync_tree(tmp)
        folder = index_dir / SEGMENTS
        folder.mkdir(exist_ok=True)
        os.rename(tmp, folder / segment_id)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SegmentRef(segment_id, len(passages), 0, info)


class Segment:
    """A segment opened for reading, as one generation sees it (``live``: rows not deleted)."""

    def __init__(self, folder: Path, ref: SegmentRef, deleted: np.ndarray) -> None:
        self.folder = folder
        self.ref = ref
        self._db = sqlite3.connect(f"file:{folder / META}?mode=ro", uri=True, check_same_thread=False)
        self._db_lock = threading.Lock()
        rows = self._db.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY rowid").fetchall()
        self.documents: list[Document] = [Document(*r) for r in rows]
        self.columns: np.ndarray = np.load(folder / COLUMNS, mmap_mode="r")
        self.sections: list[str] = json.loads((folder / SECTIONS).read_text())
        self.vectors = StoredVectors(folder / VECTORS)  # read, not mapped: see ingest.store.vectors
        if not (len(self.columns) == len(self.vectors) == ref.rows):
            raise ValueError(f"segment {ref.id} holds {len(self.vectors)} vectors for {ref.rows} rows")
        self.live = np.ones(ref.rows, dtype=bool)
        self.live[deleted] = False
        index = read_dense(folder / DENSE, ref.dense)
        # Exact search reads every row of the segment each question: there a memory map costs no
        # extra residency (see ingest.store.vectors), is shared by every serving process through
        # the page cache, and saves copying the segment (2.5 MB at 1,700 rows) per question.
        searched = np.load(folder / VECTORS, mmap_mode="r") if index is None else self.vectors
        self.dense = SegmentDense(searched, index, ref.dense, self.live)
        self.postings = Postings.load(folder / LEXICAL)

    def query(self, sql: str, args: Sequence[object]) -> list[tuple]:
        with self._db_lock:
            return self._db.execute(sql, args).fetchall()

    def passages(self, rows: Sequence[int]) -> dict[int, Passage]:
        """Passages by local row."""
        found: dict[int, Passage] = {}
        for start in range(0, len(rows), 500):  # SQLite's limit on bound parameters
            part = list(rows[start : start + 500])
            marks = ",".join("?" * len(part))
            for r in self.query(f"SELECT row, {PASSAGE_COLUMNS} FROM passages WHERE row IN ({marks})", part):
                found[r[0]] = Passage(*r[1:])
        return found

    def document_rows(self, doc_id: str) -> list[int]:
        return [r[0] for r in self.query("SELECT row FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,))]

    def row_of(self, passage_id: str) -> int | None:
        found = self.query("SELECT row FROM passages WHERE id = ?", (passage_id,))
        return int(found[0][0]) if found and self.live[found[0][0]] else None

    def close(self) -> None:
        self._db.close()
        self.vectors.close()
