"""Ingestion: discover → load → clean/structure → chunk → embed → publish, incrementally.

Only new or changed files (by content hash) are parsed and embedded; unchanged files keep
their passages and vectors from the current build; files gone from disk are dropped.

:func:`ingest` runs these steps under the index's write lock:

1. :func:`_check_model` — the current build was embedded by the model in use;
2. :func:`~ingest.changes.sort_out` — which files are unchanged, new or changed, unreadable,
   or gone, and every source's document id;
3. :func:`~ingest.changes.parse` — load, clean and chunk the new and changed files in worker
   processes (:mod:`ingest.workers`), embedding each file as it is done; or, with a Dask
   scheduler, on the cluster's workers, which embed them too (:mod:`ingest.cluster`);
4. :func:`~ingest.changes.assemble` — the new segment's documents and passages, and the
   indexed documents it replaces;
5. :func:`_stack` — the vectors embedded in step 3 (unchanged documents keep their segment);
6. :func:`build_manifest` and the :class:`~ingest.targets.Target`'s ``publish`` — the embedded
   index writes one segment and publishes a generation with the replaced documents' rows
   deleted, then merges; the PostgreSQL backend replaces each changed document in one
   transaction (:mod:`ingest.targets` is the one place the two differ);
7. :func:`~ingest.embedding.provision.prepare_query_encoder` — the ONNX query encoder beside it.

A run with nothing to change stops after step 2 or 3 and writes nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.changes import IngestReport, NextBuild, assemble, parse, sort_out
from ingest.chunker import ChunkParams
from ingest.discover import FoundFile, discover
from ingest.embedder import Embedder
from ingest.embedding.cache import encoder_dir
from ingest.embedding.provision import fresh_export, prepare_query_encoder
from ingest.errors import IndexIncompatibleError, NothingToIngest
from ingest.filestats import FileStats
from ingest.settings import Settings, usable_cores
from ingest.store.format import Chunking, Counts, Manifest, ModelInfo
from ingest.store.writer import write_lock
from ingest.targets import Previous, Target, open_target
from ingest.types import Document
from ingest.workers.failures import FailureMemory
from ingest.workers.feed import EmbedFeed
from ingest.workers.pool import ParseLimits, ParsePool
from ingest.workers.stage import Parser, ParseStage

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while a run advances."""

log = logging.getLogger(__name__)


# Bump when loading, cleaning, structure or chunking change what a file becomes: the next
# incremental run then re-parses every file instead of keeping passages cut the old way.
# 6: OCR and pdfium text for pages pypdf cannot read; 7: content sniffing, evidence-based decoding;
# 8: capitals split off at the ends of successive lines all join; 9: flat documents cut to
# `chunk_tokens_flat` (a Dask worker of an older version would ignore the size: it is refused);
# 10: words broken at a soft hyphen, and PDF words read in pieces ("Gener al"), join;
# 11: an English word list decides what a document's own words cannot ("A gudas", "c hild");
# 12: titles chosen on the document's evidence (ingest.titles), not a producer's "Layout 1";
# all-caps headings cased as a reader writes them ("Charter of Fundamental Rights")
PARSER_VERSION = 12


