"""Cold start of `clausewise serve` (process launched → `/readyz` 200), for one or several
checkouts side by side: launches alternate between them, so that all see the same machine.

    python bench/cold_start.py --index INDEX                         # this checkout
    python bench/cold_start.py --index INDEX --tree ../before --runs 5  # against another checkout

Each checkout is run by this venv's interpreter with ``PYTHONPATH`` set to it (it takes
precedence over the editable install); a checkout given by ``--tree`` must share this venv's
dependencies. Prints the median and every launch, and the modules the app imports that cost
most (``python -X importtime``) for this checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import ROOT, md_table, serving


def launch(tree: Path, index: Path) -> float:
    with serving(index, checkout=tree) as served:
        return served.ready_s


def heaviest_imports(tree: Path, n: int = 8) -> list[list]:
    """Top-level packages by their modules' own import time, for ``serve``'s imports."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import service.cli, service.http.app"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        check=True,
    )
    totals: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.split(":", 1)[1].split("|")
        top = name.strip().split(".")[0]
        totals[top] = totals.get(top, 0) + int(own)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:n]
    return [[name, f"{us / 1000:.0f}"] for name, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to compare")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = [*[t.resolve() for t in args.tree], ROOT]
    times: dict[Path, list[float]] = {t: [] for t in trees}
    for _ in range(args.runs):
        for tree in trees:
            times[tree].append(launch(tree, args.index.resolve()))
    rows = [[str(t), f"{statistics.median(v):.2f}", " ".join(f"{x:.2f}" for x in v)] for t, v in times.items()]
    print(md_table(["checkout", "median s", "launches s"], rows))
    print()
    print(md_table(["package (this checkout)", "own import ms"], heaviest_imports(ROOT)))


if __name__ == "__main__":
    main()
