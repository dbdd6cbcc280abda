"""What the writer removes is decided by link history, not by time: an orphan generation left
by a crash (renamed into place, never made current) must not push out the build a reader may
still hold, the one current before."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from docgen import corpus_of, write_text

from ingest.store.reader import StoredIndex


def test_an_orphan_from_a_crash_never_pushes_out_the_previous_generation(tmp_path: Path, run_ingest, settings) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    generations = settings.index_dir / "generations"
    write_text(corpus / "changing.txt", "Changes\n\nRevision 1 of the changing notice is in force.\n")
    first = run_ingest(corpus).index_version
    write_text(corpus / "changing.txt", "Changes\n\nRevision 2 of the changing notice is in force.\n")
    second = run_ingest(corpus).index_version
    # A writer that crashed after renaming its generation into place, before switching the
    # link: a copy of the current one, newer than everything (by mtime, it is the latest).
    orphans = [f"20990101T00000{n}.000Z-orphan{n}" for n in range(3)]
    for name in orphans:
        shutil.copytree(generations / second, generations / name)
        future = time.time() + 3600
        os.utime(generations / name, (future, future))
    held = StoredIndex.open(settings.index_dir)  # a reader holding the current generation
    write_text(corpus / "changing.txt", "Changes\n\nRevision 3 of the changing notice is in force.\n")
    third = run_ingest(corpus).index_version
    kept = sorted(p.name for p in generations.iterdir())
    assert kept == sorted([second, third]), kept  # the orphans and the oldest went, the held one stayed
    assert first not in kept
    assert held.version == second and len(held) > 0
