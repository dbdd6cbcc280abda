"""How the hybrid mode adds a dense and a lexical ranking into one.

``minmax`` (the default): each side is min-max scaled over its own candidates and the two are
added with weight ``alpha`` on the dense side. Its weakness: the lexical side's best match
gets full weight even when it shares only common words with the question (the headline
question's "country" and "persecution" lift the Refugee Convention's definition over Article
33). ``bound`` scales the lexical side instead by the best score the question could reach
(every known term of it, at saturation: the sum of its idf), so a match on common words
weighs little and one on the question's rare words much. Both are measured on both shared
dev sets by bench/rank_variants.py (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def min_max(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] so that cosine and BM25 scores can be added; a single score becomes 1."""
    if len(scores) == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    return (scores - low) / (high - low) if high > low else np.ones_like(scores)


def lexical_bound(idf: Mapping[str, float], tokens: list[str]) -> float:
    """The highest BM25 score (lucene variant) a passage could reach for the question's
    ``tokens``: each known term saturated, so its idf, once per time the question says it."""
    return float(sum(idf.get(token, 0.0) for token in tokens))


def fuse(
    dense: tuple[np.ndarray, np.ndarray],
    lexical: tuple[np.ndarray, np.ndarray],
    alpha: float,
    bound: float | None = None,
) -> dict[int, float]:
    """Row → fused score. ``dense`` and ``lexical`` are (rows, scores) best first; with
    ``bound`` (see :func:`lexical_bound`) the lexical scores are divided by it instead of
    min-max scaled."""
    dense_rows, dense_scores = dense
    lexical_rows, lexical_scores = lexical
    if bound is not None:
        lexical_values = lexical_scores / bound if bound > 0 else np.zeros_like(lexical_scores)
    else:
        lexical_values = min_max(lexical_scores)
    fused: dict[int, float] = {}
    for weight, rows, values in ((alpha, dense_rows, min_max(dense_scores)), (1 - alpha, lexical_rows, lexical_values)):
        for row, value in zip(rows.tolist(), np.asarray(values).tolist()):
            fused[row] = fused.get(row, 0.0) + weight * value
    return fused
