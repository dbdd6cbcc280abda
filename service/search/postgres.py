"""Retrieval over the PostgreSQL backend (:mod:`ingest.store.postgres`), with the contract of
:class:`~service.search.retriever.Retriever`: the same query (modes, filters, ``top_k``), the
same fusion, article boost, de-duplication, citations, highlights and confidence.

What runs in the database, each over its index and with the filters inside the ``WHERE`` (never
a post-filter that loses results):

- dense: ``ORDER BY embedding <#> q LIMIT n`` over the HNSW index with ``hnsw.ef_search`` at
  least ``n``; when a filter leaves fewer than ``n`` rows in the graph's reach, an exact scan of
  the matching rows instead (as the embedded IVF does for a too selective filter);
- lexical: PostgreSQL full-text search over the GIN index. The question's lexemes (its
  ``to_tsvector``: stop words dropped, stemmed) are looked up in ``clausewise_lexemes``; the
  candidates are the passages holding its rarest ones, added rarest first while the passages
  they are in total at most ``postgres_lexical_candidates`` (as Elasticsearch's common-terms
  query selects by its low-frequency terms); those are ranked by ``ts_rank_cd`` over every
  lexeme OR-ed (BM25 ranks passages sharing any word), with length normalisation. Ranking
  every passage sharing any word (most of a corpus for a question of common words) cost ~100 ms
  on 1,700 passages: ``ts_rank_cd`` is computed per row, ~0.1 ms each, and the GIN index only
  finds the rows. Not BM25: no idf but for the
  selection, and cover density instead of saturating term frequency (docs/benchmarks.md);
- a question word's idf for the highlight: summed from ``clausewise_terms``, the embedded
  index's exact BM25 idf;
- the confidence's nearest document: the per-document centroids stored at ingest.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.settings import Settings
from ingest.store.format import Manifest
from ingest.store.lexical import bm25_idf
from ingest.store.postgres.schema import (
    DOCUMENTS,
    LEXEMES,
    PASSAGES,
    TERMS,
    TEXT_SEARCH_CONFIG,
    Connection,
    connect,
)
from ingest.store.postgres.state import DOCUMENT_COLUMNS, PostgresState, document_of, published_version, read_state
from ingest.store.reader import source_matches
from ingest.types import Document, Passage
from service.search.confidence import Confidence, calibrated
from service.search.dedupe import drop_overlaps
from service.search.fusion import fuse
from service.search.highlight import Highlighter
from service.search.names import ARTICLE_REF, DocumentNames
from service.search.query import Filters, Mode, Query
from service.search.retriever import ARTICLE_DOC_DEPTH, QueryEncoder
from service.search.types import Citation, Hit

_PASSAGE_COLUMNS = (
    "p.id, p.doc_id, p.ordinal, p.text, p.char_start, p.char_end, p.page_start, p.page_end, p.section, "
    "p.content_hash, p.ocr"
)
_DOC_COLUMNS = ", ".join(f"d.{c.strip()}" for c in DOCUMENT_COLUMNS.split(","))
_CANDIDATE_COLUMNS = "p.pk, p.doc_id, p.char_start, p.char_end, p.content_hash"


def _passage_of(row: Sequence[Any]) -> Passage:
    id_, doc_id, ordinal, text, start, end, page_start, page_end, section, content_hash, ocr = row[:11]
    return Passage(id_, doc_id, ordinal, text, start, end, page_start, page_end, section, content_hash, bool(ocr))


@dataclass(frozen=True)
class Candidate:
    """What ranking and de-duplication need of a passage, before its text is read."""

    doc_id: str
    span: tuple[int, int]
    content_hash: str


class PostgresIndex:
    """One published state of a PostgreSQL index, as the service reads it: the manifest and
    documents of that state (what ``/readyz``, ``/documents`` and the filters use) and
    connections for the queries, one per thread. A newer state is a new object (the engine polls
    :func:`~ingest.store.postgres.state.published_version`)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._local = threading.local()
        state: PostgresState = read_state(self.conn)
        self.manifest: Manifest = state.manifest
        self.generation = state.generation
        self.documents: dict[str, Document] = state.documents

    @property
    def conn(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = connect(self.dsn)
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (the others close with their threads' objects)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    @property
    def version(self) -> str:
        return self.manifest.index_version

    def __len__(self) -> int:
        return self.manifest.counts.passages

    def published_version(self) -> str | None:
        return published_version(self.conn)

    def _remember(self, row: Sequence[Any]) -> Document:
        """The document of a passage row (its last columns), added to :attr:`documents` when an
        ingest added it after this state was read, so that it can be cited."""
        document = document_of(tuple(row[-8:]))
        return self.documents.setdefault(document.doc_id, document)

    def passages(self, pks: Sequence[int]) -> dict[int, tuple[Passage, Document]]:
        """Passages by key, with their documents (a passage deleted meanwhile is left out)."""
        rows = self.conn.execute(
            f"SELECT p.pk, {_PASSAGE_COLUMNS}, {_DOC_COLUMNS} FROM {PASSAGES} p JOIN {DOCUMENTS} d USING (doc_id)"
            " WHERE p.pk = ANY(%s)",
            (list(pks),),
        ).fetchall()
        return {int(row[0]): (_passage_of(row[1:]), self._remember(row)) for row in rows}

    def with_neighbours(self, passage_id: str, context: int) -> tuple[Passage, list[Passage], list[Passage]] | None:
        """A passage with up to ``context`` passages before and after it in its document."""
        row = self.conn.execute(
            f"SELECT {_PASSAGE_COLUMNS}, {_DOC_COLUMNS} FROM {PASSAGES} p JOIN {DOCUMENTS} d USING (doc_id)"
            " WHERE p.id = %s",
            (passage_id,),
        ).fetchone()
        if row is None:
            return None
        passage = _passage_of(row)
        self._remember(row)
        rows = self.conn.execute(
            f"SELECT {_PASSAGE_COLUMNS} FROM {PASSAGES} p WHERE p.doc_id = %s AND p.ordinal BETWEEN %s AND %s"
            " ORDER BY p.ordinal",
            (passage.doc_id, passage.ordinal - context, passage.ordinal + context),
        ).fetchall()
        around = [_passage_of(r) for r in rows]
        return (
            passage,
            [p for p in around if p.ordinal < passage.ordinal],
            [p for p in around if p.ordinal > passage.ordinal],
        )

    def lexical_queries(self, question: str, budget: int) -> tuple[str, str] | None:
        """The tsqueries of a lexical search: the one selecting candidates (the question's rarest
        lexemes while the passages holding them total at most ``budget``, at least the rarest one)
        and the one ranking them (every lexeme of the question in the index); ``None`` when no
        lexeme of the question is indexed."""
        rows = self.conn.execute(
            f"SELECT t.lexeme, (SELECT coalesce(sum(l.ndoc), 0) FROM {LEXEMES} l WHERE l.lexeme = t.lexeme)"
            f" FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', %s)) t",
            (question,),
        ).fetchall()
        found = sorted((int(df), str(lexeme)) for lexeme, df in rows if df)
        if not found:
            return None
        chosen: list[str] = []
        total = 0
        for df, lexeme in found:
            if chosen and total + df > budget:
                break
            chosen.append(lexeme)
            total += df
        return _any_of(chosen), _any_of([lexeme for _, lexeme in found])

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25 idf of each of ``terms`` over every passage (as the embedded index computes it)."""
        if not terms:
            return {}
        rows = self.conn.execute(
            f"SELECT term, sum(df) FROM {TERMS} WHERE term = ANY(%s) GROUP BY term", (list(terms),)
        ).fetchall()
        size = len(self)
        return {term: float(bm25_idf(float(df), size)) for term, df in rows if df}


def _any_of(lexemes: Sequence[str]) -> str:
    """A tsquery matching any of ``lexemes``, each quoted as the tsquery syntax wants."""
    return " | ".join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)


class _Where:
    """A query's filters as a ``WHERE`` fragment over ``p`` (passages) and its parameters."""

    def __init__(self, index: PostgresIndex, filters: Filters) -> None:
        self.sql = "true"
        self.params: list[Any] = []
        docs: list[str] | None = None
        if filters.source is not None:
            pattern = filters.source
            docs = [d.doc_id for d in index.documents.values() if source_matches(d.source, pattern)]
        if filters.doc_id is not None:
            wanted = set(filters.doc_id)
            docs = [d for d in (docs if docs is not None else list(wanted)) if d in wanted]
        if docs is not None:
            self.sql += " AND p.doc_id = ANY(%s)"
            self.params.append(docs)
        if filters.section is not None:
            self.sql += " AND strpos(lower(p.section), lower(%s)) > 0"
            self.params.append(filters.section)

    @property
    def active(self) -> bool:
        return bool(self.params)


class PostgresRetriever:
    """:class:`~service.search.retriever.Retriever`'s contract over a :class:`PostgresIndex`."""

    def __init__(self, index: PostgresIndex, embedder: QueryEncoder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._vector = functools.lru_cache(maxsize=32)(embedder.embed_query)

    def warm_up(self) -> None:
        self.embedder.warm_up()
        self.embedder.embed_query("warm up")
        _ = self._names  # the documents' name fields, at load rather than in the first question

    @functools.cached_property
    def _names(self) -> DocumentNames:
        """The name fields of this published state's documents (built in :meth:`warm_up`)."""
        return DocumentNames((d.doc_id, d.title, d.source) for d in list(self.index.documents.values()))

    # -- the rankings --------------------------------------------------------------------
    def dense(self, question: str, where: _Where, n: int) -> tuple[list[int], list[float], dict[int, Candidate]]:
        """Passages nearest the question among those ``where`` keeps, best first."""
        vector = self._vector(question)
        sql = (
            f"SELECT {_CANDIDATE_COLUMNS}, -(p.embedding <#> %s) FROM {PASSAGES} p WHERE {where.sql}"
            " ORDER BY p.embedding <#> %s LIMIT %s"
        )
        params = [vector, *where.params, vector, n]
        conn = self.index.conn
        with conn.transaction():
            conn.execute(f"SET LOCAL hnsw.ef_search = {min(1000, max(n, self.settings.hnsw_ef_search))}")
            rows = conn.execute(sql, params).fetchall()
            if where.active and len(rows) < n:  # the graph's neighbourhood held too few matches
                conn.execute("SET LOCAL enable_indexscan = off")
                rows = conn.execute(sql, params).fetchall()
        return self._candidates(rows)

    def lexical(self, question: str, where: _Where, n: int) -> tuple[list[int], list[float], dict[int, Candidate]]:
        """Passages sharing words with the question, by ``ts_rank_cd`` (length-normalised)."""
        queries = self.index.lexical_queries(question, self.settings.postgres_lexical_candidates)
        if queries is None:
            return [], [], {}
        selecting, ranking = queries
        rows = self.index.conn.execute(
            f"SELECT {_CANDIDATE_COLUMNS}, ts_rank_cd(p.tsv, %s::tsquery, 1) AS score FROM {PASSAGES} p"
            f" WHERE p.tsv @@ %s::tsquery AND {where.sql} ORDER BY score DESC, p.doc_id, p.char_start LIMIT %s",
            [ranking, selecting, *where.params, n],
        ).fetchall()
        return self._candidates(rows)

    @staticmethod
    def _candidates(rows: Sequence[Sequence[Any]]) -> tuple[list[int], list[float], dict[int, Candidate]]:
        found = {int(r[0]): Candidate(r[1], (int(r[2]), int(r[3])), r[4]) for r in rows}
        return [int(r[0]) for r in rows], [float(r[5]) for r in rows], found

    def _article_rows(self, question: str, where: _Where, documents: set[str]) -> dict[int, Candidate]:
        """Passages of the articles the question names, in ``documents`` (those its best
        candidates are in), as the embedded retriever lifts them."""
        numbers = sorted({n.lower() for n in ARTICLE_REF.findall(question)})
        if not numbers or not documents:
            return {}
        pattern = "(^|> )Article (" + "|".join(numbers) + ")( —|$| >)"
        rows = self.index.conn.execute(
            f"SELECT {_CANDIDATE_COLUMNS}, 0.0 FROM {PASSAGES} p"
            f" WHERE p.doc_id = ANY(%s) AND p.section ~* %s AND {where.sql}",
            [sorted(documents), pattern, *where.params],
        ).fetchall()
        return self._candidates(rows)[2]

    def rank(
        self, question: str, mode: Mode | str, where: _Where, n: int
    ) -> tuple[list[tuple[int, float]], dict[int, Candidate]]:
        """Passage keys and scores, best first, before de-duplication, and their candidates."""
        if mode == Mode.DENSE:
            rows, scores, found = self.dense(question, where, n)
            return list(zip(rows, scores)), found
        if mode == Mode.LEXICAL:
            rows, scores, found = self.lexical(question, where, n)
            return list(zip(rows, scores)), found
        depth = self.settings.candidates
        dense_rows, dense_scores, found = self.dense(question, where, depth)
        lexical_rows, lexical_scores, lexical_found = self.lexical(question, where, depth)
        found.update(lexical_found)
        fused = fuse(
            (np.asarray(dense_rows, np.int64), np.asarray(dense_scores, np.float32)),
            (np.asarray(lexical_rows, np.int64), np.asarray(lexical_scores, np.float32)),
            self.settings.fusion_alpha,
        )
        # The document the question names, if any; else those it points at, as the embedded
        # retriever reads them.
        named = self._names.named(question) if self.settings.named_document_boost else None
        named_id = None if named is None else self._names.doc_ids[named]
        if named_id is not None:
            documents = {named_id}
        else:
            documents = {found[r].doc_id for r in dense_rows[:ARTICLE_DOC_DEPTH] + lexical_rows[:ARTICLE_DOC_DEPTH]}
        boosted = self._article_rows(question, where, documents)
        for row, candidate in boosted.items():
            found.setdefault(row, candidate)
            fused[row] = fused.get(row, 0.0) + self.settings.article_boost
        if named_id is not None:
            for row in fused:
                if found[row].doc_id == named_id:
                    fused[row] += self.settings.named_document_boost
        ranked = sorted(fused.items(), key=lambda item: (-item[1], found[item[0]].doc_id, found[item[0]].span))
        return ranked, found

    # -- the answer ----------------------------------------------------------------------
    def search(self, query: Query) -> list[Hit]:
        """The hits for a validated query: what every surface calls."""
        return self.run(query.question, query.top_k, query.mode, query.filters)

    def run(
        self, question: str, top_k: int = 5, mode: Mode | str = Mode.HYBRID, filters: Filters | None = None
    ) -> list[Hit]:
        where = _Where(self.index, filters or Filters())
        ranked, found = self.rank(question, mode, where, max(top_k * 4, 20))
        chosen = drop_overlaps(
            ranked,
            top_k,
            lambda row: found[row].doc_id,
            lambda row: found[row].span,
            lambda row: found[row].content_hash,
        )
        terms = Highlighter.terms(question)
        highlighter = Highlighter(self.index.idf(sorted(terms)))
        passages = self.index.passages([row for row, _ in chosen])
        hits: list[Hit] = []
        for row, score in chosen:
            if row not in passages:
                continue  # its document was replaced since the ranking: the next ones move up
            passage, document = passages[row]
            hits.append(
                Hit(
                    passage=passage,
                    citation=Citation.of(passage, document),
                    score=float(score),
                    rank=len(hits) + 1,
                    highlight=highlighter.best_span(terms, passage.text, passage.section),
                )
            )
        return hits

    def confidence(self, query: Query, hits: list[Hit]) -> Confidence:
        """How likely the index answers ``query`` (:mod:`service.search.confidence`): the
        question's cosine with the nearest document centroid in scope and with the top passage."""
        vector = self._vector(query.question)
        where = _Where(self.index, query.filters or Filters())
        conn = self.index.conn
        scope = f"EXISTS (SELECT 1 FROM {PASSAGES} p WHERE p.doc_id = d.doc_id AND {where.sql})"
        row = conn.execute(
            f"SELECT max(-(d.centroid <#> %s)) FROM {DOCUMENTS} d WHERE {scope if where.active else 'true'}",
            [vector, *(where.params if where.active else [])],
        ).fetchone()
        document = float(row[0]) if row is not None and row[0] is not None else 0.0
        top = 0.0
        if hits:
            found = conn.execute(
                f"SELECT -(embedding <#> %s) FROM {PASSAGES} WHERE id = %s", (vector, hits[0].passage.id)
            ).fetchone()
            top = float(found[0]) if found is not None else 0.0
        if not hits:
            return Confidence(0.0, False, document, 0.0)
        value = calibrated(document, top)
        return Confidence(value, value >= self.settings.abstain_below, document, top)
