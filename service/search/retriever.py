"""Dense, lexical and hybrid retrieval over one :class:`~ingest.store.reader.StoredIndex`
(a generation of segments: its dense search and BM25 span them all)."""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Protocol

import numpy as np

from ingest.settings import Settings, usable_cores
from ingest.store.dense import top_n
from ingest.store.lexical import tokenize_one
from ingest.store.reader import StoredIndex
from service.search.confidence import NEAR_PASSAGES, Confidence, DocumentCentroids, assess
from service.search.dedupe import drop_overlaps
from service.search.fusion import fuse, lexical_bound
from service.search.highlight import Highlighter
from service.search.names import ARTICLE_REF, DocumentNames
from service.search.query import Filters, Mode, Query
from service.search.types import Citation, Hit

__all__ = ["Filters", "Hit", "Mode", "QueryEncoder", "Retriever"]

_SECTION_ARTICLE = re.compile(r"(?:^|> )Article (\S+?)(?: —|$| >)")
ARTICLE_DOC_DEPTH = 20  # candidates of each kind whose documents an article reference may lift
RECENT = 32  # filter masks and dense results a retriever remembers (a request's steps share them)


@functools.cache
def _beside() -> ThreadPoolExecutor:
    """Where a hybrid question's BM25 runs while its own thread embeds it and searches FAISS
    (onnxruntime and FAISS release the GIL): one process-wide pool, idle threads asleep."""
    return ThreadPoolExecutor(max_workers=2 * usable_cores(), thread_name_prefix="clausewise-bm25")