def chunking_params(settings: Settings, embedder: Embedder, max_seq_length: int) -> Chunking:
    """How this run cuts passages; an index cut another way is re-chunked."""
    # The passage plus its title/section prefix must fit the model's window.
    ceiling = max_seq_length - 2 - (48 if settings.contextualize else 0)
    return Chunking(
        parser_version=PARSER_VERSION,
        max_tokens=min(settings.chunk_tokens, ceiling),
        flat_max_tokens=min(settings.chunk_tokens_flat, ceiling),
        overlap=min(settings.chunk_overlap, min(settings.chunk_tokens, settings.chunk_tokens_flat) // 2),
        contextualize=settings.contextualize,
        tokenizer=embedder.name,
    )


def quiet(stage: str, done: int, total: int) -> None:
    """The progress callback of a run nobody watches."""


def ingest(
    paths: list[Path],
    settings: Settings,
    *,
    index_dir: Path | None = None,
    excludes: list[str] | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    retry_failed: bool = False,
) -> IngestReport:
    """Bring the index in ``index_dir`` in line with the files under ``paths``; files that
    failed before are parsed again only once changed, or with ``retry_failed``."""
    started = time.perf_counter()
    index_dir = index_dir or settings.index_dir
    report = IngestReport()
    found = discover(paths, excludes)
    report.skipped = found.skipped

    with write_lock(index_dir):
        target = open_target(settings, index_dir, rebuild)
        try:
            previous = target.previous()
            embedder = _prepared(
                embedder or Embedder(settings.model, settings.embed_batch_size, settings.embed_bf16),
                settings,
                index_dir,
                previous,
            )
            run = _Run(settings, index_dir, embedder, report, progress or quiet, target, retry_failed)
            version, documents = run.update(paths, found.files, previous)
            run.stats.save(index_dir)  # after the build: a failed run hashes again next time
        finally:
            target.close()
    report.index_version = version
    _count(report, documents)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Run:
    """One run of :func:`ingest` past its set-up: what every step needs."""

    settings: Settings
    index_dir: Path
    embedder: Embedder
    report: IngestReport
    notify: Progress
    target: Target
    retry_failed: bool = False
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # by source, embedded as parsed
    stats: FileStats = field(default_factory=FileStats)  # the files' stats as hashed this run

    def update(
        self, paths: list[Path], files: list[FoundFile], previous: Previous | None
    ) -> tuple[str, list[Document]]:
        """Publish a new build when anything changed; the version and documents now current."""
        report, embedder = self.report, self.embedder
        _check_model(previous, embedder, self.index_dir)
        # Reuse the recorded window so that a no-change run never loads the model.
        max_seq = previous.manifest.model.max_seq_length if previous else embedder.max_seq_length
        params = chunking_params(self.settings, embedder, max_seq)
        if previous is None:
            embedder.load_in_background()  # a first build embeds everything: load while parsing starts
        # Passage boundaries changed: every file is re-chunked, but still reported against
        # the current index (updated, removed) rather than as new.
        rechunk = previous is not None and previous.manifest.chunking != params
        old_docs = {d.source: d for d in previous.documents.values()} if previous else {}

        stats = FileStats.load(self.index_dir)
        todo = sort_out(files, old_docs, rechunk, report, stats.digest)
        self.stats = stats
        if previous is not None and not todo and not report.removed:
            return _unchanged(previous)
        stage = self._parse_stage(params)
        new_docs = parse(todo, old_docs, stage, report, self.notify)
        self.vectors = stage.feed.finish()
        if previous is not None and not new_docs and not report.removed and not rechunk:
            return _unchanged(previous)  # only failures: keep the current build

        assembled = assemble(new_docs, old_docs, previous is None or rechunk, report)
        if not assembled.documents and not assembled.kept:
            report.removed = []  # the current index is kept as it is: nothing was removed
            raise NothingToIngest("nothing could be ingested; the existing index was left unchanged", report=report)
        return self._publish(paths, params, assembled, previous)

    def _parse_stage(self, params: Chunking) -> ParseStage:
        """Worker processes with the model's tokenizer, and the embedding fed as they finish;
        or, with a Dask scheduler, the cluster's workers parsing and embedding."""
        chunk_params = ChunkParams(params.max_tokens, params.overlap, params.flat_max_tokens)
        pool: Parser
        address = self.settings.dask_scheduler
        if address:
            from ingest.cluster.coordinator import DaskParser  # distributed: only for a cluster run

            pool = DaskParser(address, self.settings, chunk_params, self.embedder.name, PARSER_VERSION, self.notify)
        else:
            pool = ParsePool.for_model(self.embedder.spec.location, chunk_params, ParseLimits.of(self.settings))
        feed = EmbedFeed(self.embedder, self.settings.contextualize, self.notify)
        memory = FailureMemory.load(self.index_dir)
        return ParseStage(pool, feed, memory, self.index_dir, PARSER_VERSION, self.retry_failed)

    def _publish(
        self, paths: list[Path], params: Chunking, assembled: NextBuild, previous: Previous | None
    ) -> tuple[str, list[Document]]:
        vectors = _stack(assembled, self.vectors, self.embedder, self.report)
        documents = sorted(assembled.kept + assembled.documents, key=lambda d: d.source)
        passages = sum(d.passage_count for d in documents)
        model = ModelInfo(self.embedder.name, vectors.shape[1], self.embedder.max_seq_length)
        manifest = build_manifest(model, params, documents, passages, paths)
        self.notify("write", 0, 1)
        version = self.target.publish(manifest, assembled, vectors)
        self.notify("write", 1, 1)
        self.report.published = True
        prepare_query_encoder(self.index_dir, self.embedder, self.settings)  # INDEX/encoder for the server
        return version, documents


def _prepared(embedder: Embedder, settings: Settings, index_dir: Path, previous: Previous | None) -> Embedder:
    """``embedder`` (the configured model, or the caller's, e.g. a rebuild worker's that
    reports progress) started with the index's ONNX encoder when an update may be small, and
    handing the rest to OpenVINO when a verified export of the model is at hand; as it is when
    its model is loaded already (torch's cost is paid: it embeds)."""
    if embedder.loaded:
        return embedder
    if previous is not None and settings.embed_onnx_up_to:
        from ingest.embedding.onnx_encoder import try_load  # onnxruntime: only for an update

        encoder, _ = try_load(encoder_dir(index_dir), embedder.name, warm=False, intra_op_threads=usable_cores())
        if encoder is not None:
            embedder.start_with(encoder, settings.embed_onnx_up_to)
    if settings.embed_openvino:
        _embed_rest_with_openvino(embedder, settings, index_dir)
    return embedder


def _embed_rest_with_openvino(embedder: Embedder, settings: Settings, index_dir: Path) -> None:
    """OpenVINO on the index's export or the user's copy of it (a user's first build of a
    model has neither: the model embeds, and the export made after it serves the next)."""
    export = fresh_export(index_dir, embedder.name, settings.encoder_cache)
    if export is None:
        return
    try:
        available = importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # a broken or blocked install
        available = False
    if not available:  # an install without it: the model embeds, as before
        log.info("OpenVINO is not available: passages are embedded by sentence-transformers")
        return
    from ingest.embedding.openvino_encoder import OpenVinoEncoder  # openvino itself: at first use

    embedder.embed_rest_with(OpenVinoEncoder(export, threads=usable_cores(), bf16=settings.embed_bf16))


def _check_model(previous: Previous | None, embedder: Embedder, index_dir: Path) -> None:
    """An index is only ever updated with the model that built it."""
    if previous is None or previous.manifest.model.name == embedder.name:
        return
    recorded = previous.manifest.model.name
    raise IndexIncompatibleError(
        f"the index in {index_dir} was built with model {recorded!r}, "
        f"not {embedder.name!r}: pass --rebuild to rebuild it with the new model, or "
        f"--model {recorded!r} to keep the old one"
    )


def _stack(
    assembled: NextBuild, vectors: dict[str, np.ndarray], embedder: Embedder, report: IngestReport
) -> np.ndarray:
    """The vectors of the new segment's passages, in row order (embedded while parsing)."""
    parts = [vectors[d.source] for d in assembled.documents]
    report.embedded = sum(len(part) for part in parts)
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def _unchanged(previous: Previous) -> tuple[str, list[Document]]:
    """A run that leaves the current build as it is: nothing is written."""
    return previous.version, list(previous.documents.values())


def _count(report: IngestReport, documents: Iterable[Document]) -> None:
    documents = list(documents)
    report.documents = len(documents)
    report.passages = sum(d.passage_count for d in documents)
    report.pages = sum(d.pages or 0 for d in documents)


def build_manifest(
    model: ModelInfo, params: Chunking, documents: list[Document], passages: int, paths: list[Path]
) -> Manifest:
    """The manifest of a generation holding ``documents`` (the writer adds its segments)."""
    created = datetime.now(UTC)
    digest = hashlib.sha256()
    digest.update(model.name.encode())
    digest.update(repr(sorted(params.to_json().items())).encode())
    for document in sorted(documents, key=lambda d: d.source):
        digest.update(f"{document.source}\0{document.file_hash}\n".encode())
    content = digest.hexdigest()
    return Manifest(
        # Build time (to the millisecond) and content digest: two builds never share a version.
        index_version=f"{created:%Y%m%dT%H%M%S}.{created.microsecond // 1000:03d}Z-{content[:8]}",
        created_at=created.isoformat(),
        model=model,
        chunking=params,
        counts=Counts(len(documents), passages, sum(d.pages or 0 for d in documents)),
        content_digest=content,
        roots=tuple(str(Path(p).resolve()) for p in paths),
    )
