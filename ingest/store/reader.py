"""Reading a published generation: :class:`StoredIndex` holds everything needed to search and cite.

The read side (:mod:`service`) stands on this module; nothing here writes (see
:mod:`ingest.store.writer`). The layout and the manifest are in :mod:`ingest.store.format`.

A generation's live passages are numbered 0..n-1 ("rows"), segment after segment in the
order the manifest lists them, deleted rows left out; per-row arrays (document, section,
span, hash) are assembled from each segment's memory-mapped ``columns.npy``, so opening a
million-passage index reads no passage text.
"""

from __future__ import annotations

import fnmatch
import sqlite3
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from ingest.errors import IndexIncompatibleError, IndexMissingError
from ingest.store.dense import top_n
from ingest.store.format import CURRENT, MANIFEST, SEGMENTS, Manifest, deleted_file
from ingest.store.lexical import IMPACT_CACHE_BYTES, LexicalIndex
from ingest.store.segment import Segment
from ingest.types import Document, Passage


def current_build(index_dir: Path) -> Path:
    """The generation folder ``index_dir/current`` points to."""
    link = index_dir / CURRENT
    if not (link / MANIFEST).is_file():
        raise IndexMissingError(f"no index in {index_dir}: build one with `clausewise ingest PATH --index {index_dir}`")
    return link.resolve()


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of the current generation, without opening the rest of it."""
    try:
        return Manifest.load(current_build(index_dir) / MANIFEST)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _unreadable(index_dir, exc) from exc


class StoredIndex:
    """A published generation opened for reading: everything needed to search and cite.

    It pins the generation folder it resolved at open time (and through it immutable
    segments), so a writer publishing a new generation never changes what it sees.
    """

    def __init__(self, folder: Path, lexical_cache_bytes: int = IMPACT_CACHE_BYTES) -> None:
        """``lexical_cache_bytes``: what BM25 may keep of its words' contributions
        (:class:`~ingest.store.lexical.LexicalIndex`)."""
        self.folder = folder
        self.lexical_cache_bytes = lexical_cache_bytes
        self.manifest: Manifest = Manifest.load(folder / MANIFEST)
        self.segments: list[Segment] = []
        try:
            for ref in self.manifest.segments:
                gone = np.load(deleted_file(folder, ref.id)) if ref.deleted else np.zeros(0, np.int32)
                self.segments.append(Segment(folder.parent.parent / SEGMENTS / ref.id, ref, gone))
            self._assemble()
        except BaseException:
            self.close()
            raise

    def _assemble(self) -> None:
        """The generation's row space and its per-row arrays, from the segments'."""
        self._live = [np.flatnonzero(s.live) for s in self.segments]
        self._offsets = np.cumsum([0] + [len(live) for live in self._live])
        self._row_local = np.concatenate(self._live) if self._live else np.zeros(0, np.int64)
        self.global_rows: list[np.ndarray] = []  # per segment: local row → row here, or -1
        for live, start, segment in zip(self._live, self._offsets, self.segments):
            mapping = np.full(segment.ref.rows, -1, dtype=np.int64)
            mapping[live] = start + np.arange(len(live))
            self.global_rows.append(mapping)
        # Documents: those with live rows, by source; a document lives in one segment.
        self._doc_segment: dict[str, int] = {}
        found: dict[str, Document] = {}
        local_docs = []
        for s, (segment, live) in enumerate(zip(self.segments, self._live)):
            docs_here = np.asarray(segment.columns["doc"])[live]
            alive = np.flatnonzero(np.bincount(docs_here, minlength=len(segment.documents)))
            for i in alive:
                document = segment.documents[i]
                found[document.doc_id] = document
                self._doc_segment[document.doc_id] = s
            local_docs.append(docs_here)
        self.documents: dict[str, Document] = dict(sorted(found.items(), key=lambda item: item[1].source))
        self.doc_ids: list[str] = list(self.documents)
        doc_order = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        sections = sorted({s for segment in self.segments for s in segment.sections})
        section_order = {s: i for i, s in enumerate(sections)}
        self.sections: list[str] = sections
        docs, secs, spans, hashes = [], [], [], []
        for segment, live, here in zip(self.segments, self._live, local_docs):
            to_doc = np.array([doc_order.get(d.doc_id, -1) for d in segment.documents], dtype=np.int32)
            to_section = np.array([section_order[s] for s in segment.sections], dtype=np.int32)
            columns = segment.columns
            docs.append(to_doc[here] if len(here) else np.zeros(0, np.int32))
            secs.append(to_section[np.asarray(columns["section"])[live]] if len(live) else np.zeros(0, np.int32))
            spans.append(np.stack([np.asarray(columns["start"])[live], np.asarray(columns["end"])[live]], axis=1))
            hashes.append(np.asarray(columns["hash"])[live])
        self.passage_doc = np.concatenate(docs) if docs else np.zeros(0, np.int32)
        self.passage_section = np.concatenate(secs) if secs else np.zeros(0, np.int32)
        self.passage_span = np.concatenate(spans) if spans else np.zeros((0, 2), np.int64)
        self.passage_hash = np.concatenate(hashes) if hashes else np.zeros(0, "S16")
        # Each row's place in (document by source, offset) order: equal scores are ranked by it,
        # so how the passages are spread over segments never changes a ranking.
        self.canonical = np.empty(len(self.passage_doc), dtype=np.int64)
        self.canonical[np.lexsort((self.passage_span[:, 0], self.passage_doc))] = np.arange(len(self.passage_doc))

    @classmethod
    def open(cls, index_dir: Path, lexical_cache_bytes: int = IMPACT_CACHE_BYTES) -> StoredIndex:
        """The current generation of ``index_dir``. A damaged or partly copied index
        (unreadable manifest, missing files, no model recorded) is an
        :class:`IndexIncompatibleError` naming the fix, not whatever the JSON, SQLite, FAISS
        or numpy reader raised."""
        folder = current_build(index_dir)
        try:
            return cls(folder, lexical_cache_bytes)
        except IndexIncompatibleError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, sqlite3.Error) as exc:
            raise _unreadable(index_dir, exc) from exc

    @property
    def version(self) -> str:
        return self.manifest.index_version

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @cached_property
    def lexical(self) -> LexicalIndex:
        """BM25 over every live passage, with the whole generation's statistics."""
        parts = [(s.postings, rows) for s, rows in zip(self.segments, self.global_rows)]
        return LexicalIndex(parts, len(self), self.lexical_cache_bytes)

    def drop_caches(self) -> None:
        """Let go of what BM25 keeps of its words (a generation being replaced): a request
        still on this generation computes the words it uses again, with the same scores."""
        if "lexical" in vars(self):  # never built: nothing to drop, and nothing to build
            self.lexical.drop_cache()

    def _locate(self, rows: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's segment and local row."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows outside 0..{len(self) - 1}")
        return np.searchsorted(self._offsets, rows, side="right") - 1, self._row_local[rows]

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        """Passages by row, in the order asked."""
        if not len(rows):
            return []
        where, local = self._locate(rows)
        found: dict[tuple[int, int], Passage] = {}
        for s in np.unique(where):
            for row, passage in self.segments[s].passages(local[where == s].tolist()).items():
                found[(int(s), row)] = passage
        return [found[(int(s), int(r))] for s, r in zip(where, local)]

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``rows`` (a copy of those rows only)."""
        where, local = self._locate(rows)
        out = np.zeros((len(local), self.manifest.model.dimension), dtype=np.float32)
        for s in np.unique(where):
            out[where == s] = self.segments[s].vectors[local[where == s]]
        return out

    def dense_search(self, query: np.ndarray, n: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` rows nearest ``query`` (among those ``mask`` keeps), best first, and their scores."""
        rows_found, scores_found = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
        for segment, live, start, mapping in zip(self.segments, self._live, self._offsets, self.global_rows):
            if not len(live):
                continue
            wanted = None
            if mask is not None:
                wanted = live[mask[start : start + len(live)]]
                if not len(wanted):
                    continue
            local, scores = segment.dense.search(query, n, wanted)
            rows_found.append(mapping[local])
            scores_found.append(scores.astype(np.float32))
        return top_n(np.concatenate(scores_found), np.concatenate(rows_found), n, self.canonical)

    def document_passages(self, doc_id: str) -> list[Passage]:
        rows = self.document_rows(doc_id)
        return self.passages(rows)

    def segment_of(self, doc_id: str) -> int | None:
        """The position of the segment holding a live document."""
        return self._doc_segment.get(doc_id)

    def document_rows(self, doc_id: str) -> list[int]:
        s = self._doc_segment.get(doc_id)
        if s is None:
            return []
        return [int(self.global_rows[s][r]) for r in self.segments[s].document_rows(doc_id)]

    def row_of(self, passage_id: str) -> int | None:
        """The row of a live passage by id (``None``: no such passage here)."""
        for segment, mapping in zip(self.segments, self.global_rows):
            local = segment.row_of(passage_id)
            if local is not None:
                return int(mapping[local])
        return None

    def with_neighbours(self, passage_id: str, context: int) -> tuple[Passage, list[Passage], list[Passage]] | None:
        """A passage with up to ``context`` passages before and after it in its document."""
        row = self.row_of(passage_id)
        if row is None:
            return None
        passage = self.passages([row])[0]
        rows = self.document_rows(passage.doc_id)
        at = passage.ordinal
        before = self.passages(rows[max(0, at - context) : at]) if context else []
        after = self.passages(rows[at + 1 : at + 1 + context]) if context else []
        return passage, before, after

    def mask(
        self, source: str | None = None, doc_ids: list[str] | None = None, section: str | None = None
    ) -> np.ndarray | None:
        """Boolean mask of the passages matching every given filter, or ``None`` for no filter."""
        if source is None and doc_ids is None and section is None:
            return None
        keep_docs = np.ones(len(self.doc_ids), dtype=bool)
        if source is not None:
            keep_docs &= np.array([source_matches(self.documents[d].source, source) for d in self.doc_ids], dtype=bool)
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
        for segment in self.segments:
            segment.close()


def _unreadable(index_dir: Path, exc: Exception) -> IndexIncompatibleError:
    return IndexIncompatibleError(
        f"the index in {index_dir} cannot be read ({type(exc).__name__}: {exc}); rebuild it with "
        f"`clausewise ingest PATH --rebuild --index {index_dir}`"
    )


def source_matches(source: str, pattern: str) -> bool:
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
