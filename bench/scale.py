"""The index at scale: `python bench/scale.py --passages N --out DIR`.

Builds ``DIR/corpus`` (one small real Markdown file per synthetic document) and ``DIR/index``
with N synthetic passages: texts are real passages of the shared corpus with about one word
in eight replaced by another word of the corpus, vectors are those passages' real embeddings
perturbed (cosine ≈ 0.9 to the original) and re-normalised. The index is written through the
store code ingest uses (``write_segment``, ``publish``, ``merge_segments``) from these
pre-computed vectors — nothing is embedded but the few files the timed steps add — with each
document's file hash, source and chunking exactly as ``clausewise ingest`` records them, so
``clausewise ingest DIR/corpus --index DIR/index`` sees every synthetic document unchanged.

Then it measures: build time and index size; an unchanged ``clausewise ingest`` run; adding,
changing and deleting one small file (wall time and peak RSS of the whole ``clausewise
ingest`` process, model load included); the serving process's RSS and ``POST /ask`` p50/p99
per mode (sequential, over loopback, the shared questions); and recall@10 of the approximate
dense search of the largest segment against exact search, for the shared questions' real
embeddings. Results: ``DIR/scale.json`` and a block in docs/benchmarks.md (``--record``).

The real material comes from ``--source-index`` (default bench/out/index, the shared corpus,
built with `clausewise ingest` when missing).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
from common import CLAUSEWISE, ROOT, SHARED, md_table, questions, run_measured, serving, write_block
from http_bench import serving_rss

from ingest.changes import file_hash, make_doc_id, passage_id
from ingest.embedder import Embedder
from ingest.embedding.provision import export_beside_index
from ingest.pipeline import PARSER_VERSION, build_manifest, chunking_params
from ingest.settings import Settings
from ingest.store.dense import DensePolicy, SegmentDense, build_dense
from ingest.store.format import FaissInfo, ModelInfo
from ingest.store.lexical import Postings, tokenize
from ingest.store.merge import merge_segments
from ingest.store.reader import StoredIndex, read_manifest
from ingest.store.segment import write_segment
from ingest.store.writer import contextual_text, publish, replace_file, write_lock
from ingest.types import Document, Passage

PER_DOC = 8  # passages per synthetic document
SEGMENT_ROWS = 100_000  # passages per segment written by the build (merged afterwards by policy)
NOISE = 0.5  # perturbation, relative to a unit vector's per-dimension scale


def source_material(index_dir: Path) -> tuple[list[str], np.ndarray, ModelInfo]:
    if not (index_dir / "current").exists():
        corpus = SHARED / "corpus"
        subprocess.run(
            [CLAUSEWISE, "ingest", str(corpus), "--index", str(index_dir), "--exclude", "SOURCES.md", "-q"], check=True
        )
    index = StoredIndex.open(index_dir)
    rows = list(range(len(index)))
    texts = [p.text for p in index.passages(rows)]
    vectors = index.vectors_of(rows)
    model = index.manifest.model
    index.close()
    return texts, vectors, model


def _mutate(text: str, words: list[str], rng: np.random.Generator) -> str:
    tokens = text.split(" ")
    for i in np.flatnonzero(rng.random(len(tokens)) < 0.125):
        tokens[i] = words[rng.integers(len(words))]
    return " ".join(tokens)


def _document(n: int, corpus: Path, texts: list[str], sources: list[int], rng, words) -> tuple[Document, list[Passage]]:
    """One synthetic document: its file written, its passages as ingest would store them."""
    source = f"d{n // 1000:04d}/doc-{n:07d}.md"
    bodies = [_mutate(texts[s], words, rng).replace("\n", " ") for s in sources]
    path = corpus / source
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Synthetic {n}\n\n" + "\n\n".join(bodies) + "\n")
    doc_id, digest = make_doc_id(source), file_hash(path)
    passages, at = [], 0
    for ordinal, body in enumerate(bodies):
        passages.append(
            Passage(
                passage_id(doc_id, digest, ordinal),
                doc_id,
                ordinal,
                body,
                at,
                at + len(body),
                None,
                None,
                f"Section {ordinal % 4}",
                hashlib.sha1(body.encode()).hexdigest()[:16],
            )
        )
        at += len(body) + 2
    return Document(doc_id, source, f"Synthetic {n}", "markdown", digest, None, len(bodies), at), passages


def build(n: int, out: Path, texts: list[str], vectors: np.ndarray, model: ModelInfo, settings: Settings) -> float:
    started = time.perf_counter()
    corpus, index_dir = out / "corpus", out / "index"
    rng = np.random.default_rng(0)
    words = sorted({w for t in texts for w in t.split() if w.isalpha()})
    embedder = Embedder(settings.model)  # for its name: the model itself is not loaded
    params = chunking_params(settings, embedder, model.max_seq_length)
    policy = DensePolicy.of(settings)
    documents: list[Document] = []
    segments = []
    with write_lock(index_dir):
        for start in range(0, n, SEGMENT_ROWS):
            docs, passages, picked = [], [], []
            for d in range(start // PER_DOC, min(n, start + SEGMENT_ROWS) // PER_DOC):
                sources = rng.integers(0, len(texts), PER_DOC)
                document, doc_passages = _document(d, corpus, texts, sources.tolist(), rng, words)
                docs.append(document)
                passages += doc_passages
                picked.append(sources)
            base = vectors[np.concatenate(picked)]
            noisy = base + NOISE / np.sqrt(base.shape[1]) * rng.standard_normal(base.shape).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            titles = {d.doc_id: d.title for d in docs}
            lexical = [contextual_text(p, titles[p.doc_id]) if params.contextualize else p.text for p in passages]
            segments.append(write_segment(index_dir, docs, passages, noisy, Postings.build(tokenize(lexical)), policy))
            documents += docs
            print(f"  {start + len(passages):,} passages written", flush=True)
        total = sum(d.passage_count for d in documents)
        manifest = build_manifest(model, params, documents, total, [corpus])
        publish(index_dir, dataclasses.replace(manifest, faiss=policy.info()), segments, {})
        merge_segments(index_dir, policy)
    export_beside_index(index_dir, None, model.name)  # INDEX/encoder, as `clausewise ingest` leaves it
    return time.perf_counter() - started


def _du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def ingest_step(out: Path) -> dict:
    seconds, peak_mib, _ = run_measured(
        [CLAUSEWISE, "ingest", str(out / "corpus"), "--index", str(out / "index"), "-q"]
    )
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": peak_mib,
        "version": read_manifest(out / "index").index_version,
    }


def restamp_parser(out: Path) -> int | None:
    """Record the current parser version in the synthetic index built by an earlier run, so
    that ``--again`` measures an update rather than the full re-parse a new parser version
    asks of a real index (a million passages re-embedded: hours). Honest here only: the
    synthetic passages were never parsed from the corpus files, so no parser version made
    them. The version it replaced, or ``None`` when it was current."""
    path = (out / "index" / "current").resolve() / "manifest.json"
    manifest = json.loads(path.read_text())
    recorded = manifest["chunking"]["parser_version"]
    if recorded == PARSER_VERSION:
        return None
    manifest["chunking"]["parser_version"] = PARSER_VERSION
    replace_file(path, json.dumps(manifest, indent=2))
    return recorded


def updates(out: Path) -> dict:
    """Time the four kinds of run; each step changes a file no earlier run touched, so that the
    steps can be measured again (``--again``) over the same corpus."""
    corpus = out / "corpus"
    before = read_manifest(out / "index").index_version
    result = {"unchanged": ingest_step(out)}
    result["unchanged"]["republished"] = result["unchanged"]["version"] != before
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (corpus / f"added-{stamp}.md").write_text("# Added\n\nA two-line note on the registration of newborn children.\n")
    result["add one file"] = ingest_step(out)
    changed, deleted = sorted((corpus / "d0000").glob("doc-*.md"))[:2]
    changed.write_text(changed.read_text() + f"\nA sentence added on {stamp} to change this document.\n")
    result["change one file"] = ingest_step(out)
    deleted.unlink()
    result["delete one file"] = ingest_step(out)
    return result


def ask_latency(index: Path, asked: list[str]) -> dict:
    """``/ask`` p50/p99 per mode, each mode against a server of its own: a mode asked after
    another would find the questions' embeddings (and their words' BM25 rows) cached."""
    result: dict = {}
    for mode in ("dense", "lexical", "hybrid"):
        with serving(index) as served, httpx.Client(timeout=60) as http:
            for q in asked[-5:]:  # warm-up, on questions the timed run asks last
                http.post(f"{served.url}/ask", json={"question": q, "mode": mode})
            times = []
            for q in asked:
                started = time.perf_counter()
                http.post(f"{served.url}/ask", json={"question": q, "mode": mode}).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            result[mode] = {
                "p50_ms": round(statistics.median(times), 1),
                "p99_ms": round(times[int(0.99 * (len(times) - 1))], 1),
            }
            if mode == "hybrid":
                result["serving_rss_mib"] = round(sum(p["rss_mib"] for p in serving_rss(served.proc.pid)), 1)
                result["serving_rss_split_mib"] = rss_split(served.proc.pid)
                result["ready_s"] = round(served.ready_s, 2)
    return result


def rss_split(pid: int) -> dict[str, float]:
    """The serving process's RSS by kind: its own memory (anonymous) and the pages of the files
    it maps (file-backed: the index's files, the query encoder's weights, shared libraries; the
    page cache, shared by every worker and process)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("RssAnon", "RssFile"))}
    return {"anonymous": round(fields.get("RssAnon", 0) / 1024, 1), "file": round(fields.get("RssFile", 0) / 1024, 1)}


