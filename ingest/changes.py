"""What an incremental run changes, decided file by file before anything is embedded.

:func:`sort_out` compares the files found with the documents of the current build (by content
hash) and records in the :class:`IngestReport` which are unchanged, which cannot be read and
which are gone; :func:`assign_doc_ids` gives every source its document id (an indexed source
keeps its own); :func:`parse` loads, cleans and chunks the new and changed files; and
:func:`assemble` decides what the next generation writes (a segment of the new and changed
documents) and deletes (the documents they replace, those gone). The run itself, and
the embedding and publishing, are :mod:`ingest.pipeline`'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.discover import FoundFile, open_regular
from ingest.types import Document, Passage
from ingest.workers.parse import Failed, ParseJob

if TYPE_CHECKING:
    from ingest.pipeline import Progress
    from ingest.workers.stage import ParseStage


@dataclass
class IngestReport:
    """What one run did, file by file (sources relative to their folder), and the index it
    left current; filled in step by step and returned by :func:`ingest.pipeline.ingest`."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    # Failed before with the same bytes, so not parsed again (until changed, or --retry-failed).
    failed_unchanged: list[tuple[str, str]] = field(default_factory=list)
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


def file_hash(path: Path | str) -> str:
    """SHA-256 of a file's bytes: what tells a changed file from an unchanged one."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _slug(part: str) -> str:
    """One path component as an id part. ASCII names keep the slug they always had (so that
    existing indexes keep their ids); other names are transliterated first (NFKD, accents
    dropped: ``Résumé.pdf`` → ``resume.pdf``), and one left without a letter or digit before
    its extension (``中文.txt``) takes a short hash of its original name (``3f2a1b.txt``)."""
    if part.isascii():
        return re.sub(r"[^a-z0-9._-]+", "-", part.lower()).strip("-")
    ascii_part = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_part.lower()).strip("-")
    stem, dot, suffix = slug.rpartition(".") if "." in slug else (slug, "", "")
    if not re.search(r"[a-z0-9]", stem):
        return f"{_short_hash(part)}{dot}{suffix}"
    return slug


def make_doc_id(source: str) -> str:
    """A readable, URL-safe id from the source path: ``treaties/Refugee Conv.pdf`` →
    ``treaties--refugee-conv.pdf``, ``politiques/Été.md`` → ``politiques--ete.md``."""
    slug = "--".join(_slug(part) for part in source.split("/"))
    return slug or _short_hash(source, 12)


def new_doc_id(source: str, taken: Collection[str]) -> str:
    """The id of a source not yet in the index: its slug, suffixed with a hash of the source
    when another document already has that slug ("a b.txt" and "a-b.txt")."""
    doc_id = make_doc_id(source)
    return doc_id if doc_id not in taken else f"{doc_id}-{_short_hash(source)}"


def doc_ids(sources: Iterable[str], indexed: Mapping[str, str]) -> dict[str, str]:
    """Every source's document id: an indexed one keeps its own (``indexed``: source → id), the
    new ones take theirs in source order (:func:`new_doc_id`), so that the same sources always
    get the same ids. What an upload reports is what the next run assigns."""
    ids = {source: indexed[source] for source in sorted(set(sources)) if source in indexed}
    taken = set(ids.values())
    for source in sorted(set(sources) - set(ids)):
        ids[source] = new_doc_id(source, taken)
        taken.add(ids[source])
    return ids


@dataclass(frozen=True)
class ToParse:
    """A new or changed file, with the content hash it was found with."""

    path: Path
    source: str
    digest: str


@dataclass
class NextBuild:
    """What the next generation changes: the documents and passages of its new segment (every
    one to embed), in source order; the indexed documents whose rows it deletes (changed or
    gone) and those it keeps as they are. ``fresh``: no segment of the current generation is
    kept (a first build, ``--rebuild``, or passages cut another way)."""

    documents: list[Document] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    kept: list[Document] = field(default_factory=list)
    fresh: bool = True


def passage_id(doc_id: str, file_hash: str, ordinal: int) -> str:
    """A passage's id: stable while its document is unchanged, new when the document changes
    (the file's content hash is part of it), so an old id never points at new text."""
    return f"{doc_id}:{file_hash[:8]}:{ordinal:04d}"


def _hash_of(found: FoundFile) -> str:
    return file_hash(found.where)


def sort_out(
    files: list[FoundFile],
    old_docs: dict[str, Document],
    rechunk: bool,
    report: IngestReport,
    digest_of: Callable[[FoundFile], str] = _hash_of,
) -> list[ToParse]:
    """The files to parse (new or changed). Reports the unchanged ones, those that cannot be
    read, and the indexed ones gone from disk; then gives every source its document id.
    ``digest_of(found)``: a file's content hash (``FileStats.digest`` skips reading the files
    whose stats are as recorded)."""
    sources_seen: set[str] = set()
    todo: list[ToParse] = []
    for found_file in files:
        if found_file.source in sources_seen:
            report.failed.append((found_file.source, "same relative path under two ingested folders"))
            continue
        sources_seen.add(found_file.source)
        try:
            digest = digest_of(found_file)
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
    report.doc_ids = doc_ids(sources, {s: d.doc_id for s, d in old_docs.items()})


def parse(
    todo: list[ToParse],
    old_docs: dict[str, Document],
    stage: ParseStage,
    report: IngestReport,
    notify: Progress,
) -> dict[str, tuple[Document, list[Passage]]]:
    """Parse, clean and chunk the new and changed files in the stage's worker processes, by
    source, handing each to the embedding feed as it is done; failures are reported. A file
    that failed before with the same bytes is not parsed again (``failed_unchanged``)."""
    memory, version = stage.memory, stage.parser_version
    jobs = []
    for item in todo:
        reason = None if stage.retry_failed else memory.known(item.source, item.digest, version)
        if reason is not None:
            report.failed_unchanged.append((item.source, reason))
        else:
            jobs.append(ParseJob(item.path, item.source, item.digest, report.doc_ids[item.source]))
    digests = {item.source: item.digest for item in todo}
    new_docs: dict[str, tuple[Document, list[Passage]]] = {}
    notify("parse", 0, len(jobs))
    for done, outcome in enumerate(stage.pool.results(jobs), 1):
        report.warnings += [(outcome.source, warning) for warning in outcome.warnings]
        if isinstance(outcome, Failed):
            report.failed.append((outcome.source, outcome.reason))
            memory.remember(outcome.source, digests[outcome.source], version, outcome.reason)
        else:
            stage.feed.add(outcome)
            new_docs[outcome.source] = (outcome.document, outcome.passages)
            (report.updated if outcome.source in old_docs else report.added).append(outcome.source)
        notify("parse", done, len(jobs))
    for listed in (report.added, report.updated, report.failed, report.warnings):
        listed.sort()
    memory.keep_only({s for s, _ in report.failed} | {s for s, _ in report.failed_unchanged})
    memory.save(stage.index_dir)
    return new_docs


def assemble(
    new_docs: dict[str, tuple[Document, list[Passage]]],
    old_docs: dict[str, Document],
    fresh: bool,
    report: IngestReport,
) -> NextBuild:
    """The next generation: a segment of the new and changed documents just parsed, and
    (unless ``fresh``) the indexed documents they replace or that are gone. A changed file
    that now fails keeps its previous version rather than vanishing (unless the passages are
    re-cut, which makes the run ``fresh``)."""
    assembled = NextBuild(fresh=fresh)
    for source in sorted(new_docs):
        document, doc_passages = new_docs[source]
        assembled.documents.append(document)
        assembled.passages += [
            dataclasses.replace(p, id=passage_id(p.doc_id, document.file_hash, p.ordinal)) for p in doc_passages
        ]
    if not fresh:
        gone = set(new_docs) | set(report.removed)
        assembled.replaced = sorted(old_docs[s].doc_id for s in gone if s in old_docs)
        assembled.kept = [old_docs[s] for s in sorted(set(old_docs) - gone)]
    return assembled
