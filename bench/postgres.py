"""The PostgreSQL backend beside the embedded one: `python bench/postgres.py --out DIR [--record]`.

Starts its own PostgreSQL with pgvector (pgserver, data in ``DIR/pgdata``, stopped at the end), then

1. **quality**: for the treaties and the policies corpus, a fresh index in each backend
   (`clausewise ingest`), then `clausewise eval` of the shared question set (the policies one
   with ``--per-doc``) in the three modes; a side-by-side table from each run's ``results.json``;
2. **scale**: ``--passages`` synthetic passages (bench/scale.py's generator: real shared passages
   with one word in eight replaced, their real vectors perturbed, one small real file per
   document in ``DIR/scale/corpus``) loaded through the backend's own writer
   (:func:`ingest.store.postgres.writer.replace_document`, ``COPY``, many documents a
   transaction), the HNSW index created after the load; then `clausewise ingest` adding,
   changing and deleting one small file (wall time, peak RSS) and ``POST /ask`` p50/p99 per mode
   against `clausewise serve` with the postgres backend (every shared question once).

Results: ``DIR/postgres.json`` and, with ``--record``, the ``bench:postgres`` block of
docs/benchmarks.md. ``--skip-quality`` / ``--skip-scale`` run one part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import CLAUSEWISE, SHARED, md_table, questions, run_measured, write_block
from scale import NOISE, PER_DOC, _document, ask_latency, source_material

from ingest.embedder import Embedder
from ingest.embedding.provision import export_beside_index
from ingest.pipeline import build_manifest, chunking_params
from ingest.settings import Settings
from ingest.store.postgres import schema, state, writer

CORPORA = [("treaties", "treaties-dev.jsonl", False), ("policies", "policies-dev.jsonl", True)]
MODES = ("hybrid", "dense", "lexical")
METRICS = [("R@1", "recall@1"), ("R@5", "recall@5"), ("R@10", "recall@10"), ("MRR@10", "mrr@10")]
METRICS += [("R@2000c", "recall@2000c"), ("p50 ms", "latency_p50_ms")]
DOCS_PER_TRANSACTION = 500


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A pgserver PostgreSQL with its data in ``folder``; the DSN of its ``postgres`` database."""
    import pgserver

    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        yield server.get_uri()
    finally:
        server.cleanup()


