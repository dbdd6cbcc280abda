"""`make bench`: every benchmark in one run, results written into docs/benchmarks.md.

Parts (all by default; `--only ingest,encoders,quality,profile,http,rebuild,ocr,load` to choose):
  ingest   full build and unchanged re-run of ../shared/corpus
  parse    parse time against input size for inputs that were once quadratic (bench/parse_scaling.py)
  encoders query latency and ingestion passages/s of torch fp32/bf16 and onnxruntime fp32/int8
  quality  `clausewise eval` on ../shared/qa/*.jsonl, dense / lexical / hybrid side by side
  profile  where the time of one hybrid query goes, torch and ONNX query encoders side by side
  http     /ask latency, throughput, RSS and cold start, 1 and 2 workers, torch and ONNX encoders
  rebuild  upload-to-answer time of a 50-page PDF, /ask p99 during a rebuild vs idle
  ocr      OCR pages/s, and upload-to-answer of a scanned 50-page PDF (bench/ocr.py)
  load     overload: 64 clients for 60 s, 1 and 2 workers: 200/429 counts, p99, /healthz p99, RSS (bench/load.py)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import CLAUSEWISE, ROOT, SHARED

PARTS = ["ingest", "parse", "encoders", "quality", "profile", "http", "rebuild", "ocr", "load"]
BENCH_INDEX = ROOT / "bench" / "out" / "index"


def bench_index() -> Path:
    """The index the query benchmarks share: ../shared/corpus without its SOURCES.md files
    (bibliographies, not documents). Incremental, so a repeated `make bench` reuses it."""
    subprocess.run(
        [CLAUSEWISE, "ingest", str(SHARED / "corpus"), "--index", str(BENCH_INDEX), "--exclude", "SOURCES.md", "-q"],
        check=True,
    )
    return BENCH_INDEX


def script(name: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], check=True, cwd=ROOT / "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--duration", default="10", help="Seconds per HTTP load level.")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    if not (SHARED / "corpus").is_dir():
        sys.exit(f"benchmarks need the shared corpora at {SHARED}/corpus")
    started = time.time()
    if "ingest" in parts:
        script("ingest_bench.py")
    if "parse" in parts:
        script("parse_scaling.py", "--write")
    if "encoders" in parts:
        script("encoders.py", "--write")
    if {"quality", "profile", "http"} & set(parts):
        index = bench_index()
        if "quality" in parts:
            script("quality_bench.py", "--index", str(index))
        if "profile" in parts:
            script("profile_query.py", "--index", str(index))
        if "http" in parts:
            script("http_bench.py", "--index", str(index), "--duration", args.duration)
    if "rebuild" in parts:
        script("rebuild.py")
    if "ocr" in parts:
        script("ocr.py")
    if "load" in parts:
        script("load.py")
    print(f"benchmarks done in {time.time() - started:.0f} s; results in docs/benchmarks.md")


if __name__ == "__main__":
    main()
