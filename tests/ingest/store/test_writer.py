"""Writing and publishing builds: only the current build and the one before it are kept,
a crash or a concurrent writer never leaves readers with a broken index, and the next writer
cleans up after one that died."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from docgen import corpus_of, write_text
from hermetic import clean_env

from ingest.errors import IndexBusyError
from ingest.store.format import Manifest
from ingest.store.reader import StoredIndex
from ingest.store.writer import write_lock


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-"))


def test_only_the_current_and_previous_generations_are_kept(tmp_path: Path, run_ingest, settings) -> None:
    """Kept by link history: the current generation, its parent, and the segments they name."""
    corpus = corpus_of(tmp_path / "corpus")
    versions = []
    for n in range(3):
        write_text(corpus / "changing.txt", f"Changes\n\nRevision {n} of the changing notice is in force.\n")
        versions.append(run_ingest(corpus).index_version)
    kept = sorted(p.name for p in (settings.index_dir / "generations").iterdir())
    assert kept == sorted(versions[1:])
    assert (settings.index_dir / "current").resolve().name == versions[-1]
    named = set()
    for version in kept:
        manifest = Manifest.load(settings.index_dir / "generations" / version / "manifest.json")
        named |= {segment.id for segment in manifest.segments}
    assert Manifest.load(settings.index_dir / "current" / "manifest.json").parent == versions[1]
    assert {p.name for p in (settings.index_dir / "segments").iterdir()} == named


def test_leftovers_of_a_crashed_writer_are_cleaned_by_the_next_one(tmp_path: Path, run_ingest, settings) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    first = run_ingest(corpus)
    index_dir = settings.index_dir
    # What a writer killed mid-build leaves behind: a half-written build folder, and a new
    # `current` link that was never renamed into place.
    partial = index_dir / ".tmp-0123456789ab"
    partial.mkdir()
    (partial / "meta.sqlite").write_bytes(b"SQLite format 3\x00 truncated")
    os.symlink(Path("builds") / first.index_version, index_dir / ".tmp-link-deadbeef")
    os.symlink(Path("builds") / "20990101T000000Z-gone", index_dir / ".tmp-link-dangling")

    report = run_ingest(corpus)  # nothing changed: still cleans up
    assert not report.published
    assert leftovers(index_dir) == []
    assert StoredIndex.open(index_dir).version == first.index_version


def test_a_second_writer_is_refused_while_one_is_running(tmp_path: Path, run_ingest, settings) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    with write_lock(settings.index_dir), pytest.raises(IndexBusyError, match="another process is writing"):
        run_ingest(corpus)
    assert run_ingest(corpus).published  # the lock is free again


def interrupt_mid_publish(clausewise_cmd: list[str], corpus: Path, index_dir: Path, signum: int) -> subprocess.Popen:
    """Run `clausewise ingest` in a child process and send it ``signum`` as soon as it starts
    writing a build folder (``index/.tmp-*``). Returns the finished process."""
    env = clean_env()
    process = subprocess.Popen(
        [*clausewise_cmd, "ingest", str(corpus), "--index", str(index_dir), "--quiet"],
        cwd=corpus.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    caught: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            caught = [name for name in leftovers(index_dir) if not (index_dir / name).is_symlink()]
            if caught:
                os.kill(process.pid, signum)
                break
            time.sleep(0.002)
    finally:
        if process.poll() is None and not caught:
            process.kill()
        _, stderr = process.communicate(timeout=120)
    assert caught, f"ingest ended (rc={process.returncode}) before a build folder appeared: {stderr.decode()[-2000:]}"
    return process


def assert_still_old(index_dir: Path, version: str, passages: int, documents: int) -> None:
    index = StoredIndex.open(index_dir)
    assert index.version == version
    assert len(index) == passages and len(index.documents) == documents
    assert len(index.passages(list(range(len(index))))) == passages
    index.close()


@pytest.mark.slow
def test_killing_ingest_mid_publish_leaves_the_old_index_intact(
    tmp_path: Path, run_ingest, settings, clausewise_cmd
) -> None:
    """SIGKILL `clausewise ingest` while it writes a new build: the old build stays current and
    loadable, and the next run cleans up and succeeds."""
    index_dir = settings.index_dir
    corpus = corpus_of(tmp_path / "corpus", files=3)
    old = run_ingest(corpus)
    corpus_of(corpus, files=10, rules=6, prefix="bulk")  # ~60 more passages to embed and write

    process = interrupt_mid_publish(clausewise_cmd, corpus, index_dir, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    # The half-written build is there, and readers do not see it.
    assert leftovers(index_dir)
    assert_still_old(index_dir, old.index_version, old.passages, 3)

    # The next run (the killed one's lock died with it) cleans up and publishes everything.
    report = run_ingest(corpus)
    assert report.published and len(report.added) == 10 and len(report.unchanged) == 3
    assert leftovers(index_dir) == []
    index = StoredIndex.open(index_dir)
    assert len(index.documents) == 13 and len(index) == report.passages > old.passages
    index.close()
    assert len(list((index_dir / "generations").iterdir())) <= 2


@pytest.mark.slow
def test_ctrl_c_mid_publish_cleans_up_after_itself(tmp_path: Path, run_ingest, settings, clausewise_cmd) -> None:
    index_dir = settings.index_dir
    corpus = corpus_of(tmp_path / "corpus", files=3)
    old = run_ingest(corpus)
    corpus_of(corpus, files=10, rules=6, prefix="bulk")

    process = interrupt_mid_publish(clausewise_cmd, corpus, index_dir, signal.SIGINT)
    assert process.returncode != 0
    assert [name for name in leftovers(index_dir) if not (index_dir / name).is_symlink()] == []
    assert_still_old(index_dir, old.index_version, old.passages, 3)


@pytest.mark.parametrize(
    ("kind", "recorded"),
    [
        ("flat", {"type": "flat"}),
        ("hnsw", {"type": "hnsw", "m": 32, "ef_search": 128}),
        ("ivf", {"type": "ivf", "nprobe": 16}),
    ],
)
def test_the_manifest_records_the_dense_policy_and_each_segment_s_index(
    tmp_path: Path, run_ingest, settings, kind: str, recorded: dict
) -> None:
    """A segment as small as this one is searched exactly whatever the approximate type."""
    run_ingest(corpus_of(tmp_path / "corpus"), settings=settings.model_copy(update={"faiss_index": kind}))
    index = StoredIndex.open(settings.index_dir)
    assert index.manifest.faiss is not None and index.manifest.faiss.to_json() == recorded
    assert [segment.dense.type for segment in index.manifest.segments] == ["flat"]
    index.close()
