"""Where the time of one hybrid `/ask` goes, stage by stage, torch and ONNX query encoders side by side.

Two engines over the same index in one process — `CLAUSEWISE_QUERY_ENCODER=torch` (the
sentence-transformers encoder, "before") and `onnx` ("after", question LRU off so every
question is embedded) — and, for each treaty question in turn, both are timed through the
stages of `/ask`: JSON parse of the request body, validation (`AskRequest` → `Query`), query
embedding, FAISS search, BM25, fusion, de-duplication, the SQLite fetch, highlighting, and
serialisation of the response; then `Retriever.run` whole.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from common import SHARED, md_table, write_block

from ingest.settings import Settings
from service.http.schemas import AskRequest, AskResponse
from service.search.engine import Engine, Snapshot
from service.search.highlight import Highlighter
from service.search.serialise import passage_out

STAGES = (
    "HTTP body parse (json)",
    "validation (AskRequest → Query)",
    "embed query",
    "FAISS search",
    "BM25 scores + top",
    "fusion + article boost",
    "de-duplicate",
    "SQLite fetch",
    "highlight",
    "confidence",
    "serialise response",
    "whole answer (search + confidence)",
)


def profile_one(snapshot: Snapshot, settings: Settings, question: str) -> list[float]:
    """Milliseconds of each of :data:`STAGES` for one question, through the calls `/ask` makes."""
    retriever, stored = snapshot.retriever, snapshot.index
    raw = json.dumps({"question": question, "top_k": 5, "mode": "hybrid"}).encode()
    retriever._vector.cache_clear()  # the per-request embedding memo: every question embedded here
    t: list[float] = [time.perf_counter()]

    def mark() -> None:
        t.append(time.perf_counter())

    data = json.loads(raw)
    mark()
    query = AskRequest.model_validate(data).query(settings)
    mark()
    vector = retriever._vector(query.question)
    mark()
    stored.dense_search(vector, settings.candidates, None)
    mark()
    retriever.lexical(query.question, None, settings.candidates)
    mark()
    ranked = retriever.rank(query.question, query.mode, None, 20)  # its searches again, then fusion
    mark()
    chosen = retriever._dedupe(ranked, query.top_k)
    mark()
    passages = stored.passages([r for r, _ in chosen])
    mark()
    terms = Highlighter.terms(query.question)
    highlighter = Highlighter(stored.lexical.idf(sorted(terms)))
    for p in passages:
        highlighter.best_span(terms, p.text, p.section)
    mark()
    hits = retriever.search(query)
    t_search = time.perf_counter()
    confidence = retriever.confidence(query, hits)
    t_confidence = time.perf_counter()
    AskResponse(
        question=query.question,
        passages=[passage_out(h) for h in hits],
        confidence=confidence.value,
        answered=confidence.answered,
        index_version=snapshot.version,
        took_ms=0.0,
    ).model_dump_json()
    t_serialised = time.perf_counter()
    retriever._vector.cache_clear()
    hits = retriever.search(query)
    retriever.confidence(query, hits)
    t_whole = time.perf_counter()
    ms = [(b - a) * 1000 for a, b in itertools.pairwise(t)]
    # rank() runs both searches again (the embedding is memoised): its own share is the rest
    ms[5] = max(ms[5] - ms[3] - ms[4], 0.0)
    return [
        *ms,
        (t_confidence - t_search) * 1000,
        (t_serialised - t_confidence) * 1000,
        (t_whole - t_serialised) * 1000,
    ]


def main(index: Path, repeat: int = 3) -> dict:
    engines: dict[str, tuple[Snapshot, Settings]] = {}
    for encoder in ("torch", "onnx"):
        settings = Settings(index_dir=index, query_encoder=encoder, query_cache_size=0)
        engines[encoder] = (Engine(settings).load(), settings)
    qs = [json.loads(line)["question"] for line in (SHARED / "qa" / "treaties-dev.jsonl").read_text().splitlines()]
    times: dict[str, list[list[float]]] = {name: [] for name in engines}
    for snapshot, settings in engines.values():  # warm-up
        for q in qs[:5]:
            profile_one(snapshot, settings, q)
    for _ in range(repeat):
        for q in qs:  # interleaved: both encoders see the same load
            for name, (snapshot, settings) in engines.items():
                times[name].append(profile_one(snapshot, settings, q))

    def stats(name: str, i: int) -> tuple[float, float]:
        column = [row[i] for row in times[name]]
        return float(np.median(column)), float(np.percentile(column, 99))

    rows = []
    for i, stage in enumerate(STAGES):
        (tm, tp), (om, op) = stats("torch", i), stats("onnx", i)
        rows.append([stage, f"{tm:.2f}", f"{tp:.2f}", f"{om:.2f}", f"{op:.2f}"])
    passages = len(next(iter(engines.values()))[0].index)
    body = (
        f"Command: `python bench/profile_query.py --index INDEX` (in-process, {len(qs)} treaty questions × {repeat}, "
        f"{passages} passages; both encoders in one run, interleaved question by question; ONNX question LRU off).\n\n"
        + md_table(["stage", "torch median ms", "torch p99 ms", "onnx median ms", "onnx p99 ms"], rows)
    )
    write_block("profile", body)
    print(body)
    return {name: {stage: stats(name, i)[0] for i, stage in enumerate(STAGES)} for name in engines}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    main(args.index, args.repeat)
