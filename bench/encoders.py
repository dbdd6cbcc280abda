"""Embedding runtimes side by side, in one run, on the same texts (issue 12).

1. Single-question latency over the first N shared questions (treaties-dev, then
   policies-dev): ``SentenceTransformer.encode`` (1 torch thread) against ``OnnxEncoder``
   (1 intra-op thread, spinning off), interleaved question by question so that both see the
   same load on a shared box.
2. Ingestion throughput (passages/s) on real passages — ``../shared/corpus/policies/*.txt``
   cut into ~150-word windows — at ``--threads`` threads and batch ``--batch``: torch fp32,
   torch bf16 autocast, onnxruntime fp32, onnxruntime int8 (dynamic, per-channel), OpenVINO
   fp32 and bf16 (what ingestion uses when an export is at hand), each with
   its agreement with torch fp32 (least and mean cosine, and how many of each passage's 10
   nearest passages stay the same).

Prints Markdown tables (and writes them with ``--write`` into docs/benchmarks.md between
``<!-- bench:encoders -->`` markers). The ONNX export is cached in bench/out/encoder (made on
first use through the same subprocess the server uses), the int8 model in bench/out/encoder-int8.

    python bench/encoders.py                            # the full run (a few minutes)
    python bench/encoders.py --questions 10 --passages 40  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from common import ROOT, SHARED, dump_json, md_table, write_block

from ingest.embedding.cache import META_FILE, ONNX_FILE, TOKENIZER_FILE
from ingest.embedding.onnx_encoder import OnnxEncoder
from ingest.embedding.provision import ensure_encoder
from ingest.embedding.source import resolve_source
from ingest.settings import DEFAULT_MODEL

OUT = ROOT / "bench" / "out"


def shared_questions(n: int) -> list[str]:
    found: list[str] = []
    for name in ("treaties-dev.jsonl", "policies-dev.jsonl"):
        for line in (SHARED / "qa" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.append(json.loads(line)["question"])
    return found[:n]


def shared_passages(n: int, words: int = 150) -> list[str]:
    """``n`` windows of ``words`` words, taken in turn from each policy file (sorted)."""
    per_file = []
    for path in sorted((SHARED / "corpus" / "policies").glob("*.txt")):
        tokens = path.read_text(encoding="utf-8", errors="replace").split()
        per_file.append([" ".join(tokens[i : i + words]) for i in range(0, len(tokens) - words // 2, words)])
    out: list[str] = []
    while len(out) < n and any(per_file):
        for windows in per_file:
            if windows and len(out) < n:
                out.append(windows.pop(0))
    return out


def cpu_facts() -> str:
    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("?", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in ("avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    return f"{model}, {os.cpu_count()} CPUs, {' '.join(wanted) or 'no AVX-512'}"


def percentiles(ms: list[float]) -> tuple[float, float, float]:
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.mean())


def agreement(vectors: np.ndarray, reference: np.ndarray, k: int = 10) -> tuple[float, float, float]:
    """Least and mean cosine with ``reference``, and the share of each row's ``k`` nearest rows
    (by inner product, itself excluded) that ``reference`` also ranks in its ``k`` nearest."""
    a = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    b = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cos = (a * b).sum(axis=1)
    k = min(k, len(a) - 1)
    if k < 1:
        return float(cos.min()), float(cos.mean()), float("nan")

    def neighbours(m: np.ndarray) -> np.ndarray:
        sims = m @ m.T
        np.fill_diagonal(sims, -np.inf)
        return np.argsort(-sims, axis=1)[:, :k]

    na, nb = neighbours(a), neighbours(b)
    same = np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb)])
    return float(cos.min()), float(cos.mean()), float(same)


def int8_cache(fp32_cache: Path) -> Path:
    """bench/out/encoder-int8: the fp32 export quantised (dynamic, per-channel int8 weights),
    with its tokenizer and a description marked unverified (the bench measures its agreement)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = OUT / "encoder-int8"
    meta = json.loads((fp32_cache / META_FILE).read_text())
    stamp = meta["weights"]["sha256"]  # the graph's file alone is the same for any weights
    if (out / META_FILE).exists() and json.loads((out / META_FILE).read_text()).get("quantised_from") == stamp:
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # its "consider pre-processing" warning
    try:
        quantize_dynamic(
            str(fp32_cache / ONNX_FILE), str(out / ONNX_FILE), per_channel=True, weight_type=QuantType.QInt8
        )
    finally:
        root.setLevel(level)
    shutil.copy2(fp32_cache / TOKENIZER_FILE, out / TOKENIZER_FILE)
    meta.update(verification=None, quantised_from=stamp)
    meta.pop("weights", None)  # the quantised graph holds its own weights
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    return out


