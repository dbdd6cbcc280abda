"""Parse time against input size: doubling a crafted input must double the time, not quadruple it.

For each input family that once made a parsing step quadratic (a long line of words, one
giant word, a line of dot leaders, a line of ``#``s, many sections, a large one-line file), the
file is parsed (load → clean → structure → chunk, exactly what a parse worker runs) at sizes
n, 2n and 4n; the table shows the seconds and the ratio t(2n)/t(n) (≈ 2 when linear, ≈ 4 when
quadratic). Best of ``--repeat`` runs, in-process, one core.

    python bench/parse_scaling.py [--scale 1.0] [--repeat 3] [--write]

``--write`` puts the table in docs/benchmarks.md (block ``parse-scaling``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import dump_json, md_table, write_block

from ingest.chunker import ChunkParams
from ingest.embedding.source import resolve_source
from ingest.workers.parse import FastOffsets, Parsed, ParseJob, parse_file

WORDS = "the state shall not expel a refugee lawfully in its territory save on grounds of security "
FAMILIES: dict[str, tuple[str, int, Callable[[int], str]]] = {
    # name: (suffix, base size, text of size n)
    "line of words": (".txt", 200_000, lambda n: (WORDS * (n // len(WORDS) + 1))[:n]),
    "one giant word": (".txt", 200_000, lambda n: "a" * n + "-\n\nEnd."),
    "dot leaders": (".txt", 200_000, lambda n: "Chapter 1 " + "." * n + " x\n\nEnd."),
    "line of #": (".md", 200_000, lambda n: "# T " + "#" * n + " x\n\nEnd."),
    "sections": (".md", 2_000, lambda n: "".join(f"## Section {i}\n\nRule {i} applies.\n\n" for i in range(n))),
    "one-line file": (".txt", 2 << 20, lambda n: (WORDS * (n // len(WORDS) + 1))[:n]),
}


def seconds(path: Path, offsets: FastOffsets, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = parse_file(ParseJob(path, path.name, "0" * 64, "bench"), offsets, ChunkParams(160, 24))
        best = min(best, time.perf_counter() - started)
        assert isinstance(outcome, Parsed), outcome
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every base size by this.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="Write the table into docs/benchmarks.md.")
    args = parser.parse_args()
    offsets = FastOffsets(resolve_source("all-MiniLM-L6-v2").path / "tokenizer.json")
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="clausewise-parse-scaling-") as tmp:
        for name, (suffix, base, make) in FAMILIES.items():
            sizes = [int(base * args.scale) * k for k in (1, 2, 4)]
            times = []
            for size in sizes:
                path = Path(tmp) / f"input{suffix}"
                path.write_text(make(size), encoding="utf-8")
                times.append(seconds(path, offsets, args.repeat))
            ratios = [times[1] / times[0], times[2] / times[1]]
            results[name] = {"sizes": sizes, "seconds": times, "ratios": ratios}
            rows.append([name, *(f"{s:,}" for s in sizes), *(f"{t:.3f}" for t in times), *(f"{r:.2f}" for r in ratios)])
            print(rows[-1], flush=True)
    body = (
        f"Command: `python bench/parse_scaling.py --scale {args.scale} --repeat {args.repeat}` "
        "(sizes in characters, or sections; seconds, best of the repeats, in-process on one core). "
        "A ratio near 2 is linear; near 4, quadratic.\n\n"
        + md_table(["input", "n", "2n", "4n", "t(n) s", "t(2n) s", "t(4n) s", "t(2n)/t(n)", "t(4n)/t(2n)"], rows)
    )
    print(body)
    dump_json("parse-scaling", results)
    if args.write:
        write_block("parse-scaling", body)


if __name__ == "__main__":
    main()
