"""Dense search within a segment: the exact blocked search is exact (with deletions and
filters, across block boundaries), and the approximate one honours deletions and filters,
reads its IVF file memory-mapped and finds what exact search finds."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from ingest.store import dense
from ingest.store.dense import DensePolicy, SegmentDense, build_dense, read_dense


def _vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors (a corpus has topics), as float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    vectors = centres[rng.integers(0, 20, n)] + 0.6 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _exact(vectors: np.ndarray, query: np.ndarray, keep: np.ndarray, n: int) -> list[int]:
    scores = np.where(keep, vectors @ query, -np.inf)
    return [int(r) for r in np.argsort(-scores, kind="stable")[:n] if keep[r]]


def test_exact_search_is_exact_across_blocks_with_deletions_and_filters(monkeypatch) -> None:
    monkeypatch.setattr(dense, "BLOCK", 64)  # many blocks on a small segment
    vectors = _vectors(1000)
    live = np.ones(1000, dtype=bool)
    live[::7] = False
    segment = SegmentDense(vectors, None, build_dense(vectors, DensePolicy("ivf"))[1], live)
    query = vectors[3]
    rows, scores = segment.search(query, 25, None)
    assert rows.tolist() == _exact(vectors, query, live, 25)
    np.testing.assert_allclose(scores, vectors[rows] @ query, rtol=1e-6)
    wanted = np.flatnonzero(live & (np.arange(1000) % 3 == 0))
    rows, _ = segment.search(query, 25, wanted)
    assert rows.tolist() == _exact(vectors, query, np.isin(np.arange(1000), wanted), 25)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_search_honours_deletions_and_filters(tmp_path: Path, kind: str, monkeypatch) -> None:
    vectors = _vectors(4000)
    policy = DensePolicy(kind, exact_below=1000)  # type: ignore[arg-type]
    index, info = build_dense(vectors, policy)
    assert index is not None and info.type == kind
    faiss.write_index(index, str(tmp_path / "dense.faiss"))
    loaded = read_dense(tmp_path / "dense.faiss", info)
    live = np.ones(4000, dtype=bool)
    live[:2000:2] = False
    segment = SegmentDense(vectors, loaded, info, live)
    recalls = []
    for q in range(1, 40, 2):
        rows, scores = segment.search(vectors[q], 10, None)
        assert live[rows].all()
        np.testing.assert_allclose(scores, vectors[rows] @ vectors[q], rtol=1e-5)  # re-scored exactly
        recalls.append(len(set(rows.tolist()) & set(_exact(vectors, vectors[q], live, 10))) / 10)
    assert np.mean(recalls) >= 0.9
    # A filter matching many rows goes through FAISS; a selective one falls back to exact search.
    monkeypatch.setattr(dense, "EXACT_BELOW", 500)
    for wanted in (np.flatnonzero(live & (np.arange(4000) % 2 == 1)), np.flatnonzero(live)[:40]):
        rows, _ = segment.search(vectors[5], 10, wanted)
        assert set(rows.tolist()) <= set(wanted.tolist()) and len(rows) == 10


def test_a_segment_below_the_limit_carries_no_faiss_index() -> None:
    assert build_dense(_vectors(999), DensePolicy("ivf", exact_below=1000))[0] is None
    assert build_dense(_vectors(2000), DensePolicy("flat", exact_below=1000))[0] is None
