"""BM25 over passages with bm25s: built at ingest time, saved beside the vectors, loaded with mmap."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import Stemmer

# Keep one-character tokens: "Article 3" must index the "3".
TOKEN_PATTERN = r"(?u)\b\w+\b"
_stemmer = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    tokenized = bm25s.tokenize(
        texts,
        stopwords="en",
        stemmer=_stemmer,
        token_pattern=TOKEN_PATTERN,
        return_ids=False,
        show_progress=False,
    )
    return [list(tokens) for tokens in tokenized]


class LexicalIndex:
    """A thin BM25 index: ``build``, ``save``, ``load``, ``scores``."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self.retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        retriever = bm25s.BM25()
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> "LexicalIndex":
        return cls(bm25s.BM25.load(str(folder), mmap=True), size)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (zeros when no query term is indexed)."""
        ids = self.retriever.get_tokens_ids(tokenize([query])[0])
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)
