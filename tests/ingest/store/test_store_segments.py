"""An index of immutable segments: an ingest writes a segment of the new and changed documents
only, deletes the rows they replace, keeps other passages' ids, bounds the number of segments
by merging, and ranks exactly as an index built at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from docgen import corpus_of, write_text

from ingest.store import merge
from ingest.store.reader import StoredIndex
from service.search.retriever import Retriever

QUESTIONS = [
    "Which rule applies to housing claims at the border?",
    "What do officers do about religion?",
    "volume 7 employment",
    "identity papers registered",
    "How are court claims registered?",
]


def _ids(index: StoredIndex) -> dict[str, list[str]]:
    return {d.source: [p.id for p in index.document_passages(d.doc_id)] for d in index.documents.values()}


def test_an_update_writes_a_segment_of_what_changed_and_deletes_what_it_replaces(
    tmp_path: Path, run_ingest, settings
) -> None:
    corpus = corpus_of(tmp_path / "corpus", files=4)
    first = run_ingest(corpus)
    before = StoredIndex.open(settings.index_dir)
    old_ids = _ids(before)
    before.close()

    write_text(corpus / "volume-001.md", "# Handbook Volume 1\n\n## Rule 1\n\nOfficers now waive every fee.\n")
    write_text(corpus / "annex.md", "# Annex\n\n## Fees\n\nNo fee is charged for a first registration.\n")
    (corpus / "volume-002.md").unlink()
    second = run_ingest(corpus)
    index = StoredIndex.open(settings.index_dir)
    ids = _ids(index)
    new_rows = ids["volume-001.md"] + ids["annex.md"]
    # Only the changed and the new file were embedded, into one new segment of their rows.
    assert second.embedded == len(new_rows) < first.embedded
    (old, new) = index.manifest.segments
    assert new.rows == len(new_rows) and old.rows == first.passages
    assert old.deleted == len(old_ids["volume-001.md"]) + len(old_ids["volume-002.md"])
    assert len(index) == second.passages == old.live + new.rows
    # Unchanged documents keep their passage ids; the changed one's are all new.
    assert ids["volume-000.md"] == old_ids["volume-000.md"] and ids["volume-003.md"] == old_ids["volume-003.md"]
    assert not set(ids["volume-001.md"]) & set(old_ids["volume-001.md"])
    assert index.row_of(old_ids["volume-001.md"][0]) is None and index.row_of(old_ids["volume-002.md"][0]) is None
    changed = next(d.doc_id for d in index.documents.values() if d.source == "volume-001.md")
    assert "waive every fee" in " ".join(p.text for p in index.document_passages(changed))
    assert "volume-002.md" not in ids
    index.close()


def _top10(index: StoredIndex, embedder, settings) -> dict[tuple[str, str], list[str]]:
    retriever = Retriever(index, embedder, settings)
    return {
        (mode, question): [hit.passage.id for hit in retriever.run(question, 10, mode)]
        for mode in ("dense", "lexical", "hybrid")
        for question in QUESTIONS
    }


def test_twenty_updates_rank_as_one_build_and_merging_bounds_the_segments(
    tmp_path: Path, run_ingest, settings, embedder, monkeypatch
) -> None:
    monkeypatch.setattr(merge, "PER_TIER", 4)
    final = corpus_of(tmp_path / "final", files=17, rules=3)
    at_once = settings.model_copy(update={"index_dir": tmp_path / "at-once"})
    run_ingest(final, settings=at_once)

    # The same corpus reached in 20 runs, each changing something: files arrive, one changes
    # and changes back, one comes and goes.
    corpus = tmp_path / "final-updated"
    corpus.mkdir()
    sources = sorted(p.name for p in final.iterdir())
    arrivals = {run: [sources[run]] for run in range(15)} | {18: [sources[15]], 19: [sources[16]]}
    for run in range(20):
        for name in arrivals.get(run, []):
            write_text(corpus / name, (final / name).read_text())
        if run == 15:
            write_text(corpus / sources[3], "# Handbook Volume 3\n\n## Rule 1\n\nA draft that was withdrawn.\n")
            write_text(corpus / "draft.md", "# Draft\n\n## Rule 1\n\nA draft note on housing claims.\n")
        if run == 16:
            (corpus / "draft.md").unlink()
        if run == 17:
            write_text(corpus / sources[3], (final / sources[3]).read_text())
        assert run_ingest(corpus).published
    # The updated index lives elsewhere, so its corpus root differs; its content is the same.
    updated = StoredIndex.open(settings.index_dir)
    fresh = StoredIndex.open(at_once.index_dir)
    assert updated.manifest.content_digest == fresh.manifest.content_digest
    assert len(updated) == len(fresh)
    assert len(updated.manifest.segments) <= 2 * merge.PER_TIER  # 20 updates, merged down
    assert len(fresh.manifest.segments) == 1
    assert _top10(updated, embedder, settings) == _top10(fresh, embedder, settings)
    # A merge drops deleted passages: what a merged segment holds is live.
    segment_rows = sum(s.rows for s in updated.manifest.segments)
    assert segment_rows - sum(s.deleted for s in updated.manifest.segments) == len(updated)
    updated.close()
    fresh.close()


@pytest.mark.parametrize("kept", [True, False])
def test_a_changed_file_that_now_fails_keeps_its_indexed_version(
    tmp_path: Path, run_ingest, settings, kept: bool
) -> None:
    corpus = corpus_of(tmp_path / "corpus", files=2)
    run_ingest(corpus)
    before = StoredIndex.open(settings.index_dir)
    old_ids = _ids(before)
    before.close()
    (corpus / "volume-001.md").write_bytes(b"\n\n" if kept else b"# Handbook Volume 1\n\n## Rule 1\n\nRevised.\n")
    report = run_ingest(corpus)
    index = StoredIndex.open(settings.index_dir)
    if kept:  # nothing left to index: the file is reported and its old passages stay
        assert [s for s, _ in report.failed] == ["volume-001.md"]
        assert _ids(index) == old_ids
    else:
        assert _ids(index)["volume-001.md"] != old_ids["volume-001.md"]
    index.close()
