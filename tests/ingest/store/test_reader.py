"""Reading a published build: what is stored is what was chunked, an open reader keeps its
build while a new one is published, and an index that cannot be read says how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docgen import corpus_of, write_text

from ingest.chunker import ChunkParams, chunk
from ingest.errors import IndexIncompatibleError, IndexMissingError
from ingest.loaders import load
from ingest.store.reader import StoredIndex, current_build, read_manifest
from ingest.structure import build


def test_stored_passages_are_exactly_the_chunked_ones(
    tmp_path: Path, treaty_pdf: Path, run_ingest, settings, embedder
) -> None:
    run_ingest(treaty_pdf.parent)
    index = StoredIndex.open(settings.index_dir)
    (document,) = index.documents.values()
    stored = index.document_passages(document.doc_id)
    chunking = index.manifest.chunking
    expected = chunk(
        build(load(treaty_pdf, document.source)),
        document.doc_id,
        embedder.token_offsets,
        ChunkParams(chunking.max_tokens, chunking.overlap),
    )

    def fields(p):
        return (
            p.id,
            p.ordinal,
            p.text,
            p.char_start,
            p.char_end,
            p.page_start,
            p.page_end,
            p.section,
            p.content_hash,
        )

    # Ids carry the file's content hash (a changed file's passages get new ids); the rest is as cut.
    assert [p.id for p in stored] == [f"{document.doc_id}:{document.file_hash[:8]}:{p.ordinal:04d}" for p in expected]
    assert [fields(p)[1:] for p in stored] == [fields(p)[1:] for p in expected]
    assert document.passage_count == len(stored) == len(index)
    assert index.vectors_of(range(len(index))).shape == (len(index), index.manifest.model.dimension)
    index.close()


def test_readers_keep_their_build_while_a_new_one_is_published(tmp_path: Path, run_ingest, settings) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    run_ingest(corpus)
    reader = StoredIndex.open(settings.index_dir)
    before = [p.text for p in reader.passages(list(range(len(reader))))]

    write_text(corpus / "volume-000.md", "# Handbook Volume 0\n\nThis volume was withdrawn and replaced.\n")
    report = run_ingest(corpus)
    assert report.published

    assert [p.text for p in reader.passages(list(range(len(reader))))] == before
    reader.close()
    fresh = StoredIndex.open(settings.index_dir)
    assert fresh.version == report.index_version
    assert any("withdrawn" in p.text for p in fresh.passages(list(range(len(fresh)))))
    fresh.close()


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="clausewise ingest"):
        StoredIndex.open(tmp_path / "nowhere")
    with pytest.raises(IndexMissingError, match="clausewise ingest"):
        read_manifest(tmp_path / "nowhere")


def test_read_manifest_is_the_open_index_s_manifest(tmp_path: Path, run_ingest, settings) -> None:
    report = run_ingest(corpus_of(tmp_path / "corpus"))
    index = StoredIndex.open(settings.index_dir)
    assert read_manifest(settings.index_dir) == index.manifest
    assert current_build(settings.index_dir) == index.folder
    assert index.version == index.manifest.index_version == report.index_version
    index.close()


@pytest.mark.parametrize("damage", ["no model", "model without name", "not JSON", "no counts"])
def test_a_damaged_manifest_is_an_incompatible_index_naming_the_fix(
    tmp_path: Path, run_ingest, settings, damage: str
) -> None:
    run_ingest(corpus_of(tmp_path / "corpus"))
    path = settings.index_dir / "current" / "manifest.json"
    manifest = json.loads(path.read_text())
    if damage == "no model":
        del manifest["model"]
    elif damage == "model without name":
        del manifest["model"]["name"]
    elif damage == "no counts":
        del manifest["counts"]
    path.write_text(json.dumps(manifest) if damage != "not JSON" else path.read_text()[:40])
    for read in (StoredIndex.open, read_manifest):
        with pytest.raises(IndexIncompatibleError) as caught:
            read(settings.index_dir)
        message = str(caught.value)
        assert str(settings.index_dir) in message and "--rebuild" in message


def test_filters_as_a_mask(tmp_path: Path, run_ingest, settings) -> None:
    corpus = corpus_of(tmp_path / "corpus", files=2)
    write_text(
        corpus / "old" / "volume-000.md", "# Archive\n\n## Rule 9\n\nArchived rules are kept for reference only.\n"
    )
    run_ingest(corpus)
    index = StoredIndex.open(settings.index_dir)
    sources = [index.documents[index.doc_ids[d]].source for d in index.passage_doc]

    def matching(source: str | None = None, doc_ids: list[str] | None = None, section: str | None = None) -> set[str]:
        mask = index.mask(source, doc_ids, section)
        assert mask is not None and mask.shape == (len(index),)
        return {source for source, keep in zip(sources, mask) if keep}

    assert index.mask() is None
    assert matching(source="volume-000.md") == {"volume-000.md", "old/volume-000.md"}  # a bare name: any depth
    assert matching(source="*.md") == set(sources)
    assert matching(source="old/*.md") == {"old/volume-000.md"}
    assert matching(doc_ids=["volume-001.md"]) == {"volume-001.md"}
    assert matching(section="rule 9") == {"old/volume-000.md"}
    assert matching(source="*.md", section="Rule 1") == {"volume-000.md", "volume-001.md"}
    assert matching(doc_ids=[]) == set()
    index.close()


def test_a_truncated_vector_file_is_an_incompatible_index_naming_the_fix(tmp_path: Path, run_ingest, settings) -> None:
    """Vectors are read on demand (pread): a cut-short copy is refused when the index opens,
    not discovered by the first question that reads past its end."""
    run_ingest(corpus_of(tmp_path / "corpus"))
    vectors = next((settings.index_dir / "segments").glob("*/vectors.npy"))
    vectors.write_bytes(vectors.read_bytes()[:-100])
    with pytest.raises(IndexIncompatibleError) as caught:
        StoredIndex.open(settings.index_dir)
    assert "--rebuild" in str(caught.value)
