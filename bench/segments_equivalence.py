"""Built at once or in 20 updates, the same top-10: `python bench/segments_equivalence.py --out DIR`.

Ingests the shared corpora (without SOURCES.md) into ``DIR/at-once`` in one run, and into
``DIR/updated`` in 20 runs that add the files a twentieth at a time (so segments are written,
tombstoned and merged as in real use), from ``DIR/corpus``, a folder of copies growing run by
run; then asks every shared question of both in every mode and reports the questions whose
top-10 passages (ids, in order) differ. The model is loaded once for all runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from common import SHARED

from ingest.embedder import Embedder
from ingest.pipeline import ingest
from ingest.settings import Settings
from ingest.store.reader import StoredIndex
from service.search.retriever import Retriever

UPDATES = 20


def top10(index_dir: Path, embedder: Embedder, settings: Settings, asked: list[str]) -> dict[str, list[str]]:
    index = StoredIndex.open(index_dir)
    retriever = Retriever(index, embedder, settings)
    found = {
        f"{mode}\t{q}": [hit.passage.id for hit in retriever.run(q, 10, mode)]
        for mode in ("dense", "lexical", "hybrid")
        for q in asked
    }
    index.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings()
    embedder = Embedder(settings.model, settings.embed_batch_size, settings.embed_bf16)
    files = sorted(p for p in (SHARED / "corpus").rglob("*") if p.is_file() and p.name != "SOURCES.md")
    corpus = args.out / "corpus"
    for part in ("treaties", "policies"):
        (corpus / part).mkdir(parents=True, exist_ok=True)
    ingest([SHARED / "corpus"], settings, index_dir=args.out / "at-once", excludes=["SOURCES.md"], embedder=embedder)
    for run in range(UPDATES):
        for path in files[run::UPDATES]:
            link = corpus / path.relative_to(SHARED / "corpus")
            if not link.exists():
                shutil.copy2(path, link)
        ingest([corpus], settings, index_dir=args.out / "updated", embedder=embedder)
    asked = []
    for name in ("treaties-dev.jsonl", "policies-dev.jsonl"):
        asked += [json.loads(line)["question"] for line in (SHARED / "qa" / name).read_text().splitlines() if line]
    fresh = top10(args.out / "at-once", embedder, settings, asked)
    updated = top10(args.out / "updated", embedder, settings, asked)
    differing = sorted(key for key in fresh if fresh[key] != updated[key])
    segments = len(StoredIndex.open(args.out / "updated").manifest.segments)
    print(f"{len(fresh)} (mode, question) pairs; {len(differing)} differ; updated index has {segments} segment(s)")
    for key in differing:
        print("  differs:", key.replace("\t", ": "))


if __name__ == "__main__":
    main()