def recall(index_dir: Path, asked: list[str], settings: Settings) -> dict:
    """Recall@10 of the largest segment's approximate search against exact search over it
    (a segment below the exact limit gets an approximate index built here, to measure it)."""
    index = StoredIndex.open(index_dir)
    segment = max(index.segments, key=lambda s: s.ref.rows)
    approx = segment.dense
    built_here = approx.index is None
    if built_here:
        faiss_index, info = build_dense(
            segment.vectors[:], dataclasses.replace(DensePolicy.of(settings), exact_below=0)
        )
        approx = SegmentDense(segment.vectors, faiss_index, info, segment.live)
    exact = SegmentDense(segment.vectors, None, FaissInfo("flat"), segment.live)
    embedder = Embedder(index.manifest.model.name)
    found = []
    for q in asked:
        vector = embedder.embed_query(q)
        a, _ = approx.search(vector, 10, None)
        e, _ = exact.search(vector, 10, None)
        found.append(len(set(a.tolist()) & set(e.tolist())) / 10)
    index.close()
    return {
        "recall_at_10": round(float(np.mean(found)), 4),
        "segment_rows": segment.ref.rows,
        "index": approx.info.to_json(),
        "built_for_measurement": built_here,
    }


def report(n: int, data: dict) -> str:
    rows = [[step, f"{v['seconds']} s", f"{v['peak_rss_mib']} MiB"] for step, v in data["updates"].items()]
    ask = data["ask"]
    lines = [
        f"N = {n:,} passages; build {data['build_s']} s; index {data['index_mib']} MiB on disk after the updates"
        + (
            f" ({data['index_mib_at_build']} MiB right after the build, merged-away segments included)"
            if "index_mib_at_build" in data
            else ""
        )
        + f"; {data['segments']} segment(s) before the updates; serving RSS {ask['serving_rss_mib']} MiB "
        f"({ask['serving_rss_split_mib']['anonymous']} MiB its own, {ask['serving_rss_split_mib']['file']} MiB "
        f"file-backed: index files, model weights, libraries; ready in {ask['ready_s']} s); "
        f"approximate recall@10 {data['recall']['recall_at_10']} ({data['recall']['index']}, {data['recall']['segment_rows']:,} rows).",
        "",
        md_table(["`clausewise ingest` step", "wall", "peak RSS"], rows),
        "",
        md_table(
            ["/ask mode", "p50", "p99"],
            [[m, f"{ask[m]['p50_ms']} ms", f"{ask[m]['p99_ms']} ms"] for m in ("dense", "lexical", "hybrid")],
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source-index", type=Path, default=ROOT / "bench" / "out" / "index")
    parser.add_argument("--questions", type=int, default=200, help="Shared questions asked per mode.")
    parser.add_argument("--record", action="store_true", help="Write the results into docs/benchmarks.md.")
    parser.add_argument(
        "--again", action="store_true", help="Measure again over the corpus and index an earlier run built in --out."
    )
    args = parser.parse_args()
    os.environ.pop("CLAUSEWISE_INDEX_DIR", None)
    settings = Settings()
    data: dict = {"passages": args.passages}
    if args.again:
        earlier = json.loads((args.out / "scale.json").read_text()) if (args.out / "scale.json").exists() else {}
        if earlier.get("passages") != args.passages:
            parser.error(f"{args.out} holds no earlier run of --passages {args.passages}")
        data["build_s"] = earlier["build_s"]
        replaced = restamp_parser(args.out)
        if replaced is not None:
            print(f"synthetic index re-stamped from parser version {replaced} to {PARSER_VERSION}")
    else:
        if (args.out / "index").exists() or (args.out / "corpus").exists():
            parser.error(f"{args.out} already holds a corpus or an index: give an empty folder (or --again)")
        texts, vectors, model = source_material(args.source_index)
        data["build_s"] = round(build(args.passages, args.out, texts, vectors, model, settings), 1)
        (args.out / "scale.json").write_text(json.dumps(data, indent=2))
    # Right after the build the segments a merge replaced are still on disk (the generation
    # before keeps them); the next ingest that publishes removes them, so both sizes are kept.
    if not args.again:
        data["index_mib_at_build"] = round(_du(args.out / "index") / 2**20, 1)
    data["segments"] = len(read_manifest(args.out / "index").segments)
    data["updates"] = updates(args.out)
    data["index_mib"] = round(_du(args.out / "index") / 2**20, 1)
    asked = questions()[: args.questions]
    data["ask"] = ask_latency(args.out / "index", asked)
    data["recall"] = recall(args.out / "index", asked, settings)
    (args.out / "scale.json").write_text(json.dumps(data, indent=2))
    print(json.dumps(data, indent=2))
    if args.record:
        write_block(f"scale-{args.passages}", report(args.passages, data))


if __name__ == "__main__":
    main()
