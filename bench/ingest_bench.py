"""Ingestion benchmark: a full build of ../shared/corpus and an unchanged re-run, side by side.

    python bench/ingest_bench.py                                  # this checkout (make bench)
    python bench/ingest_bench.py --tree ../before --runs 2 --env CLAUSEWISE_OCR=false
        # full builds of this checkout and another, interleaved; --env adds a row of this
        # checkout with those settings (repeatable, several KEY=VALUE in one string)

Another checkout is run by this venv's interpreter with ``PYTHONPATH`` set to it and its own
folder as the working directory (``python -m`` puts the working directory first on
``sys.path``, so running it from here would import this checkout's code); it must share this
venv's dependencies.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import CLAUSEWISE, SHARED, dump_json, md_table, run_measured, write_block

from ingest.store.format import Manifest


def main(corpus: Path = SHARED / "corpus") -> dict:
    index = Path(tempfile.mkdtemp(prefix="clausewise-bench-ingest-"))
    try:
        cmd = [CLAUSEWISE, "ingest", str(corpus), "--index", str(index), "-q"]
        runs = {}
        for name in ("full build", "unchanged re-run"):
            seconds, peak_mib, _ = run_measured(cmd)
            runs[name] = (seconds, peak_mib)
        manifest = Manifest.from_json(
            json.loads(
                subprocess.run(
                    [CLAUSEWISE, "info", "--index", str(index), "--json"], capture_output=True, text=True, check=True
                ).stdout
            )
        )
    finally:
        shutil.rmtree(index, ignore_errors=True)
    counts = manifest.counts
    rows = []
    for name, (seconds, peak) in runs.items():
        rows.append(
            [
                name,
                counts.documents,
                counts.pages,
                counts.passages,
                f"{seconds:.1f}",
                f"{counts.passages / seconds:.1f}" if name == "full build" else "–",
                peak,
            ]
        )
    ratio = runs["unchanged re-run"][0] / runs["full build"][0]
    body = (
        f"Command: `make bench` (ingest part: `python bench/ingest_bench.py`), corpus `{corpus}`; "
        f"each run is a fresh `clausewise ingest` process, so times include Python start-up and, for the full build, loading the model.\n\n"
        + md_table(["run", "documents", "pages", "passages", "wall s", "passages/s", "peak RSS MiB"], rows)
        + f"\n\nUnchanged re-run / full build: **{ratio:.3f}** of the time "
        f"(model {manifest.model.name}, chunking {manifest.chunking.to_json()}, "
        f"FAISS {manifest.faiss.type if manifest.faiss else None})."
    )
    write_block("ingest", body)
    result = {"runs": runs, "counts": counts.to_json(), "ratio": ratio}
    dump_json("ingest", result)
    print(body)
    return result


def built_counts(index: Path) -> dict:
    """Documents and passages of the newest manifest under ``index``, whichever layout the
    checkout wrote (``generations/`` now, ``builds/`` before the segmented index)."""
    newest = max(index.glob("*/*/manifest.json"), key=lambda path: path.stat().st_mtime)
    return json.loads(newest.read_text())["counts"]


def side_by_side(corpus: Path, trees: list[Path], envs: list[str], runs: int) -> None:
    """Full builds of each checkout (and of this one per ``envs``), interleaved ``runs`` times."""
    rows: list[tuple[str, list[str], dict, Path | None]] = [
        (f"`{tree}`", [sys.executable, "-m", "service.cli"], {"PYTHONPATH": str(tree)}, tree) for tree in trees
    ]
    rows.append(("this checkout", [CLAUSEWISE], {}, None))
    for spec in envs:
        settings = dict(item.split("=", 1) for item in spec.split())
        rows.append((f"this checkout, `{spec}`", [CLAUSEWISE], settings, None))
    measured: dict[str, list[tuple[float, int, dict]]] = {name: [] for name, *_ in rows}
    for _ in range(runs):
        for name, command, env, cwd in rows:
            index = Path(tempfile.mkdtemp(prefix="clausewise-bench-side-"))
            try:
                seconds, peak, _ = run_measured(
                    [*command, "ingest", str(corpus.resolve()), "--index", str(index), "-q"], env, cwd
                )
                measured[name].append((seconds, peak, built_counts(index)))
            finally:
                shutil.rmtree(index, ignore_errors=True)
    table = []
    for name, results in measured.items():
        counts = results[0][2]
        walls = [seconds for seconds, _, _ in results]
        table.append(
            [
                name,
                counts["documents"],
                counts["passages"],
                ", ".join(f"{seconds:.1f}" for seconds in walls),
                f"{counts['passages'] / statistics.median(walls):.1f}",
                "–".join(str(p) for p in sorted({peak for _, peak, _ in results})),
            ]
        )
    print(md_table(["code", "documents", "passages", "wall s", "median passages/s", "peak RSS MiB"], table))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "corpus", help="the folder built (default: ../shared/corpus)"
    )
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to compare")
    parser.add_argument("--env", action="append", default=[], help="a row of this checkout with KEY=VALUE settings")
    parser.add_argument("--runs", type=int, default=2, help="full builds of each row, interleaved (with --tree/--env)")
    args = parser.parse_args()
    if args.tree or args.env:
        side_by_side(args.corpus, [tree.resolve() for tree in args.tree], args.env, args.runs)
    else:
        main(args.corpus)
