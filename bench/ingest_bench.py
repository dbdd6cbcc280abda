"""Ingestion benchmark: a full build of ../shared/corpus and an unchanged re-run, side by side."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "corpus", help="the folder built (default: ../shared/corpus)"
    )
    main(parser.parse_args().corpus)
