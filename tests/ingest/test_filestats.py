"""An update reads only the files whose stats changed (``INDEX/file-stats.json``), and is never
fooled by it: a rewrite with its old size and mtime restored, a file changed in the tick it was
recorded, or a damaged stats file all end in the file being hashed again."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import ingest.filestats as filestats
from ingest.changes import file_hash
from ingest.discover import FoundFile
from ingest.filestats import RACY_NS, STATS_FILE, FileStats
from ingest.settings import Settings


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in {
        "charter.txt": "Article 1\nEvery resident may return after the floods.\n",
        "notice.txt": "Boats are moored at the eastern quay until the thaw.\n",
        "guide.md": "# Guide\n\nThe ferry leaves at dawn from the northern pier.\n",
    }.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the stats cache reads and hashes, in order."""
    calls: list[Path] = []

    def counting(path: Path) -> str:
        calls.append(Path(path))
        return file_hash(path)

    monkeypatch.setattr(filestats, "file_hash", counting)
    return calls


def settled(run_ingest, corpus: Path) -> None:
    """Ingest, and again once the first record is no longer racy, so the stats are trusted."""
    run_ingest(corpus)
    time.sleep(RACY_NS / 1e9 + 0.2)
    run_ingest(corpus)


def test_an_unchanged_corpus_is_not_read_again(run_ingest, corpus: Path, settings: Settings, hashed) -> None:
    settled(run_ingest, corpus)
    hashed.clear()
    report = run_ingest(corpus)
    assert sorted(report.unchanged) == ["charter.txt", "guide.md", "notice.txt"]
    assert hashed == []  # nothing opened
    (corpus / "notice.txt").write_text("Boats are moored at the western quay until the thaw.\n", encoding="utf-8")
    report = run_ingest(corpus)
    assert report.updated == ["notice.txt"] and hashed == [corpus / "notice.txt"]


def test_a_rewrite_with_its_old_size_and_mtime_is_still_seen(run_ingest, corpus: Path, hashed) -> None:
    settled(run_ingest, corpus)
    path = corpus / "charter.txt"
    before = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("floods", "storms"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as they were
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert run_ingest(corpus).updated == ["charter.txt"]  # the change time gave it away


def test_a_file_recorded_in_the_tick_it_changed_is_hashed_again(tmp_path: Path, hashed) -> None:
    path = tmp_path / "a.txt"
    path.write_text("first\n", encoding="utf-8")
    stats = FileStats()
    found = FoundFile(str(path), "a.txt")
    digest = stats.digest(found)
    stats.save(tmp_path)
    again = FileStats.load(tmp_path)  # written just now: the entry is racy
    assert again.digest(found) == digest and len(hashed) == 2
    again.written_ns = time.time_ns() + 2 * RACY_NS  # as if recorded well after the change
    assert again.digest(found) == digest and len(hashed) == 2


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"version": 99, "files": {}}', b'{"version": 1}'])
def test_a_damaged_stats_file_means_hashing_everything(
    run_ingest, corpus: Path, settings: Settings, hashed, damage: bytes
) -> None:
    run_ingest(corpus)
    (settings.index_dir / STATS_FILE).write_bytes(damage)
    hashed.clear()
    report = run_ingest(corpus)
    assert sorted(report.unchanged) == ["charter.txt", "guide.md", "notice.txt"]
    assert len(hashed) == 3
    assert FileStats.load(settings.index_dir).entries.keys() == {"charter.txt", "guide.md", "notice.txt"}


def test_a_vanished_file_is_forgotten(run_ingest, corpus: Path, settings: Settings) -> None:
    run_ingest(corpus)
    (corpus / "guide.md").unlink()
    assert run_ingest(corpus).removed == ["guide.md"]
    assert FileStats.load(settings.index_dir).entries.keys() == {"charter.txt", "notice.txt"}
