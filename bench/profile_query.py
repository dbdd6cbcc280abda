"""Where the time of one hybrid `/ask` goes: each stage of the retriever timed separately."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import SHARED, md_table, write_block

from ingest.settings import Settings
from service.search.engine import Engine


def main(index: Path, repeat: int = 3) -> dict:
    engine = Engine(Settings(index_dir=index))
    snapshot = engine.load()
    retriever, stored = snapshot.retriever, snapshot.index
    qs = [json.loads(line)["question"] for line in (SHARED / "qa" / "treaties-dev.jsonl").read_text().splitlines()]
    stages: dict[str, list[float]] = {
        k: []
        for k in (
            "embed query",
            "FAISS search",
            "BM25 scores + top",
            "fusion + article boost",
            "de-duplicate",
            "SQLite fetch",
            "highlight",
            "whole run()",
        )
    }
    for _ in range(repeat):
        for q in qs:
            t0 = time.perf_counter()
            vector = retriever.embedder.embed_query(q)
            t1 = time.perf_counter()
            stored.dense.search(vector[None, :], 100)
            t2 = time.perf_counter()
            retriever.lexical(q, None, 100)
            t3 = time.perf_counter()
            ranked = retriever.rank(q, "hybrid", None, 20)
            t4 = time.perf_counter()
            chosen = retriever._dedupe(ranked, 5)
            t5 = time.perf_counter()
            passages = stored.passages([r for r, _ in chosen])
            t6 = time.perf_counter()
            for p in passages:
                retriever.highlighter.best_span(q, p.text)
            t7 = time.perf_counter()
            retriever.run(q, 5, "hybrid")
            t8 = time.perf_counter()
            fusion_only = (t4 - t3) - (t1 - t0) - (t2 - t1) - (t3 - t2)  # rank() repeats embed+search+bm25
            for name, value in zip(
                stages, (t1 - t0, t2 - t1, t3 - t2, max(fusion_only, 0.0), t5 - t4, t6 - t5, t7 - t6, t8 - t7)
            ):
                stages[name].append(value * 1000)
    rows = [[name, f"{np.median(v):.2f}", f"{np.percentile(v, 99):.2f}"] for name, v in stages.items()]
    body = (
        f"Command: `python bench/profile_query.py --index INDEX` (in-process, {len(qs)} treaty questions × {repeat}, "
        f"{len(stored)} passages).\n\n" + md_table(["stage", "median ms", "p99 ms"], rows)
    )
    write_block("profile", body)
    print(body)
    return {k: float(np.median(v)) for k, v in stages.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    main(parser.parse_args().index)