def database(dsn: str, name: str) -> str:
    """The DSN of database ``name`` on the server of ``dsn``, created empty if missing."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return dsn.replace("/postgres?", f"/{name}?", 1)


def backend_env(backend: str, dsn: str | None) -> dict[str, str]:
    return {"CLAUSEWISE_BACKEND": backend, **({"CLAUSEWISE_POSTGRES_DSN": dsn} if dsn else {})}


def quality(out: Path, dsn: str) -> dict:
    result: dict = {}
    for corpus, qa, per_doc in CORPORA:
        for backend in ("embedded", "postgres"):
            env = backend_env(backend, database(dsn, corpus) if backend == "postgres" else None)
            index = out / f"{backend}-{corpus}"
            seconds, peak, _ = run_measured(
                [CLAUSEWISE, "ingest", str(SHARED / "corpus" / corpus), "--index", str(index)]
                + ["--exclude", "SOURCES.md", "--rebuild", "-q"],
                env,
            )
            report = out / "eval" / f"{backend}-{corpus}"
            eval_cmd = [CLAUSEWISE, "eval", str(SHARED / "qa" / qa), "--index", str(index), "--out", str(report), "-q"]
            run_measured(eval_cmd + (["--per-doc"] if per_doc else []), env)
            modes = json.loads((report / "results.json").read_text())["modes"]
            result[f"{corpus}/{backend}"] = {
                "ingest_s": round(seconds, 1),
                "ingest_peak_mib": peak,
                "metrics": {mode: modes[mode]["metrics"] for mode in MODES},
            }
            print(f"  {corpus} {backend}: ingest {seconds:.0f} s, evaluated", flush=True)
    return result


def load_synthetic(n: int, out: Path, dsn: str, settings: Settings) -> dict:
    """``n`` synthetic passages into ``dsn`` through the backend's writer; the timings."""
    texts, vectors, model = source_material(Path(__file__).parent / "out" / "index")
    corpus, cache = out / "corpus", out / "cache"
    rng = np.random.default_rng(0)
    words = sorted({w for t in texts for w in t.split() if w.isalpha()})
    params = chunking_params(settings, Embedder(settings.model), model.max_seq_length)
    conn = schema.connect(dsn)
    writer.acquire_lock(conn)
    schema.drop_schema(conn)
    schema.create_schema(conn, vectors.shape[1])
    conn.execute(f"DROP INDEX {schema.HNSW}")  # created after the load: faster than maintained row by row
    started = time.perf_counter()
    documents = []
    for first in range(0, n // PER_DOC, DOCS_PER_TRANSACTION):
        with conn.transaction():
            for d in range(first, min(n // PER_DOC, first + DOCS_PER_TRANSACTION)):
                sources = rng.integers(0, len(texts), PER_DOC)
                document, passages = _document(d, corpus, texts, sources.tolist(), rng, words)
                base = vectors[sources]
                noisy = base + NOISE / np.sqrt(base.shape[1]) * rng.standard_normal(base.shape).astype(np.float32)
                noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                writer.replace_document(conn, document, passages, noisy, params.contextualize)
                documents.append(document)
        print(f"  {len(documents) * PER_DOC:,} passages loaded", flush=True)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute(schema.HNSW_INDEX)
    hnsw_s = time.perf_counter() - started
    conn.execute("ANALYZE")
    total = sum(d.passage_count for d in documents)
    writer.publish_manifest(conn, build_manifest(model, params, documents, total, [corpus]))
    writer.release_lock(conn)
    size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    conn.close()
    export_beside_index(cache, None, model.name)  # CACHE/encoder, as `clausewise ingest` leaves it
    return {
        "passages": total,
        "load_s": round(load_s, 1),
        "hnsw_build_s": round(hnsw_s, 1),
        "database_mib": round((size[0] if size else 0) / 2**20, 1),
    }


def ingest_step(out: Path, dsn: str) -> dict:
    seconds, peak, _ = run_measured([CLAUSEWISE, "ingest", str(out / "corpus"), "--index", str(out / "cache"), "-q"])
    conn = schema.connect(dsn)
    version = state.published_version(conn)
    conn.close()
    return {"seconds": round(seconds, 2), "peak_rss_mib": peak, "version": version}


def updates(out: Path, dsn: str) -> dict:
    corpus = out / "corpus"
    result = {"unchanged (first: hashes every file)": ingest_step(out, dsn)}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (corpus / f"added-{stamp}.md").write_text("# Added\n\nA two-line note on the registration of newborn children.\n")
    result["add one file"] = ingest_step(out, dsn)
    changed, deleted = sorted((corpus / "d0000").glob("doc-*.md"))[:2]
    changed.write_text(changed.read_text() + f"\nA sentence added on {stamp} to change this document.\n")
    result["change one file"] = ingest_step(out, dsn)
    deleted.unlink()
    result["delete one file"] = ingest_step(out, dsn)
    return result


def postgres_rss_mib(data: Path) -> float:
    """RSS of the PostgreSQL server: the postmaster and its backends (shared buffers counted
    once per process that touched them, so an upper bound)."""
    pid = int((data / "postmaster.pid").read_text().split()[0])
    out = subprocess.run(["ps", "--ppid", str(pid), "-p", str(pid), "-o", "rss="], capture_output=True, text=True)
    return round(sum(int(x) for x in out.stdout.split()) / 1024, 1)


def scale(out: Path, dsn: str, n: int, pgdata: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    scale_dsn = database(dsn, "scale")
    result = {"load": load_synthetic(n, out, scale_dsn, Settings())}
    os.environ.update(backend_env("postgres", scale_dsn))  # what the measured commands and servers read
    result["updates"] = updates(out, scale_dsn)
    result["ask"] = ask_latency(out / "cache", questions())
    result["postgres_rss_mib"] = postgres_rss_mib(pgdata)
    return result


def _f(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.1f}"


def report(data: dict) -> str:
    parts = [f"Measured {data['date']}; load average before the run {data['load_before']}, after {data['load_after']}."]
    if "quality" in data:
        for corpus, qa, per_doc in CORPORA:
            rows = []
            for mode in MODES:
                for backend in ("embedded", "postgres"):
                    m = data["quality"][f"{corpus}/{backend}"]["metrics"][mode]
                    rows.append([mode, backend, *(_f(m[key]) for _, key in METRICS)])
            cmd = f"clausewise eval ../shared/qa/{qa}{' --per-doc' if per_doc else ''}"
            parts += ["", f"**{qa}** (`{cmd}`, fresh index of `shared/corpus/{corpus}` per backend)", ""]
            parts.append(md_table(["mode", "backend", *(name for name, _ in METRICS)], rows))
    if "scale" in data:
        s = data["scale"]
        load, ask = s["load"], s["ask"]
        parts += [
            "",
            f"**{load['passages']:,} synthetic passages** in PostgreSQL: loaded through the backend's writer in "
            f"{load['load_s']} s (COPY, {DOCS_PER_TRANSACTION} documents a transaction, no HNSW index), "
            f"HNSW index built after in {load['hnsw_build_s']} s; database {load['database_mib']} MiB. "
            f"Serving RSS {ask['serving_rss_mib']} MiB (ready in {ask['ready_s']} s), "
            f"PostgreSQL's processes {s['postgres_rss_mib']} MiB.",
            "",
            md_table(
                ["`clausewise ingest` step", "wall", "peak RSS"],
                [[step, f"{v['seconds']} s", f"{v['peak_rss_mib']} MiB"] for step, v in s["updates"].items()],
            ),
            "",
            md_table(
                ["/ask mode", "p50", "p99"],
                [[m, f"{ask[m]['p50_ms']} ms", f"{ask[m]['p99_ms']} ms"] for m in ("dense", "lexical", "hybrid")],
            ),
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--record", action="store_true", help="Write the results into docs/benchmarks.md.")
    args = parser.parse_args()
    for name in ("CLAUSEWISE_INDEX_DIR", "CLAUSEWISE_BACKEND", "CLAUSEWISE_POSTGRES_DSN"):
        os.environ.pop(name, None)
    args.out.mkdir(parents=True, exist_ok=True)
    data: dict = {"date": time.strftime("%Y-%m-%d"), "load_before": os.getloadavg()}
    with postgres(args.out / "pgdata") as dsn:
        if not args.skip_quality:
            data["quality"] = quality(args.out / "quality", dsn)
        if not args.skip_scale:
            data["scale"] = scale(args.out / "scale", dsn, args.passages, args.out / "pgdata")
    data["load_after"] = os.getloadavg()
    data["load_before"] = " / ".join(f"{x:.2f}" for x in data["load_before"])
    data["load_after"] = " / ".join(f"{x:.2f}" for x in data["load_after"])
    (args.out / "postgres.json").write_text(json.dumps(data, indent=2))
    print(json.dumps(data, indent=2))
    if args.record:
        write_block("postgres", report(data))


if __name__ == "__main__":
    main()
