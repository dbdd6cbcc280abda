"""Whether the index answers a question at all: a calibrated confidence and the abstention it
decides ("the documents don't say").

The signal is the question's cosine with the *nearest document* of the index: each document
is summarised by the normalised mean of its passage vectors (what it is about), and the best
of those among the documents in the question's scope is taken. One centroid for the whole
index fails when the index mixes topics (treaties and privacy policies average to neither);
the maximum over per-document centroids does not. The top passage's own cosine is a second
feature. A logistic model over the two turns them into a probability that the
index answers; below ``Settings.abstain_below`` the answer abstains. The model, its fit and
the threshold are measured by ``bench/abstention.py`` (wrong-corpus against right-corpus
questions, also over a mixed index): see docs/benchmarks.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ingest.store.reader import StoredIndex

# Logistic model P(answered) = sigmoid(W_DOC * doc + W_TOP * top + BIAS), fitted by
# bench/abstention.py on the shared dev sets, right- against wrong-corpus questions over
# separate and mixed indexes (cross-validated by document there: precision 0.92, recall 0.92
# at 0.5). The top passage's weight comes out negative: at equal closeness to a document, a
# question whose single best passage is much closer than the document as a whole is matching
# one generic passage (a definition, a boilerplate clause) rather than the document's subject.
W_DOC = 32.88
W_TOP = -14.26
BIAS = -3.56
_BLOCK = 50_000  # rows of vectors read at once when the centroids are built
# Up to this many documents every centroid is compared (a product with at most ~12 MB of
# vectors, under a millisecond); past it, only the documents of the question's nearest
# passages are, which bounds the cost per question however many documents the index holds.
EXACT_DOCS = 8_192
NEAR_PASSAGES = 64  # how many nearest passages name the candidate documents then


@dataclass(frozen=True)
class Confidence:
    """How likely the index answers the question (``value``, 0..1), the two features it comes
    from, and whether that is above the threshold (``answered``)."""

    value: float
    answered: bool
    document_cosine: float  # the question's cosine with the nearest document in scope
    top_cosine: float  # the question's cosine with the best passage found


def calibrated(document_cosine: float, top_cosine: float) -> float:
    """The model's probability that the index answers, from the two cosines."""
    z = W_DOC * document_cosine + W_TOP * top_cosine + BIAS
    return 1.0 / (1.0 + math.exp(-z))


class DocumentCentroids:
    """The normalised mean passage vector of every document of ``index``, built once per
    loaded index (one pass over the vectors, in blocks)."""

    def __init__(self, index: StoredIndex) -> None:
        n_docs = len(index.doc_ids)
        sums = np.zeros((n_docs, index.manifest.model.dimension), dtype=np.float64)
        for start in range(0, len(index), _BLOCK):
            rows = range(start, min(start + _BLOCK, len(index)))
            docs = index.passage_doc[start : rows.stop]
            # Rows grouped by document, each group summed at once (np.add.at, row by row, took
            # 34 s for a million rows; this takes a second).
            order = np.argsort(docs, kind="stable")
            grouped = docs[order]
            firsts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
            sums[grouped[firsts]] += np.add.reduceat(index.vectors_of(rows)[order], firsts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        self.vectors = (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        self.passage_doc = index.passage_doc

    @property
    def exhaustive(self) -> bool:
        """Whether :meth:`nearest` compares every document (else it needs ``near_rows``)."""
        return len(self.vectors) <= EXACT_DOCS

    def nearest(self, query: np.ndarray, mask: np.ndarray | None, near_rows: np.ndarray | None = None) -> float:
        """The best cosine of ``query`` with a document ``mask`` keeps (all without one). Past
        :data:`EXACT_DOCS` documents, among those of ``near_rows`` (the question's nearest
        passages in scope): the nearest document almost always holds one of them."""
        if not self.exhaustive and near_rows is not None:
            docs = np.unique(self.passage_doc[near_rows])
        elif mask is None:
            return float((self.vectors @ query).max()) if len(self.vectors) else 0.0
        else:
            docs = np.unique(self.passage_doc[mask])
        if not len(docs):
            return 0.0
        return float((self.vectors[docs] @ query).max())


def assess(
    centroids: DocumentCentroids,
    query: np.ndarray,
    mask: np.ndarray | None,
    top_cosine: float,
    threshold: float,
    near_rows: np.ndarray | None = None,
) -> Confidence:
    """The confidence of an answer whose best passage has ``top_cosine`` with ``query``."""
    document = centroids.nearest(query, mask, near_rows)
    value = calibrated(document, top_cosine)
    return Confidence(value=value, answered=value >= threshold, document_cosine=document, top_cosine=top_cosine)
