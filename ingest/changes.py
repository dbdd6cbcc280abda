"""What an incremental run changes, decided file by file before anything is embedded.

:func:`sort_out` compares the files found with the documents of the current build (by content
hash) and records in the :class:`IngestReport` which are unchanged, which cannot be read and
which are gone; :func:`assign_doc_ids` gives every source its document id (an indexed source
keeps its own); :func:`parse` loads, cleans and chunks the new and changed files; and
:func:`assemble` lays out the documents and passages of the next build. The run itself, and
the embedding and publishing, are :mod:`ingest.pipeline`'s.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingest.chunker import ChunkParams, TokenOffsets, chunk
from ingest.discover import FoundFile
from ingest.errors import LoadError
from ingest.loaders import load
from ingest.store.format import Chunking
from ingest.store.reader import StoredIndex
from ingest.structure import build
from ingest.types import Document, Passage

if TYPE_CHECKING:
    from ingest.pipeline import Progress


@dataclass
class IngestReport:
    """What one run did, file by file (sources relative to their folder), and the index it
    left current; filled in step by step and returned by :func:`ingest.pipeline.ingest`."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    doc_ids: dict[str, str] = field(default_factory=dict)  # source → doc_id, failed files included
    documents: int = 0
    passages: int = 0
    pages: int = 0
    embedded: int = 0
    seconds: float = 0.0
    index_version: str | None = None
    published: bool = False


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: what tells a changed file from an unchanged one."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_doc_id(source: str) -> str:
    """A readable, URL-safe id from the source path: ``treaties/Refugee Conv.pdf`` →
    ``treaties--refugee-conv.pdf``."""
    slug = "--".join(re.sub(r"[^a-z0-9._-]+", "-", part.lower()).strip("-") for part in source.split("/"))
    return slug or hashlib.sha1(source.encode()).hexdigest()[:12]


def new_doc_id(source: str, taken: Collection[str]) -> str:
    """The id of a source not yet in the index: its slug, suffixed with a hash of the source
    when another document already has that slug ("a b.txt" and "a-b.txt")."""
    doc_id = make_doc_id(source)
    return doc_id if doc_id not in taken else f"{doc_id}-{hashlib.sha1(source.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class ToParse:
    """A new or changed file, with the content hash it was found with."""

    path: Path
    source: str
    digest: str


@dataclass
class NextBuild:
    """The documents and passages of a new build, in source order. ``vector_parts`` holds,
    per document, its vectors from the current build, or an ``(n, 0)`` placeholder for the
    passages at ``to_embed``."""

    documents: list[Document] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    vector_parts: list[np.ndarray] = field(default_factory=list)
    to_embed: list[int] = field(default_factory=list)


def sort_out(
    files: list[FoundFile], old_docs: dict[str, Document], rechunk: bool, report: IngestReport
) -> list[ToParse]:
    """The files to parse (new or changed). Reports the unchanged ones, those that cannot be
    read, and the indexed ones gone from disk; then gives every source its document id."""
    sources_seen: set[str] = set()
    todo: list[ToParse] = []
    for found_file in files:
        if found_file.source in sources_seen:
            report.failed.append((found_file.source, "same relative path under two ingested folders"))
            continue
        sources_seen.add(found_file.source)
        try:
            digest = file_hash(found_file.path)
        except OSError as exc:  # a dangling link, a file without read permission
            report.failed.append((found_file.source, f"cannot read file: {exc.strerror or exc}"))
            continue
        old = old_docs.get(found_file.source)
        if old is not None and old.file_hash == digest and not rechunk:
            report.unchanged.append(found_file.source)
        else:
            todo.append(ToParse(found_file.path, found_file.source, digest))
    report.removed = sorted(set(old_docs) - sources_seen)
    assign_doc_ids(sources_seen, old_docs, report)
    return todo


def assign_doc_ids(sources: set[str], old_docs: dict[str, Document], report: IngestReport) -> None:
    """Ids before anything is parsed: indexed sources keep theirs; new ones never take one."""
    report.doc_ids = {s: old_docs[s].doc_id for s in sorted(sources) if s in old_docs}
    taken = set(report.doc_ids.values())
    for source in sorted(sources - set(report.doc_ids)):
        report.doc_ids[source] = new_doc_id(source, taken)
        taken.add(report.doc_ids[source])


def parse(
    todo: list[ToParse],
    old_docs: dict[str, Document],
    offsets: TokenOffsets,
    params: Chunking,
    report: IngestReport,
    notify: Progress,
) -> dict[str, tuple[Document, list[Passage]]]:
    """Parse, clean and chunk the new and changed files, by source; failures are reported."""
    new_docs: dict[str, tuple[Document, list[Passage]]] = {}
    for done, item in enumerate(todo):
        notify("parse", done, len(todo))
        parsed = _parse_one(item, offsets, ChunkParams(params.max_tokens, params.overlap), report)
        if parsed is not None:
            new_docs[item.source] = parsed
            (report.updated if item.source in old_docs else report.added).append(item.source)
    notify("parse", len(todo), len(todo))
    return new_docs


def _parse_one(
    item: ToParse, offsets: TokenOffsets, params: ChunkParams, report: IngestReport
) -> tuple[Document, list[Passage]] | None:
    """One file as a document and its passages, or ``None`` (reported) when it fails."""
    source = item.source
    try:
        raw = load(item.path, source)
        report.warnings += [(source, warning) for warning in raw.warnings]
        clean = build(raw)
    except LoadError as exc:
        report.failed.append((source, str(exc)))
        return None
    except OSError as exc:  # gone or unreadable since it was hashed (deleted meanwhile)
        report.failed.append((source, f"cannot read file: {exc.strerror or exc}"))
        return None
    doc_id = report.doc_ids[source]
    passages = chunk(clean, doc_id, offsets, params)
    if not passages:
        report.failed.append((source, "no text left after cleaning"))
        return None
    pages = max((p.number or 0 for p in raw.pages), default=0) or None
    document = Document(
        doc_id, source, clean.title or source, raw.kind, item.digest, pages, len(passages), len(clean.text)
    )
    return document, passages


def assemble(
    new_docs: dict[str, tuple[Document, list[Passage]]],
    old_docs: dict[str, Document],
    previous: StoredIndex | None,
    rechunk: bool,
    report: IngestReport,
) -> NextBuild:
    """Every document of the new build: the new and changed ones just parsed, the unchanged
    ones with their passages and vectors from the current build."""
    # A changed file that now fails keeps its previous version rather than vanishing
    # (unless its old passages were cut with other parameters).
    failed_sources = {s for s, _ in report.failed}
    kept = [s for s in failed_sources if s in old_docs and not rechunk]

    assembled = NextBuild()
    for source in sorted(set(report.unchanged) | set(new_docs) | set(kept)):
        if source in new_docs:
            document, doc_passages = new_docs[source]
            start = len(assembled.passages)
            assembled.to_embed.extend(range(start, start + len(doc_passages)))
            assembled.vector_parts.append(np.zeros((len(doc_passages), 0), dtype=np.float32))
        else:
            assert previous is not None  # only an indexed document is unchanged or kept
            document = old_docs[source]
            doc_passages = previous.document_passages(document.doc_id)
            assembled.vector_parts.append(np.asarray(previous.vectors[previous.document_rows(document.doc_id)]))
        assembled.documents.append(document)
        assembled.passages.extend(doc_passages)
    return assembled