class QueryEncoder(Protocol):
    """What the retriever needs of a model: an :class:`~ingest.embedder.Embedder`, or the
    evaluation's cache of query vectors in front of one."""

    def warm_up(self) -> None: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class Retriever:
    """Configured in ``__init__``; ``warm_up`` loads the model; ``run`` answers one question."""

    def __init__(self, index: StoredIndex, embedder: QueryEncoder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._article_rows = self._articles()
        # One embedding a question however many steps of one request need it (the ranking,
        # then the confidence), whatever the encoder's own cache (CLAUSEWISE_QUERY_CACHE_SIZE,
        # which may be off) keeps.
        self._vector = functools.lru_cache(maxsize=RECENT)(embedder.embed_query)
        # Likewise one mask per filter (at a million passages a source glob is matched against
        # every document) and one dense search per question and scope: the confidence reads the
        # nearest passages the ranking found instead of searching a second time.
        self._masks = functools.lru_cache(maxsize=RECENT)(self._mask_of)
        self._dense_results: OrderedDict[tuple[str, int, int], tuple[np.ndarray | None, np.ndarray, np.ndarray]]
        self._dense_results = OrderedDict()
        self._dense_lock = threading.Lock()

    def warm_up(self) -> None:
        self.embedder.warm_up()
        self.embedder.embed_query("warm up")
        self.index.lexical.warm()  # the commonest words' BM25 rows, before the first question
        _ = self._centroids  # one pass over the vectors at load, not in the first question's time
        _ = self._names  # the documents' name fields, likewise

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
    def scope(self, filters: Filters | None) -> np.ndarray | None:
        """The mask of the passages ``filters`` keep (``None``: all), read-only and shared by
        the requests that ask with the same filters."""
        f = filters or Filters()
        return self._masks(f.source, None if f.doc_id is None else tuple(f.doc_id), f.section)

    def _mask_of(self, source: str | None, doc_ids: tuple[str, ...] | None, section: str | None) -> np.ndarray | None:
        mask = self.index.mask(source, None if doc_ids is None else list(doc_ids), section)
        if mask is not None:
            mask.flags.writeable = False
        return mask

    def dense(self, question: str, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows nearest the question (among those ``mask`` keeps), best first: exact in small
        segments, approximate in large ones, never copying more than a block of vectors.
        Remembered per question, mask and depth (a mask by identity, checked on the way out)."""
        key = (question, id(mask), n)
        with self._dense_lock:
            found = self._dense_results.get(key)
            if found is not None and found[0] is mask:
                self._dense_results.move_to_end(key)
                return found[1], found[2]
        rows, scores = self.index.dense_search(self._vector(question), n, mask)
        with self._dense_lock:
            self._dense_results[key] = (mask, rows, scores)
            while len(self._dense_results) > RECENT:
                self._dense_results.popitem(last=False)
        return rows, scores

    def lexical(self, question: str, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.index.lexical.scores(question)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        rows = np.flatnonzero(scores > 0)
        return top_n(scores[rows], rows, n, self.index.canonical)

    def _article_rows_named(self, question: str, mask: np.ndarray | None, documents: set[int]) -> set[int]:
        """Passages of the articles the question names, in ``documents`` (those the question
        already points at), so "Article 1 of the Refugee Convention" does not lift every
        treaty's Article 1."""
        rows: set[int] = set()
        doc_of = self.index.passage_doc
        for number in ARTICLE_REF.findall(question):
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
        # BM25 needs no embedding: at a million passages it costs as much as the embedding and
        # the FAISS search together, so the two halves run side by side.
        lexical = _beside().submit(self.lexical, question, mask, depth)
        dense_rows, dense_scores = self.dense(question, mask, depth)
        lexical_rows, lexical_scores = lexical.result()
        bound = None
        if self.settings.fusion_lexical == "bound":
            tokens = tokenize_one(question)
            bound = lexical_bound(self.index.lexical.idf(tokens), tokens)
        fused = fuse((dense_rows, dense_scores), (lexical_rows, lexical_scores), self.settings.fusion_alpha, bound)
        # The document the question names, if any (a position in index.doc_ids, as passage_doc
        # holds it); else those it points at: the best few candidates' of either kind.
        named = self._names.named(question) if self.settings.named_document_boost else None
        if named is not None:
            documents = {named}  # "Article 10 of the ICCPR" lifts the ICCPR's Article 10 only
        else:
            documents = set(self.index.passage_doc[dense_rows[:ARTICLE_DOC_DEPTH]].tolist())
            documents |= set(self.index.passage_doc[lexical_rows[:ARTICLE_DOC_DEPTH]].tolist())
        for row in self._article_rows_named(question, mask, documents):
            fused[row] = fused.get(row, 0.0) + self.settings.article_boost
        if named is not None:
            doc_of = self.index.passage_doc
            for row in fused:
                if doc_of[row] == named:
                    fused[row] += self.settings.named_document_boost
        return sorted(fused.items(), key=lambda item: -item[1])

    @cached_property
    def _names(self) -> DocumentNames:
        documents = self.index.documents
        return DocumentNames((d, documents[d].title, documents[d].source) for d in self.index.doc_ids)

    # -- the answer --------------------------------------------------------------------
    def _dedupe(self, ranked: list[tuple[int, float]], top_k: int) -> list[tuple[int, float]]:
        """Drop passages overlapping a better one of the same document by more than half,
        and exact repeats of a better passage's text."""
        index = self.index
        spans, docs, hashes = index.passage_span, index.passage_doc, index.passage_hash
        return drop_overlaps(
            ranked,
            top_k,
            lambda row: int(docs[row]),
            lambda row: (int(spans[row][0]), int(spans[row][1])),
            lambda row: bytes(hashes[row]),
        )

    def search(self, query: Query) -> list[Hit]:
        """The hits for a validated :class:`~service.search.query.Query`: what every surface calls."""
        return self.run(query.question, query.top_k, query.mode, query.filters)

    @cached_property
    def _centroids(self) -> DocumentCentroids:
        return DocumentCentroids(self.index)

    def confidence(self, query: Query, hits: list[Hit]) -> Confidence:
        """How likely the index answers ``query`` at all, given the ``hits`` it got
        (:mod:`service.search.confidence`); no hits is no answer."""
        vector = self._vector(query.question)  # embedded already by the ranking
        mask = self.scope(query.filters)
        top = 0.0
        if hits:
            row = self.index.row_of(hits[0].passage.id)
            top = float(self.index.vectors_of([row])[0] @ vector) if row is not None else 0.0
        # The nearest passages name the documents compared: those the ranking found (hybrid
        # searches `candidates` deep), so no second search.
        near = None if self._centroids.exhaustive else self.dense(query.question, mask, self.settings.candidates)[0]
        near = None if near is None else near[:NEAR_PASSAGES]
        found = assess(self._centroids, vector, mask, top, self.settings.abstain_below, near)
        return found if hits else Confidence(0.0, False, found.document_cosine, 0.0)

    def run(
        self, question: str, top_k: int = 5, mode: Mode | str = Mode.HYBRID, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``top_k`` best passages for ``question``, highlighted, best first. No check of
        the question here: surfaces build a :class:`~service.search.query.Query` first."""
        mask = self.scope(filters)
        ranked = self.rank(question, mode, mask, max(top_k * 4, 20))
        chosen = self._dedupe(ranked, top_k)
        passages = self.index.passages([row for row, _ in chosen])
        terms = Highlighter.terms(question)
        # Words weighed by their idf over the whole live corpus, looked up for these terms only.
        highlighter = Highlighter(self.index.lexical.idf(sorted(terms)))
        hits = []
        for rank, ((_, score), passage) in enumerate(zip(chosen, passages), 1):
            document = self.index.documents[passage.doc_id]
            hits.append(
                Hit(
                    passage=passage,
                    citation=Citation.of(passage, document),
                    score=float(score),
                    rank=rank,
                    highlight=highlighter.best_span(terms, passage.text, passage.section),
                )
            )
        return hits
