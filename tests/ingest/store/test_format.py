"""The index format: the typed manifest reads the manifests clausewise writes (and wrote before
it was typed) and gives back the same JSON; an index of another format version is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docgen import corpus_of

from ingest.errors import IndexIncompatibleError
from ingest.store.format import FORMAT_VERSION, Chunking, Counts, FaissInfo, Manifest, ModelInfo
from ingest.store.reader import StoredIndex

# A manifest as `clausewise ingest` writes it (the shared treaties index, 2026-12).
WRITTEN = {
    "format_version": 2,
    "index_version": "20261201T225728.687Z-1c587f12",
    "created_at": "2026-12-01T22:57:28.687137+00:00",
    "model": {"name": "all-MiniLM-L6-v2", "dimension": 384, "max_seq_length": 256},
    "chunking": {
        "parser_version": 5,
        "max_tokens": 160,
        "overlap": 24,
        "contextualize": True,
        "tokenizer": "all-MiniLM-L6-v2",
    },
    "counts": {"documents": 15, "passages": 1597, "pages": 409},
    "content_digest": "1c587f12e988c532f775268fc5e8469b09cb5a1d370207c0af1902a6cad74931",
    "roots": ["/work/shared/corpus/treaties"],
    "faiss": {"type": "ivf", "nprobe": 16},
    "segments": [
        {"id": "20261201T225728687137-0a1b2c3d", "rows": 1590, "deleted": 12, "dense": {"type": "flat"}},
        {"id": "20261201T230102000001-4e5f6a7b", "rows": 19, "deleted": 0, "dense": {"type": "flat"}},
    ],
    "parent": "20261201T225728.687Z-1c587f12",
}


def test_a_written_manifest_is_read_typed() -> None:
    manifest = Manifest.from_json(WRITTEN)
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.model == ModelInfo("all-MiniLM-L6-v2", 384, 256)
    assert manifest.chunking == Chunking(160, 24, True, "all-MiniLM-L6-v2", parser_version=5)
    assert manifest.counts == Counts(documents=15, passages=1597, pages=409)
    assert manifest.faiss == FaissInfo("ivf", nprobe=16)
    assert [(s.rows, s.deleted, s.live) for s in manifest.segments] == [(1590, 12, 1578), (19, 0, 19)]
    assert manifest.segments[0].dense == FaissInfo("flat")
    assert manifest.parent == "20261201T225728.687Z-1c587f12"
    assert manifest.roots == ("/work/shared/corpus/treaties",)
    assert manifest.index_version == "20261201T225728.687Z-1c587f12"


def test_to_json_gives_back_the_same_json_in_the_same_order() -> None:
    manifest = Manifest.from_json(WRITTEN)
    assert manifest.to_json() == WRITTEN
    assert list(manifest.to_json()) == list(WRITTEN)
    assert list(manifest.to_json()["chunking"]) == list(WRITTEN["chunking"])
    assert manifest.dumps() == json.dumps(WRITTEN, indent=2, ensure_ascii=False)


def test_approximate_faiss_parameters_round_trip() -> None:
    for faiss in ({"type": "hnsw", "m": 32, "ef_search": 128}, {"type": "ivf", "nlist": 160, "nprobe": 16}):
        manifest = Manifest.from_json({**WRITTEN, "faiss": faiss})
        assert manifest.to_json()["faiss"] == faiss and list(manifest.to_json()["faiss"]) == list(faiss)


def test_a_manifest_from_before_the_parser_version_reads_and_differs_from_today_s_chunking() -> None:
    older = {**WRITTEN, "chunking": {k: v for k, v in WRITTEN["chunking"].items() if k != "parser_version"}}
    manifest = Manifest.from_json(older)
    assert manifest.chunking.parser_version is None
    assert manifest.chunking != Manifest.from_json(WRITTEN).chunking  # so the next ingest re-chunks
    assert manifest.to_json() == older


def test_keys_unknown_here_are_kept() -> None:
    newer = {**WRITTEN, "annotations": {"by": "a later writer"}}
    assert Manifest.from_json(newer).to_json() == newer


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda m: m.pop("model"), KeyError),
        (lambda m: m["model"].pop("name"), KeyError),
        (lambda m: m.pop("chunking"), KeyError),
        (lambda m: m.update(faiss={"type": "annoy"}), ValueError),
    ],
)
def test_a_malformed_manifest_is_a_parse_error(change, error: type[Exception]) -> None:
    data = json.loads(json.dumps(WRITTEN))
    change(data)
    with pytest.raises(error):
        Manifest.from_json(data)


def test_the_file_written_is_the_manifest_read(tmp_path: Path, run_ingest, settings) -> None:
    run_ingest(corpus_of(tmp_path / "corpus"))
    path = settings.index_dir / "current" / "manifest.json"
    manifest = Manifest.load(path)
    assert path.read_text() == manifest.dumps()
    assert manifest.roots == (str((tmp_path / "corpus").resolve()),)


def test_index_in_another_format_version_is_refused(tmp_path: Path, run_ingest, settings) -> None:
    run_ingest(corpus_of(tmp_path / "corpus"))
    manifest_path = settings.index_dir / "current" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99  # as written by a future clausewise
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match="--rebuild") as caught:
        StoredIndex.open(settings.index_dir)
    assert "format version 99" in str(caught.value)
    with pytest.raises(IndexIncompatibleError, match="format version 99"):
        Manifest.from_json({**WRITTEN, "format_version": 99})


def test_an_index_of_format_1_is_refused_naming_the_rebuild(tmp_path: Path) -> None:
    """A whole-build index from before segments (``builds/<version>/``) is not read as one."""
    build = tmp_path / "index" / "builds" / "20261201T225728.687Z-1c587f12"
    build.mkdir(parents=True)
    old = {k: v for k, v in WRITTEN.items() if k not in ("segments", "parent")}
    (build / "manifest.json").write_text(json.dumps({**old, "format_version": 1, "faiss": {"type": "flat"}}))
    (tmp_path / "index" / "current").symlink_to(Path("builds") / build.name)
    with pytest.raises(IndexIncompatibleError, match="format version 1") as caught:
        StoredIndex.open(tmp_path / "index")
    assert "clausewise ingest PATH --rebuild" in str(caught.value)
