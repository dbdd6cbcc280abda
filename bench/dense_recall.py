"""Recall@10 of the approximate dense index against exact search, on real embeddings:
`python bench/dense_recall.py [--index bench/out/index]`.

The vectors are the stored passages of an index of the shared corpora, the queries the
shared questions embedded by the index's model; the approximate index is built by the store's
own code (:func:`ingest.store.dense.build_dense`) with the size limit lifted, for several
``nprobe`` (IVF) and ``efSearch`` (HNSW) values. This is what chose the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from common import ROOT, md_table, questions, write_block

from ingest.embedder import Embedder
from ingest.settings import Settings
from ingest.store.dense import DensePolicy, SegmentDense, build_dense
from ingest.store.format import FaissInfo
from ingest.store.reader import StoredIndex


def measure(vectors: np.ndarray, queries: np.ndarray, policy: DensePolicy, depth: int) -> tuple[float, FaissInfo]:
    index, info = build_dense(vectors, policy)
    live = np.ones(len(vectors), dtype=bool)
    if info.type == "ivf":
        info = dataclasses.replace(info, nprobe=depth)
    else:
        info = dataclasses.replace(info, ef_search=depth)
    approx = SegmentDense(vectors, index, info, live)
    exact = SegmentDense(vectors, None, FaissInfo("flat"), live)
    found = [
        len(set(approx.search(q, 10, None)[0].tolist()) & set(exact.search(q, 10, None)[0].tolist())) / 10
        for q in queries
    ]
    return float(np.mean(found)), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "out" / "index")
    parser.add_argument("--record", action="store_true", help="Write the results into docs/benchmarks.md.")
    args = parser.parse_args()
    index = StoredIndex.open(args.index)
    vectors = index.vectors_of(range(len(index)))
    embedder = Embedder(index.manifest.model.name)
    queries = np.stack([embedder.embed_query(q) for q in questions()])
    base = dataclasses.replace(DensePolicy.of(Settings()), exact_below=0)
    rows = []
    for kind, depths in (("ivf", (4, 8, 16, 32)), ("hnsw", (32, 64, 128))):
        for depth in depths:
            recall, info = measure(vectors, queries, dataclasses.replace(base, kind=kind), depth)  # type: ignore[arg-type]
            rows.append([kind, info.to_json(), f"{recall:.4f}"])
            print(rows[-1], flush=True)
    table = md_table(["type", "parameters", "recall@10 vs exact"], rows)
    body = f"{len(vectors):,} real passage vectors of the shared corpora, {len(queries)} shared questions.\n\n{table}"
    print(body)
    if args.record:
        write_block("dense-recall", body)


if __name__ == "__main__":
    main()
