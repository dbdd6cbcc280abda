"""The on-disk index format: folder layout, the SQLite schema and the typed :class:`Manifest`.

An index is made of immutable *segments* and a *generation* naming the live ones, as in the
Lucene family (tantivy's ``meta.json`` and delete bitsets)::

    index/
      current -> generations/<version>        symlink, swapped atomically with rename(2)
      generations/<version>/                  immutable once published
        manifest.json                         the Manifest: model, chunking, counts, and the
                                              live segments with their deletion counts
        <segment>.deleted.npy                 the segment's deleted rows (when it has any)
      segments/<id>/                          immutable once written
        meta.sqlite  columns.npy  vectors.npy  dense.faiss (large segments)  postings/
      .lock                                   held by the one writer

An ingest writes one new segment for the new and changed documents, marks the rows of the
documents they replace (or that vanished) deleted in the next generation, and publishes that
generation by replacing ``current``. Everything is written into ``index/.tmp-*`` and renamed
into place only when complete and fsynced, so a crash at any point leaves the previous
``current`` loadable; the next writer removes leftovers (:mod:`ingest.store.writer`).
:mod:`ingest.store.reader` opens a generation; :mod:`ingest.store.merge` keeps the number of
segments bounded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from ingest.errors import IndexIncompatibleError

# 1: one whole build per ingest (builds/<version>/); 2: segments and generations.
FORMAT_VERSION = 2

CURRENT = "current"  # the link to the published generation
GENERATIONS = "generations"  # the published generations, one folder each
SEGMENTS = "segments"  # the segments, one folder each
LOCK = ".lock"  # held by the one writer
TMP_PREFIX = ".tmp-"  # segments, generations and links being written

# The files of a generation.
MANIFEST = "manifest.json"
DELETED = ".deleted.npy"  # suffix of a segment's deleted-rows file, after the segment id

# The files of a segment.
META = "meta.sqlite"
COLUMNS = "columns.npy"  # per row: document, section, span and content hash, for the reader
VECTORS = "vectors.npy"
DENSE = "dense.faiss"
LEXICAL = "postings"

SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT UNIQUE NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
    file_hash TEXT NOT NULL, pages INTEGER, passage_count INTEGER NOT NULL, chars INTEGER NOT NULL
);
CREATE TABLE passages (
    row INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL REFERENCES documents,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    page_start INTEGER, page_end INTEGER, section TEXT, content_hash TEXT NOT NULL,
    ocr INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX passages_doc ON passages(doc_id, ordinal);
"""
DOCUMENT_COLUMNS = "doc_id, source, title, kind, file_hash, pages, passage_count, chars"
# In the order of :class:`~ingest.types.Passage`'s fields, so that a row is ``Passage(*row)``.
PASSAGE_COLUMNS = "id, doc_id, ordinal, text, char_start, char_end, page_start, page_end, section, content_hash, ocr"

Json = dict[str, Any]
FaissType = Literal["flat", "hnsw", "ivf"]