def passages_per_second(embed, passages: list[str], batch: int, repeats: int) -> tuple[float, np.ndarray]:
    embed(passages[:batch])  # warm-up: first-call costs, allocator, kernels
    best, vectors = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = embed(passages)
        best = min(best, time.perf_counter() - started)
    return len(passages) / best, np.asarray(vectors, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2, help="threads of each runtime for ingestion")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1, help="passes over the passages (best kept)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--write", action="store_true", help="write the tables into docs/benchmarks.md")
    args = parser.parse_args()

    started = time.perf_counter()
    cache = OUT / "encoder"
    encoder, reason = ensure_encoder(args.model, cache)
    if encoder is None:
        raise SystemExit(f"no ONNX encoder: {reason}")
    export_s = time.perf_counter() - started

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    st = SentenceTransformer(str(resolve_source(args.model).path), device="cpu")
    questions = shared_questions(args.questions)
    passages = shared_passages(args.passages)

    # -- 1. one question at a time, 1 thread each, interleaved --------------------------
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    onnx1, _ = ensure_encoder(args.model, cache, export=False, intra_op_threads=1, query_cache_size=0)
    onnx_load_s = time.perf_counter() - t0

    def st_query(q: str) -> np.ndarray:
        with torch.inference_mode():
            return st.encode(
                [q], batch_size=1, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )[0]

    for q in questions[:5]:  # warm-up
        st_query(q)
        onnx1.embed_query(q)
    times: dict[str, list[float]] = {"st": [], "onnx": []}
    cosines = []
    for q in questions:
        a = time.perf_counter()
        ref = st_query(q)
        b = time.perf_counter()
        got = onnx1.embed_query(q)
        c = time.perf_counter()
        times["st"].append((b - a) * 1e3)
        times["onnx"].append((c - b) * 1e3)
        cosines.append(float(np.dot(ref, got) / (np.linalg.norm(ref) * np.linalg.norm(got))))
    st_p = percentiles(times["st"])
    onnx_p = percentiles(times["onnx"])
    query_rows = [
        [
            "`SentenceTransformer.encode`, torch fp32, 1 thread",
            f"{st_p[0]:.2f}",
            f"{st_p[1]:.2f}",
            f"{st_p[2]:.2f}",
            "reference",
        ],
        [
            "`OnnxEncoder.embed_query`, onnxruntime fp32, 1 intra-op thread, no spinning",
            f"{onnx_p[0]:.2f}",
            f"{onnx_p[1]:.2f}",
            f"{onnx_p[2]:.2f}",
            f"min cos {min(cosines):.6f}",
        ],
    ]

    # -- 2. ingestion: passages/s at N threads, batch B --------------------------------
    torch.set_num_threads(args.threads)

    def st_embed(texts: list[str], bf16: bool = False) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return st.encode(
                texts, batch_size=args.batch, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )

    fp32_rate, reference = passages_per_second(st_embed, passages, args.batch, args.repeats)
    results = [("torch fp32 (`SentenceTransformer.encode`)", fp32_rate, reference)]
    bf16_note = "" if "bf16" in cpu_facts() else " — no bf16 in this CPU: emulated"
    rate, vectors = passages_per_second(lambda t: st_embed(t, bf16=True), passages, args.batch, args.repeats)
    results.append((f"torch bf16 autocast{bf16_note}", rate, vectors))

    onnx_n = OnnxEncoder(cache, intra_op_threads=args.threads, batch_size=args.batch, query_cache_size=0)
    rate, vectors = passages_per_second(lambda t: onnx_n.embed(t, args.batch), passages, args.batch, args.repeats)
    results.append(("onnxruntime fp32 (`OnnxEncoder.embed`)", rate, vectors))

    q8 = int8_cache(cache)
    onnx_q8 = OnnxEncoder(q8, intra_op_threads=args.threads, batch_size=args.batch, query_cache_size=0)
    rate, vectors = passages_per_second(lambda t: onnx_q8.embed(t, args.batch), passages, args.batch, args.repeats)
    results.append(("onnxruntime int8 dynamic, per-channel", rate, vectors))

    from ingest.embedding.openvino_encoder import BATCH, OpenVinoEncoder

    for bf16, label in ((False, "fp32"), (True, "bf16")):
        ov_encoder = OpenVinoEncoder(cache, threads=args.threads, bf16=bf16)
        rate, vectors = passages_per_second(ov_encoder.embed_passages, passages, args.batch, args.repeats)
        shipped = " (shipped)" if bf16 else ""
        results.append((f"OpenVINO {ov_encoder.precision or label}, batch {BATCH}{shipped}", rate, vectors))

    ingest_rows = []
    for name, rate, vectors in results:
        low, mean, same = agreement(vectors, reference)
        ref = name.startswith("torch fp32")
        ingest_rows.append(
            [
                name,
                f"{rate:.1f}",
                f"{rate / fp32_rate:.2f}×",
                "reference" if ref else f"{low:.5f}",
                "" if ref else f"{mean:.5f}",
                "" if ref else f"{same * 100:.1f} %",
            ]
        )

    versions = {}
    from importlib.metadata import version

    for package in ("torch", "sentence-transformers", "onnxruntime", "openvino", "tokenizers"):
        versions[package] = version(package)
    header = (
        f"Machine: {cpu_facts()}. {', '.join(f'{k} {v}' for k, v in versions.items())}. "
        f"Model {args.model}. Load average at start {os.getloadavg()[0]:.2f}."
    )
    body = "\n\n".join(
        [
            header,
            (
                f"Single question, {len(questions)} shared questions (treaties-dev then policies-dev), interleaved, "
                f"1 thread each (ONNX load + warm-up {onnx_load_s * 1e3:.0f} ms; export or cache check {export_s:.1f} s):"
            ),
            md_table(["way", "p50 ms", "p99 ms", "mean ms", "agreement"], query_rows),
            (
                f"Ingestion, {len(passages)} passages of ~150 words from shared/corpus/policies, {args.threads} threads, "
                f"batch {args.batch}, best of {args.repeats}:"
            ),
            md_table(
                ["way", "passages/s", "vs torch fp32", "min cos vs fp32", "mean cos", "top-10 neighbours same"],
                ingest_rows,
            ),
            (
                f"Command: `python bench/encoders.py --questions {args.questions} --passages {args.passages} "
                f"--threads {args.threads} --batch {args.batch} --repeats {args.repeats}`"
            ),
        ]
    )
    print(body)
    dump_json("encoders", {"query_ms": times, "cosines": cosines, "ingest": [r[:2] for r in results], "header": header})
    if args.write:
        write_block("encoders", body)


if __name__ == "__main__":
    main()
