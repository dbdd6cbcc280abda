"""Reading a published build: :class:`StoredIndex` holds everything needed to search and cite.

The read side (:mod:`service`) stands on this module; nothing here writes (see
:mod:`ingest.store.writer`). The layout and the manifest are in :mod:`ingest.store.format`.
"""

from __future__ import annotations

import fnmatch
import sqlite3
import threading
from pathlib import Path

import faiss
import numpy as np

from ingest.errors import IndexIncompatibleError, IndexMissingError
from ingest.store.format import (
    CURRENT,
    DENSE,
    DOCUMENT_COLUMNS,
    LEXICAL,
    MANIFEST,
    META,
    PASSAGE_COLUMNS,
    VECTORS,
    Manifest,
)
from ingest.store.lexical import LexicalIndex
from ingest.types import Document, Passage


def current_build(index_dir: Path) -> Path:
    """The build folder ``index_dir/current`` points to."""
    link = index_dir / CURRENT
    if not (link / MANIFEST).is_file():
        raise IndexMissingError(f"no index in {index_dir}: build one with `clausewise ingest PATH --index {index_dir}`")
    return link.resolve()


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of the current build, without opening the rest of it."""
    try:
        return Manifest.load(current_build(index_dir) / MANIFEST)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _unreadable(index_dir, exc) from exc


class StoredIndex:
    """A published build opened for reading: everything needed to search and cite.

    It pins the build folder it resolved at open time, so a writer publishing a new build
    never changes what an open ``StoredIndex`` sees.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest: Manifest = Manifest.load(folder / MANIFEST)
        self._db = sqlite3.connect(f"file:{folder / META}?mode=ro", uri=True, check_same_thread=False)
        self._db_lock = threading.Lock()
        rows = self._db.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY source").fetchall()
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
        self.sections: list[str] = sections
        self.passage_section = np.fromiter((section_index[m[2] or ""] for m in meta), dtype=np.int32, count=len(meta))
        self.passage_span = np.array([(m[3], m[4]) for m in meta], dtype=np.int64).reshape(-1, 2)
        self.passage_hash: list[str] = [m[5] for m in meta]
        self.vectors: np.ndarray = np.load(folder / VECTORS, mmap_mode="r")
        self.dense: faiss.Index = faiss.read_index(str(folder / DENSE))
        self.lexical = LexicalIndex.load(folder / LEXICAL, len(meta))

    @classmethod
    def open(cls, index_dir: Path) -> StoredIndex:
        """The current build of ``index_dir``. A damaged or partly copied build (unreadable
        manifest, missing files, no model recorded) is an :class:`IndexIncompatibleError`
        naming the fix, not whatever the JSON, SQLite, FAISS or numpy reader raised."""
        folder = current_build(index_dir)
        try:
            return cls(folder)
        except IndexIncompatibleError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, sqlite3.Error) as exc:
            raise _unreadable(index_dir, exc) from exc

    @property
    def version(self) -> str:
        return self.manifest.index_version

    def __len__(self) -> int:
        return len(self.passage_ids)

    def passages(self, rows: list[int]) -> list[Passage]:
        """Passages by row, in the order asked."""
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        with self._db_lock:
            found = self._db.execute(
                f"SELECT row, {PASSAGE_COLUMNS} FROM passages WHERE row IN ({marks})", rows
            ).fetchall()
        by_row = {r[0]: Passage(*r[1:]) for r in found}
        return [by_row[row] for row in rows]

    def document_passages(self, doc_id: str) -> list[Passage]:
        with self._db_lock:
            found = self._db.execute(
                f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
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
        before = self.passages(rows[max(0, at - context) : at]) if context else []
        after = self.passages(rows[at + 1 : at + 1 + context]) if context else []
        return passage, before, after

    def document_rows(self, doc_id: str) -> list[int]:
        with self._db_lock:
            return [
                r[0] for r in self._db.execute("SELECT row FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
            ]

    def mask(
        self, source: str | None = None, doc_ids: list[str] | None = None, section: str | None = None
    ) -> np.ndarray | None:
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
