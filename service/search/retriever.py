"""Dense, lexical and hybrid retrieval over one :class:`~ingest.store.reader.StoredIndex`."""

from __future__ import annotations

import re
from typing import Protocol

import faiss
import numpy as np

from ingest.settings import Settings
from ingest.store.reader import StoredIndex
from service.search.highlight import Highlighter
from service.search.query import Filters, Mode, Query
from service.search.types import Citation, Hit

__all__ = ["Filters", "Hit", "Mode", "QueryEncoder", "Retriever"]

_ARTICLE_REF = re.compile(r"\b(?:article|art\.?)\s*(\d{1,3}[a-z]?|[ivxlc]{1,6})\b", re.IGNORECASE)
_SECTION_ARTICLE = re.compile(r"(?:^|> )Article (\S+?)(?: —|$| >)")
ARTICLE_DOC_DEPTH = 20  # candidates of each kind whose documents an article reference may lift
EXACT_FILTERED_LIMIT = 200_000  # below this many matching passages, filtered dense search is exact numpy


class QueryEncoder(Protocol):
    """What the retriever needs of a model: an :class:`~ingest.embedder.Embedder`, or the
    evaluation's cache of query vectors in front of one."""

    def warm_up(self) -> None: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _search_params(index: faiss.Index, rows: np.ndarray) -> faiss.SearchParameters:
    """A FAISS search restricted to ``rows``; IVF and HNSW indexes need their own parameter
    types (a plain SearchParameters is refused by IVF) and keep their configured depth."""
    # faiss's bundled stubs omit the keyword arguments of SWIG's parameter classes and the
    # HNSW parameter class itself; the calls are checked by tests/service/test_service_retriever.py.
    selector = faiss.IDSelectorBatch(rows.astype(np.int64))
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)  # type: ignore[call-arg]
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)  # type: ignore[attr-defined]
    return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]


def _min_max(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] so that cosine and BM25 scores can be added; a single score becomes 1."""
    if len(scores) == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    return (scores - low) / (high - low) if high > low else np.ones_like(scores)


def _top(scores: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``rows`` by ``scores`` (parallel arrays), best first."""
    if len(scores) > n:
        part = np.argpartition(-scores, n - 1)[:n]
        scores, rows = scores[part], rows[part]
    order = np.argsort(-scores, kind="stable")
    return rows[order], scores[order]


