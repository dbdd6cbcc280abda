"""Ingestion: discover → load → clean/structure → chunk → embed → publish, incrementally.

Only new or changed files (by content hash) are parsed and embedded; unchanged files keep
their passages and vectors from the current build; files gone from disk are dropped.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ingest.chunker import ChunkParams, chunk
from ingest.discover import discover
from ingest.embedder import Embedder
from ingest.loaders import LoadError, load
from ingest.settings import Settings
from ingest.store.index import (
    FORMAT_VERSION,
    IndexIncompatibleError,
    IndexMissingError,
    StoredIndex,
    clean_leftovers,
    contextual_text,
    write_index,
    write_lock,
)
from ingest.structure import build
from ingest.types import Document, Passage

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while a run advances."""


@dataclass
class IngestReport:
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


# Bump when loading, cleaning, structure or chunking change what a file becomes: the next
# incremental run then re-parses every file instead of keeping passages cut the old way.
PARSER_VERSION = 5


def new_doc_id(source: str, taken: Collection[str]) -> str:
    """The id of a source not yet in the index: its slug, suffixed with a hash of the source
    when another document already has that slug ("a b.txt" and "a-b.txt")."""
    doc_id = make_doc_id(source)
    return doc_id if doc_id not in taken else f"{doc_id}-{hashlib.sha1(source.encode()).hexdigest()[:6]}"


