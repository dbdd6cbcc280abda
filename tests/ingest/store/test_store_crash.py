"""SIGKILL `clausewise ingest` at random points: the last published generation stays
loadable every time, and the next run cleans up and publishes."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest
from docgen import corpus_of, write_text
from hermetic import clean_env

from ingest.store.reader import StoredIndex, read_manifest

TRIALS = 24


def _start(clausewise_cmd: list[str], corpus: Path, index_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*clausewise_cmd, "ingest", str(corpus), "--index", str(index_dir), "--quiet"],
        cwd=corpus.parent,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _writing(index_dir: Path) -> bool:
    return any(p.name.startswith(".tmp-") for p in index_dir.iterdir())


def _assert_loadable(index_dir: Path) -> str:
    """The current generation opens, and every one of its passages, vectors and BM25 rows
    reads back; its version."""
    index = StoredIndex.open(index_dir)
    try:
        rows = list(range(len(index)))
        assert len(index.passages(rows)) == len(index) == sum(d.passage_count for d in index.documents.values())
        assert index.vectors_of(rows).shape[0] == len(index)
        assert index.lexical.scores("rule").shape == (len(index),)
        return index.version
    finally:
        index.close()


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_the_last_generation_loadable(
    tmp_path: Path, run_ingest, settings, clausewise_cmd
) -> None:
    index_dir = settings.index_dir
    corpus = corpus_of(tmp_path / "corpus", files=3)
    versions = [run_ingest(corpus).index_version]
    rng = random.Random(10)
    started = time.monotonic()
    _start(clausewise_cmd, corpus, index_dir).wait(timeout=300)  # nothing changed: start-up cost
    whole = time.monotonic() - started
    for trial in range(TRIALS):
        # Work for the child: one file changes, one comes, every fourth run one goes.
        write_text(corpus / "changing.md", f"# Changing\n\n## Rule 1\n\nRevision {trial} of the changing rule.\n")
        write_text(
            corpus / f"added-{trial:02d}.md", f"# Added {trial}\n\n## Rule 1\n\nAn added rule, number {trial}.\n"
        )
        if trial % 4 == 3:
            (corpus / f"added-{trial - 2:02d}.md").unlink()
        process = _start(clausewise_cmd, corpus, index_dir)
        if trial % 2:  # anywhere in the run
            time.sleep(rng.uniform(0, whole * 1.5))
        else:  # while it writes: a random moment after the first segment or generation appears
            deadline = time.monotonic() + 300
            while process.poll() is None and not _writing(index_dir) and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.3))
        process.kill()
        process.wait(timeout=60)
        version = _assert_loadable(index_dir)
        assert version == read_manifest(index_dir).index_version
        assert version >= versions[-1]  # the last published generation, or one published since
        versions.append(version)

    report = run_ingest(corpus)  # the next run cleans up after the killed ones
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert _assert_loadable(index_dir) == report.index_version
    assert len(list((index_dir / "generations").iterdir())) <= 2
    assert report.documents == len(list(corpus.glob("*.md")))
