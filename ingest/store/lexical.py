"""BM25 over passages with bm25s: built at ingest time, saved beside the vectors, loaded with mmap."""

from __future__ import annotations

import re
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

# Keep one-character tokens: "Article 3" must index the "3".
_TOKEN = re.compile(r"(?u)\b\w+\b")
_STOPWORDS = frozenset(STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")


def tokenize_one(text: str) -> list[str]:
    """Lower-case word tokens, English stop words removed, Snowball-stemmed.

    Written out (rather than ``bm25s.tokenize``) because it runs on every query and every
    highlighted sentence, where bm25s's per-call set-up costs more than the work itself.
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer.stemWords(words)


def tokenize(texts: list[str]) -> list[list[str]]:
    return [tokenize_one(text) for text in texts]


class LexicalIndex:
    """A thin BM25 index: ``build``, ``save``, ``load``, ``scores``, and the corpus statistics
    (``vocabulary``, ``document_frequencies``) that highlighting weighs words with."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self.retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        retriever = bm25s.BM25()
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(folder), mmap=True), size)

    def vocabulary(self) -> dict[str, int]:
        """Every indexed (stemmed) token and its term id."""
        vocab: dict[str, int] = self.retriever.vocab_dict
        return vocab

    def document_frequencies(self) -> np.ndarray:
        """How many passages hold each term, indexed by the term ids of :meth:`vocabulary`."""
        # bm25s keeps the scores as a CSC matrix with one column per term: the passages
        # holding a term are the entries of its column.
        return np.diff(np.asarray(self.retriever.scores["indptr"]))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (zeros when no query term is indexed)."""
        ids = self.retriever.get_tokens_ids(tokenize_one(query))
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)