def chunking_params(settings: Settings, embedder: Embedder, max_seq_length: int) -> dict:
    # The passage plus its title/section prefix must fit the model's window.
    ceiling = max_seq_length - 2 - (48 if settings.contextualize else 0)
    return {
        "parser_version": PARSER_VERSION,
        "max_tokens": min(settings.chunk_tokens, ceiling),
        "overlap": min(settings.chunk_overlap, settings.chunk_tokens // 2),
        "contextualize": settings.contextualize,
        "tokenizer": embedder.name,
    }


def _open_previous(index_dir: Path) -> StoredIndex | None:
    try:
        return StoredIndex.open(index_dir)
    except IndexMissingError:
        return None


def ingest(
    paths: list[Path],
    settings: Settings,
    *,
    index_dir: Path | None = None,
    excludes: list[str] | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    show_progress_bar: bool = False,
) -> IngestReport:
    """Bring the index in ``index_dir`` in line with the files under ``paths``."""
    started = time.perf_counter()
    index_dir = index_dir or settings.index_dir
    report = IngestReport()
    found = discover(paths, excludes)
    report.skipped = found.skipped
    notify = progress or (lambda stage, done, total: None)

    with write_lock(index_dir):
        clean_leftovers(index_dir)
        previous = None if rebuild else _open_previous(index_dir)
        embedder = embedder or Embedder(settings.model, settings.embed_batch_size, settings.embed_bf16)
        if previous is not None and previous.manifest["model"]["name"] != embedder.name:
            raise IndexIncompatibleError(
                f"the index in {index_dir} was built with model {previous.manifest['model']['name']!r}, "
                f"not {embedder.name!r}: pass --rebuild to rebuild it with the new model, or "
                f"--model {previous.manifest['model']['name']!r} to keep the old one"
            )
        # Reuse the recorded window so that a no-change run never loads the model.
        max_seq = previous.manifest["model"]["max_seq_length"] if previous else embedder.max_seq_length
        params = chunking_params(settings, embedder, max_seq)
        # Passage boundaries changed: every file is re-chunked, but still reported against
        # the current index (updated, removed) rather than as new.
        rechunk = previous is not None and previous.manifest["chunking"] != params
        old_docs = {d.source: d for d in previous.documents.values()} if previous else {}

        sources_seen: set[str] = set()
        todo: list[tuple[Path, str, str]] = []
        for found_file in found.files:
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
                todo.append((found_file.path, found_file.source, digest))
        report.removed = sorted(set(old_docs) - sources_seen)
        # Ids before anything is parsed: indexed sources keep theirs; new ones never take one.
        report.doc_ids = {s: old_docs[s].doc_id for s in sorted(sources_seen) if s in old_docs}
        taken = set(report.doc_ids.values())
        for source in sorted(sources_seen - set(report.doc_ids)):
            report.doc_ids[source] = new_doc_id(source, taken)
            taken.add(report.doc_ids[source])

        if previous is not None and not todo and not report.removed:
            return _unchanged(report, previous, started)

        # Parse, clean and chunk the new and changed files.
        new_docs: dict[str, tuple[Document, list[Passage]]] = {}
        offsets = embedder.token_offsets
        for done, (path, source, digest) in enumerate(todo):
            notify("parse", done, len(todo))
            try:
                raw = load(path, source)
                report.warnings += [(source, warning) for warning in raw.warnings]
                clean = build(raw)
            except LoadError as exc:
                report.failed.append((source, str(exc)))
                continue
            except OSError as exc:  # gone or unreadable since it was hashed (deleted meanwhile)
                report.failed.append((source, f"cannot read file: {exc.strerror or exc}"))
                continue
            doc_id = report.doc_ids[source]
            passages = chunk(clean, doc_id, offsets, ChunkParams(params["max_tokens"], params["overlap"]))
            if not passages:
                report.failed.append((source, "no text left after cleaning"))
                continue
            pages = max((p.number or 0 for p in raw.pages), default=0) or None
            document = Document(doc_id, source, clean.title or source, raw.kind, digest, pages, len(passages), len(clean.text))
            new_docs[source] = (document, passages)
            (report.updated if source in old_docs else report.added).append(source)
        notify("parse", len(todo), len(todo))

        if previous is not None and not new_docs and not report.removed and not rechunk:
            return _unchanged(report, previous, started)  # only failures: keep the current build

        # A changed file that now fails keeps its previous version rather than vanishing
        # (unless its old passages were cut with other parameters).
        failed_sources = {s for s, _ in report.failed}
        kept = [s for s in failed_sources if s in old_docs and not rechunk]

        documents: list[Document] = []
        passages: list[Passage] = []
        vector_parts: list[np.ndarray] = []
        to_embed: list[int] = []
        for source in sorted(set(report.unchanged) | set(new_docs) | set(kept)):
            if source in new_docs:
                document, doc_passages = new_docs[source]
                to_embed.extend(range(len(passages), len(passages) + len(doc_passages)))
                vector_parts.append(np.zeros((len(doc_passages), 0), dtype=np.float32))
            else:
                document = old_docs[source]
                doc_passages = previous.document_passages(document.doc_id)
                vector_parts.append(np.asarray(previous.vectors[previous.document_rows(document.doc_id)]))
            documents.append(document)
            passages.extend(doc_passages)

        if not documents:
            if previous is not None:
                previous.close()
            report.removed = []  # the current index is kept as it is: nothing was removed
            raise NothingToIngest(report)

        titles = {d.doc_id: d.title for d in documents}
        texts = [contextual_text(p, titles[p.doc_id]) if settings.contextualize else p.text for p in passages]
        notify("embed", 0, len(to_embed))
        new_vectors = embedder.embed_passages([texts[i] for i in to_embed], progress=show_progress_bar)
        report.embedded = len(to_embed)
        dim = new_vectors.shape[1] if len(to_embed) else embedder.dimension
        vectors = np.zeros((len(passages), dim), dtype=np.float32)
        row = 0
        for part in vector_parts:
            if part.shape[1]:
                vectors[row: row + len(part)] = part
            row += len(part)
        if len(to_embed):
            vectors[to_embed] = new_vectors
        notify("embed", len(to_embed), len(to_embed))

        manifest = _manifest(settings, embedder, params, documents, passages, dim, paths)
        notify("write", 0, 1)
        write_index(
            index_dir, manifest, documents, passages, vectors, texts, settings.faiss_index,
            {"hnsw_m": settings.hnsw_m, "hnsw_ef_search": settings.hnsw_ef_search, "ivf_nprobe": settings.ivf_nprobe},
        )
        notify("write", 1, 1)
        if previous is not None:
            previous.close()
    report.published = True
    report.index_version = manifest["index_version"]
    _count(report, documents)
    report.seconds = time.perf_counter() - started
    return report


def _unchanged(report: IngestReport, previous: StoredIndex, started: float) -> IngestReport:
    """Finish a run that leaves the current build as it is: nothing is written."""
    report.index_version = previous.version
    _count(report, previous.documents.values())
    report.seconds = time.perf_counter() - started
    previous.close()
    return report


class NothingToIngest(Exception):
    """No document could be ingested; the current index (if any) is left as it was."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("nothing could be ingested; the existing index was left unchanged")
        self.report = report


def _count(report: IngestReport, documents) -> None:
    documents = list(documents)
    report.documents = len(documents)
    report.passages = sum(d.passage_count for d in documents)
    report.pages = sum(d.pages or 0 for d in documents)


def _manifest(settings, embedder, params, documents, passages, dim, paths) -> dict:
    created = datetime.now(timezone.utc)
    digest = hashlib.sha256()
    digest.update(embedder.name.encode())
    digest.update(repr(sorted(params.items())).encode())
    for document in sorted(documents, key=lambda d: d.source):
        digest.update(f"{document.source}\0{document.file_hash}\n".encode())
    content = digest.hexdigest()
    return {
        "format_version": FORMAT_VERSION,
        # Build time (to the millisecond) and content digest: two builds never share a version.
        "index_version": f"{created:%Y%m%dT%H%M%S}.{created.microsecond // 1000:03d}Z-{content[:8]}",
        "created_at": created.isoformat(),
        "model": {"name": embedder.name, "dimension": dim, "max_seq_length": embedder.max_seq_length},
        "chunking": params,
        "counts": {
            "documents": len(documents),
            "passages": len(passages),
            "pages": sum(d.pages or 0 for d in documents),
        },
        "content_digest": content,
        "roots": [str(Path(p).resolve()) for p in paths],
    }
