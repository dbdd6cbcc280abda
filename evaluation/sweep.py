"""`clausewise eval --sweep`: a small grid of passage sizes and fusion settings, scored on one
question set, on copies of the index (the user's index is only read).

Passage size and overlap need new passages and vectors: the index's documents are ingested
again into temporary folders. Fusion weight, article boost and candidates (top-k before
fusion) change only the ranking, so they are tried on each loaded index by building a
:class:`Retriever` with modified settings. Question embeddings are computed once and reused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from evaluation.grid import Config, Grid, Row, SweepResult, passages_label
from evaluation.qa import Question
from evaluation.runner import evaluate, in_process
from ingest.changes import file_hash
from ingest.embedder import Embedder
from ingest.errors import EvaluationError
from ingest.pipeline import chunking_params, ingest
from ingest.settings import Settings
from ingest.store.reader import StoredIndex, read_manifest
from service.search.retriever import Retriever

Log = Callable[[str], None]


class SweepError(EvaluationError):
    """A sweep that cannot run: the index records no folders to re-ingest, none of its
    documents is still there, or the model given is not the index's."""


class QueryCache:
    """An embedder whose query vectors are computed once per question text."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = self.embedder.embed_query(text)
        return self._vectors[text]

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)


def _corpus_copy(index: StoredIndex, folder: Path, log: Log) -> Path:
    """A folder of the index's documents (hard links, or copies across file systems), under
    their recorded sources, found in the index's recorded roots: re-ingesting it gives the same
    documents. Not symbolic links: the ingest walk skips links that leave the folder."""
    roots = [Path(r) for r in index.manifest.roots]
    if not roots:
        raise SweepError("the index does not record the folders it was built from; rebuild it with `clausewise ingest`")
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    found = 0
    for document in index.documents.values():
        path = None
        for root in roots:
            candidate = root if root.is_file() and root.name == document.source else root / document.source
            if candidate.is_file():
                path = candidate
                break
        if path is None:
            log(
                f"warning: {document.source} is no longer under {', '.join(map(str, roots))}; left out of the re-chunked indexes"
            )
            continue
        if file_hash(path) != document.file_hash:
            log(
                f"warning: {document.source} changed since the index was built; the re-chunked indexes use the new text"
            )
        target = corpus / document.source
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path.resolve(), target)
        except OSError:
            shutil.copy2(path, target)
        found += 1
    if not found:
        raise SweepError(f"none of the index's documents is under its recorded roots {', '.join(map(str, roots))}")
    return corpus


@contextmanager
def _indexes(
    index_dir: Path, grid: Grid, settings: Settings, embedder: Embedder, log: Log
) -> Iterator[list[tuple[tuple[int, int, int], StoredIndex, bool]]]:
    """The user's index and one temporary re-chunked copy per other passage size, as
    ``((tokens, overlap, flat tokens), index, is_original)``; the copies are deleted afterwards."""
    cache = settings.bm25_cache_mib << 20
    original = StoredIndex.open(index_dir, cache)
    chunking = original.manifest.chunking
    current = (chunking.max_tokens, chunking.overlap, chunking.flat_max_tokens or chunking.max_tokens)
    opened = [(current, original, True)]
    workdir = Path(tempfile.mkdtemp(prefix="clausewise-sweep-"))
    try:
        base = settings.model_copy(
            update={
                "model": original.manifest.model.name,
                "contextualize": chunking.contextualize,
                "faiss_index": original.manifest.faiss.type if original.manifest.faiss else settings.faiss_index,
            }
        )
        wanted: list[tuple[int, int, int]] = []
        for sizes in grid.chunks:
            params = chunking_params(base.model_copy(update=_size_settings(sizes)), embedder, embedder.max_seq_length)
            effective = (params.max_tokens, params.overlap, params.flat_max_tokens or params.max_tokens)
            if effective != sizes:
                log(f"note: passages {passages_label(*sizes)} become {passages_label(*effective)} (the model's window)")
            if effective != current and effective not in wanted:
                wanted.append(effective)
        if wanted:
            corpus = _corpus_copy(original, workdir, log)
            for sizes in wanted:
                tokens, overlap, flat = sizes
                target = workdir / f"index-{tokens}-{flat}-{overlap}"
                log(f"re-chunking into passages of {passages_label(*sizes)} tokens/overlap (temporary index) …")
                variant = base.model_copy(update={**_size_settings(sizes), "index_dir": target})
                report = ingest([corpus], variant, index_dir=target, embedder=embedder, rebuild=True)
                log(f"  {report.passages} passages, {report.seconds:.0f} s")
                if report.documents != len(original.documents):
                    failed = "; ".join(f"{source}: {why}" for source, why in report.failed) or "none failed"
                    log(
                        f"warning: the copy holds {report.documents} documents, your index {len(original.documents)} "
                        f"({failed}); rebuild your index with this clausewise for a like-for-like comparison"
                    )
                opened.append((sizes, StoredIndex.open(target, cache), False))
        yield opened
    finally:
        for _, stored, _ in opened:
            stored.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _size_settings(sizes: tuple[int, int, int]) -> dict[str, int]:
    tokens, overlap, flat = sizes
    return {"chunk_tokens": tokens, "chunk_overlap": overlap, "chunk_tokens_flat": flat}


def _with_current(values: list, current) -> list:
    return [current] + [v for v in values if v != current]


def run_sweep(
    index_dir: Path,
    qa_path: str,
    questions: list[Question],
    settings: Settings,
    grid: Grid,
    modes: list[str],
    ks: list[int],
    per_doc: bool,
    log: Log | None = None,
    embedder: Embedder | None = None,
    scope: str | None = None,
) -> SweepResult:
    log = log or (lambda message: None)
    model = read_manifest(index_dir).model.name
    embedder = embedder or Embedder(model, settings.embed_batch_size, settings.embed_bf16)
    if embedder.name != model:
        raise SweepError(f"the index was built with {model!r}, not {embedder.name!r}")
    queries = QueryCache(embedder)
    alphas = _with_current(grid.alphas, settings.fusion_alpha)
    candidates = _with_current(grid.candidates, settings.candidates)
    boosts = _with_current(grid.boosts, settings.article_boost)
    rows: list[Row] = []
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        log(message)

    with _indexes(index_dir, grid, settings, embedder, note) as indexes:
        for (tokens, overlap, flat), stored, original in indexes:
            for mode in modes:
                if mode == "hybrid":
                    combos = [(a, c, b) for a in alphas for c in candidates for b in boosts]
                else:
                    combos = [(None, None, None)]
                for alpha, cands, boost in combos:
                    update = (
                        {} if mode != "hybrid" else {"fusion_alpha": alpha, "candidates": cands, "article_boost": boost}
                    )
                    retriever = Retriever(stored, queries, settings.model_copy(update=update))
                    config = Config(tokens, overlap, mode, alpha, cands, boost, flat)
                    log(f"  {config.label()}")
                    [result] = evaluate(questions, in_process(retriever, scope), [mode], ks, per_doc)
                    baseline = original and (
                        mode != "hybrid" or (alpha, cands, boost) == (alphas[0], candidates[0], boosts[0])
                    )
                    rows.append(Row(config, result, baseline))
    return SweepResult(qa_path, str(index_dir), len(questions), ks, per_doc, rows, notes)