class Retriever:
    """Configured in ``__init__``; ``warm_up`` loads the model; ``run`` answers one question."""

    def __init__(self, index: StoredIndex, embedder: QueryEncoder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        lexical = index.lexical
        self.highlighter = Highlighter.from_document_frequencies(
            lexical.vocabulary(), lexical.document_frequencies(), len(index)
        )
        self._article_rows = self._articles()

    def warm_up(self) -> None:
        self.embedder.warm_up()
        self.embedder.embed_query("warm up")

    def _articles(self) -> dict[str, np.ndarray]:
        """Rows of the passages under each "Article N" section, keyed by lower-case N."""
        by_section: dict[str, list[int]] = {}
        for section_id, section in enumerate(self.index.sections):
            for number in _SECTION_ARTICLE.findall(section):
                by_section.setdefault(number.lower(), []).append(section_id)
        result = {}
        for number, section_ids in by_section.items():
            result[number] = np.flatnonzero(np.isin(self.index.passage_section, section_ids))
        return result

    # -- the three rankings ------------------------------------------------------------
    def dense(self, question: str, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        query = self.embedder.embed_query(question)
        if mask is None:
            scores, rows = self.index.dense.search(query[None, :], min(n, len(self.index)))
            keep = rows[0] >= 0
            return rows[0][keep].astype(np.int64), scores[0][keep]
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return rows, np.zeros(0, dtype=np.float32)
        if len(rows) <= EXACT_FILTERED_LIMIT:
            return _top(np.asarray(self.index.vectors[rows]) @ query, rows, n)
        scores, found = self.index.dense.search(query[None, :], n, params=_search_params(self.index.dense, rows))
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), scores[0][keep]

    def lexical(self, question: str, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.index.lexical.scores(question)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        rows = np.flatnonzero(scores > 0)
        return _top(scores[rows], rows, n)

    def _article_rows_named(self, question: str, mask: np.ndarray | None, documents: set[int]) -> set[int]:
        """Passages of the articles the question names, in ``documents`` (those the question
        already points at), so "Article 1 of the Refugee Convention" does not lift every
        treaty's Article 1."""
        rows: set[int] = set()
        doc_of = self.index.passage_doc
        for number in _ARTICLE_REF.findall(question):
            found = self._article_rows.get(number.lower())
            if found is not None:
                rows.update(int(r) for r in found if (mask is None or mask[r]) and doc_of[r] in documents)
        return rows

    def rank(self, question: str, mode: Mode | str, mask: np.ndarray | None, n: int) -> list[tuple[int, float]]:
        """Rows and scores, best first, before de-duplication."""
        if mode == Mode.DENSE:
            rows, scores = self.dense(question, mask, n)
            return list(zip(rows.tolist(), scores.tolist()))
        if mode == Mode.LEXICAL:
            rows, scores = self.lexical(question, mask, n)
            return list(zip(rows.tolist(), scores.tolist()))
        # A fixed depth, not one that grows with top_k: the min-max normalisation is over
        # these candidates, so the order of the first ten must not depend on how many are asked.
        depth = self.settings.candidates
        dense_rows, dense_scores = self.dense(question, mask, depth)
        lexical_rows, lexical_scores = self.lexical(question, mask, depth)
        alpha = self.settings.fusion_alpha
        fused: dict[int, float] = {}
        for weight, rows, scores in ((alpha, dense_rows, dense_scores), (1 - alpha, lexical_rows, lexical_scores)):
            for row, value in zip(rows.tolist(), _min_max(scores).tolist()):
                fused[row] = fused.get(row, 0.0) + weight * value
        # The documents the question points at: those of the best few candidates of either kind.
        documents = set(self.index.passage_doc[dense_rows[:ARTICLE_DOC_DEPTH]].tolist())
        documents |= set(self.index.passage_doc[lexical_rows[:ARTICLE_DOC_DEPTH]].tolist())
        for row in self._article_rows_named(question, mask, documents):
            fused[row] = fused.get(row, 0.0) + self.settings.article_boost
        return sorted(fused.items(), key=lambda item: -item[1])

    # -- the answer --------------------------------------------------------------------
    def _dedupe(self, ranked: list[tuple[int, float]], top_k: int) -> list[tuple[int, float]]:
        """Drop passages overlapping a better one of the same document by more than half,
        and exact repeats of a better passage's text."""
        kept: list[tuple[int, float]] = []
        seen_hashes: set[str] = set()
        spans = self.index.passage_span
        docs = self.index.passage_doc
        for row, score in ranked:
            text_hash = self.index.passage_hash[row]
            if text_hash in seen_hashes:
                continue
            a, b = spans[row]
            duplicate = False
            for other, _ in kept:
                if docs[other] != docs[row]:
                    continue
                c, d = spans[other]
                overlap = min(b, d) - max(a, c)
                if overlap > 0.5 * min(b - a, d - c):
                    duplicate = True
                    break
            if duplicate:
                continue
            kept.append((row, score))
            seen_hashes.add(text_hash)
            if len(kept) == top_k:
                break
        return kept

    def search(self, query: Query) -> list[Hit]:
        """The hits for a validated :class:`~service.search.query.Query`: what every surface calls."""
        return self.run(query.question, query.top_k, query.mode, query.filters)

    def run(
        self, question: str, top_k: int = 5, mode: Mode | str = Mode.HYBRID, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``top_k`` best passages for ``question``, highlighted, best first. No check of
        the question here: surfaces build a :class:`~service.search.query.Query` first."""
        filters = filters or Filters()
        mask = self.index.mask(filters.source, filters.doc_id, filters.section)
        ranked = self.rank(question, mode, mask, max(top_k * 4, 20))
        chosen = self._dedupe(ranked, top_k)
        passages = self.index.passages([row for row, _ in chosen])
        terms = self.highlighter.terms(question)
        hits = []
        for rank, ((_, score), passage) in enumerate(zip(chosen, passages), 1):
            document = self.index.documents[passage.doc_id]
            hits.append(
                Hit(
                    passage=passage,
                    citation=Citation.of(passage, document),
                    score=float(score),
                    rank=rank,
                    highlight=self.highlighter.best_span(terms, passage.text, passage.section),
                )
            )
        return hits