def _part(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A sub-object of the manifest; a missing or malformed one is a ``KeyError`` naming it
    (the reader turns it into an error that says how to rebuild)."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise KeyError(f"manifest has no {key}")
    return value


@dataclass(frozen=True)
class ModelInfo:
    """The embedding model that built the index: queries must be embedded by the same one."""

    name: str
    dimension: int
    max_seq_length: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelInfo:
        if not isinstance(data.get("name"), str):
            raise KeyError("manifest has no model")
        return cls(data["name"], int(data["dimension"]), int(data["max_seq_length"]))

    def to_json(self) -> Json:
        return {"name": self.name, "dimension": self.dimension, "max_seq_length": self.max_seq_length}


@dataclass(frozen=True)
class Chunking:
    """How passages were cut; an index cut another way is re-chunked by the next ingest.

    ``parser_version`` is ``None`` in manifests written before it was recorded (their files
    are then re-parsed, as they were before this class existed).
    """

    max_tokens: int
    overlap: int
    contextualize: bool
    tokenizer: str
    parser_version: int | None = None
    flat_max_tokens: int | None = None  # None: one size for every document (manifests before it)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Chunking:
        return cls(
            max_tokens=int(data["max_tokens"]),
            overlap=int(data["overlap"]),
            contextualize=bool(data["contextualize"]),
            tokenizer=str(data["tokenizer"]),
            parser_version=None if data.get("parser_version") is None else int(data["parser_version"]),
            flat_max_tokens=None if data.get("flat_max_tokens") is None else int(data["flat_max_tokens"]),
        )

    def to_json(self) -> Json:
        head: Json = {} if self.parser_version is None else {"parser_version": self.parser_version}
        flat: Json = {} if self.flat_max_tokens is None else {"flat_max_tokens": self.flat_max_tokens}
        return {
            **head,
            "max_tokens": self.max_tokens,
            **flat,
            "overlap": self.overlap,
            "contextualize": self.contextualize,
            "tokenizer": self.tokenizer,
        }


@dataclass(frozen=True)
class Counts:
    documents: int
    passages: int
    pages: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counts:
        return cls(int(data["documents"]), int(data["passages"]), int(data["pages"]))

    def to_json(self) -> Json:
        return {"documents": self.documents, "passages": self.passages, "pages": self.pages}


@dataclass(frozen=True)
class FaissInfo:
    """The FAISS index type and the parameters it was built with (``None``: not used by it)."""

    type: FaissType
    m: int | None = None  # hnsw
    ef_search: int | None = None  # hnsw
    nlist: int | None = None  # ivf
    nprobe: int | None = None  # ivf

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaissInfo:
        kind = data["type"]
        if kind not in ("flat", "hnsw", "ivf"):
            raise ValueError(f"unknown FAISS index type {kind!r}")
        numbers = {key: int(data[key]) for key in ("m", "ef_search", "nlist", "nprobe") if data.get(key) is not None}
        return cls(type=cast(FaissType, kind), **numbers)

    def to_json(self) -> Json:
        found = {
            "type": self.type,
            "m": self.m,
            "ef_search": self.ef_search,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
        }
        return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class SegmentRef:
    """One live segment of a generation: its folder name under ``segments/``, how many rows
    it holds, how many of them this generation deletes, and the dense index it carries."""

    id: str
    rows: int
    deleted: int
    dense: FaissInfo

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentRef:
        return cls(str(data["id"]), int(data["rows"]), int(data["deleted"]), FaissInfo.from_json(_part(data, "dense")))

    def to_json(self) -> Json:
        return {"id": self.id, "rows": self.rows, "deleted": self.deleted, "dense": self.dense.to_json()}

    @property
    def live(self) -> int:
        return self.rows - self.deleted


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of one generation, typed. :meth:`to_json` gives back the JSON object
    it was read from (same keys, same order), which ``clausewise info --json`` prints.

    ``faiss`` is the dense policy the writer applied (the approximate type large segments
    get, or ``flat`` for exact search everywhere); each segment records its own index.
    ``parent`` is the generation that was current when this one was published: the writer
    keeps both (a reader may still hold the parent) and removes the rest.
    """

    index_version: str  # build time to the millisecond and content digest: never shared by two builds
    created_at: str  # ISO 8601, UTC
    model: ModelInfo
    chunking: Chunking
    counts: Counts
    content_digest: str  # of the model, the chunking and every (source, file hash)
    roots: tuple[str, ...] = ()  # the folders ingested, resolved
    faiss: FaissInfo | None = None  # set by the writer when it builds the dense index
    segments: tuple[SegmentRef, ...] = ()  # set by the writer when it publishes
    parent: str | None = None  # set by the writer when it publishes
    format_version: int = FORMAT_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)  # keys unknown here, kept as read

    @classmethod
    def from_json(cls, data: Mapping[str, Any], folder: Path | None = None) -> Manifest:
        """Parse a manifest object. Another ``format_version`` is an
        :class:`~ingest.errors.IndexIncompatibleError` naming the fix; a missing or malformed
        field is a ``KeyError``, ``TypeError`` or ``ValueError``."""
        found = data.get("format_version")
        if found != FORMAT_VERSION:
            raise incompatible_format(folder, found)
        faiss = data.get("faiss")
        known = {
            "format_version",
            "index_version",
            "created_at",
            "model",
            "chunking",
            "counts",
            "content_digest",
            "roots",
            "faiss",
            "segments",
            "parent",
        }
        return cls(
            format_version=FORMAT_VERSION,
            index_version=str(data["index_version"]),
            created_at=str(data["created_at"]),
            model=ModelInfo.from_json(_part(data, "model")),
            chunking=Chunking.from_json(_part(data, "chunking")),
            counts=Counts.from_json(_part(data, "counts")),
            content_digest=str(data["content_digest"]),
            roots=tuple(str(root) for root in data.get("roots") or ()),
            faiss=None if faiss is None else FaissInfo.from_json(_part(data, "faiss")),
            segments=tuple(SegmentRef.from_json(segment) for segment in data.get("segments") or ()),
            parent=None if data.get("parent") is None else str(data["parent"]),
            extra={key: value for key, value in data.items() if key not in known},
        )

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read ``path`` (a generation's ``manifest.json``)."""
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise TypeError("manifest is not a JSON object")
        return cls.from_json(data, path.parent)

    def to_json(self) -> Json:
        data: Json = {
            "format_version": self.format_version,
            "index_version": self.index_version,
            "created_at": self.created_at,
            "model": self.model.to_json(),
            "chunking": self.chunking.to_json(),
            "counts": self.counts.to_json(),
            "content_digest": self.content_digest,
            "roots": list(self.roots),
        }
        if self.faiss is not None:
            data["faiss"] = self.faiss.to_json()
        data["segments"] = [segment.to_json() for segment in self.segments]
        if self.parent is not None:
            data["parent"] = self.parent
        return {**data, **self.extra}

    def dumps(self) -> str:
        """The text of ``manifest.json``, as the writer writes it and ``info --json`` prints it."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def incompatible_format(folder: Path | None, found: object) -> IndexIncompatibleError:
    where = f"index in {folder}" if folder is not None else "index"
    return IndexIncompatibleError(
        f"{where} has format version {found!r}; this clausewise reads version "
        f"{FORMAT_VERSION}. Rebuild it with `clausewise ingest PATH --rebuild`."
    )


def deleted_file(generation: Path, segment_id: str) -> Path:
    """Where a generation keeps the deleted rows of one of its segments."""
    return generation / f"{segment_id}{DELETED}"
