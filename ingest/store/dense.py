"""Dense search over one segment: exact for small segments, approximate for large ones.

A segment below :attr:`DensePolicy.exact_below` rows carries no FAISS file: its vectors
(``vectors.npy``, read with ``pread``: :mod:`ingest.store.vectors`) are scored exactly, :data:`BLOCK` rows at a time, keeping a
running top-n, so a request never copies more than one block. A larger segment carries
``dense.faiss``: by default IVF with an 8-bit scalar quantiser (412 bytes a vector, read with
``IO_FLAG_MMAP`` so opening it costs milliseconds and its lists stay in the page cache), whose
candidates are re-scored exactly from the stored vectors; or HNSW (in memory). Deleted rows
and filters reach FAISS as a bitmap selector; a filter too selective for the probed lists to
fill the top-n falls back to the exact blocked search over the matching rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ingest.settings import Settings
from ingest.store.format import FaissInfo, FaissType
from ingest.store.vectors import StoredVectors

BLOCK = 16_384  # rows scored at once by exact search: at 384-d, 24 MiB
EXACT_BELOW = 50_000  # rows; a segment this small is searched exactly (see docs/benchmarks.md)
RERANK = 4  # an approximate search fetches RERANK × n candidates and re-scores them exactly
TRAIN_SAMPLE = 100_000  # vectors an IVF quantiser is trained on, at most


@dataclass(frozen=True)
class DensePolicy:
    """Which FAISS index a segment of a given size gets, and the approximate ones' tunables."""

    kind: FaissType  # for segments of ``exact_below`` rows or more; ``flat``: exact everywhere
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nprobe: int = 16
    exact_below: int = EXACT_BELOW

    @classmethod
    def of(cls, settings: Settings) -> DensePolicy:
        return cls(settings.faiss_index, settings.hnsw_m, settings.hnsw_ef_search, settings.ivf_nprobe)

    def info(self) -> FaissInfo:
        """What the manifest records of the policy."""
        if self.kind == "hnsw":
            return FaissInfo("hnsw", m=self.hnsw_m, ef_search=self.hnsw_ef_search)
        if self.kind == "ivf":
            return FaissInfo("ivf", nprobe=self.ivf_nprobe)
        return FaissInfo("flat")


def build_dense(vectors: np.ndarray, policy: DensePolicy) -> tuple[faiss.Index | None, FaissInfo]:
    """The FAISS index of a segment's vectors (``None``: searched exactly from the vectors)."""
    n, dim = vectors.shape
    if policy.kind == "flat" or n < policy.exact_below:
        return None, FaissInfo("flat")
    if policy.kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, policy.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 200
        hnsw.hnsw.efSearch = policy.hnsw_ef_search
        hnsw.add(vectors)
        return hnsw, FaissInfo("hnsw", m=policy.hnsw_m, ef_search=policy.hnsw_ef_search)
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))  # FAISS wants ≥ 39 training points a list
    ivf = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    sample = vectors
    if n > max(TRAIN_SAMPLE, 39 * nlist):
        picked = np.sort(np.random.default_rng(0).choice(n, max(TRAIN_SAMPLE, 39 * nlist), replace=False))
        sample = np.asarray(vectors[picked])
    ivf.train(np.ascontiguousarray(sample, dtype=np.float32))
    for start in range(0, n, 8 * BLOCK):
        ivf.add(np.ascontiguousarray(vectors[start : start + 8 * BLOCK], dtype=np.float32))
    return ivf, FaissInfo("ivf", nlist=nlist, nprobe=policy.ivf_nprobe)


def read_dense(path: Path, info: FaissInfo) -> faiss.Index | None:
    """A segment's FAISS index as written (IVF memory-mapped), or ``None`` for exact search."""
    if info.type == "flat":
        return None
    if info.type == "ivf":
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    return faiss.read_index(str(path))


def top_n(
    scores: np.ndarray, rows: np.ndarray, n: int, tiebreak: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``rows`` by ``scores`` (parallel arrays), best first. Equal scores go by
    ``tiebreak[row]`` when given (else by position), ties at the cut included before it."""
    if len(scores) > n:
        cut = np.partition(-scores, n - 1)[n - 1]
        keep = -scores <= cut
        scores, rows = scores[keep], rows[keep]
    order = np.argsort(-scores, kind="stable") if tiebreak is None else np.lexsort((tiebreak[rows], -scores))
    return rows[order][:n], scores[order][:n]


def _bitmap_selector(keep: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector admitting the rows where ``keep`` is true."""
    bits = np.packbits(keep, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(keep), faiss.swig_ptr(bits))
    selector.referenced_objects = [bits]  # type: ignore[attr-defined]  # the bitmap must outlive the selector
    return selector


class SegmentDense:
    """Dense search over one segment's live rows (local row numbers)."""

    def __init__(
        self, vectors: np.ndarray | StoredVectors, index: faiss.Index | None, info: FaissInfo, live: np.ndarray
    ) -> None:
        self.vectors = vectors
        self.index = index
        self.info = info
        self.live = live  # bool per local row
        self._all_live = bool(live.all())

    def search(self, query: np.ndarray, n: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best live rows (or best of ``rows``, live rows matching a filter), best first."""
        if self.index is None:
            return self._exact(query, n, rows)
        if rows is None:
            keep = None if self._all_live else self.live
            return self._approximate(query, n, keep)
        if len(rows) <= EXACT_BELOW:
            return self._exact(query, n, rows)
        keep = np.zeros(len(self.live), dtype=bool)
        keep[rows] = True
        found, scores = self._approximate(query, n, keep)
        return (found, scores) if len(found) >= min(n, len(rows)) else self._exact(query, n, rows)

    def _exact(self, query: np.ndarray, n: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        best_rows, best_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
        total = len(self.vectors) if rows is None else len(rows)
        for start in range(0, total, BLOCK):
            if rows is None:
                block = np.arange(start, min(start + BLOCK, total), dtype=np.int64)
                scores = np.asarray(self.vectors[start : start + BLOCK]) @ query
                if not self._all_live:
                    keep = self.live[start : start + BLOCK]
                    block, scores = block[keep], scores[keep]
            else:
                block = rows[start : start + BLOCK].astype(np.int64)
                scores = np.asarray(self.vectors[block]) @ query
            best_rows, best_scores = top_n(np.concatenate([best_scores, scores]), np.concatenate([best_rows, block]), n)
        return best_rows, best_scores

    def _approximate(self, query: np.ndarray, n: int, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS candidates (restricted to ``keep``), re-scored exactly from the stored vectors."""
        assert self.index is not None
        depth = RERANK * n
        selector = None if keep is None else _bitmap_selector(keep)
        # faiss's bundled stubs omit the keyword arguments of SWIG's parameter classes and the
        # HNSW parameter class itself; the calls are checked by tests/ingest/store/test_store_dense.py.
        if self.info.type == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.info.nprobe or 16)  # type: ignore[call-arg]
        else:
            params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
                sel=selector, efSearch=max(self.info.ef_search or 128, depth)
            )
        _, found = self.index.search(query[None, :].astype(np.float32), depth, params=params)
        candidates = np.unique(found[0][found[0] >= 0])
        scores = np.asarray(self.vectors[candidates]) @ query
        return top_n(scores, candidates, n)
