"""The per-user ONNX export cache (``CLAUSEWISE_ENCODER_CACHE``): the first index a user builds
exports and fills it, every later index (in any process) hard-links it instead of
exporting again, and a copy that no longer matches the model is never used."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hermetic import clausewise_command, clean_env

import ingest.embedding.onnx_export
from ingest.embedding import provision
from ingest.embedding.cache import FORMAT, ONNX_FILE, cache_problem, encoder_dir, shared_encoder_dir
from ingest.embedding.onnx_encoder import try_load
from ingest.embedding.provision import _link_copy, ensure_encoder, export_beside_index
from ingest.errors import ModelError
from ingest.settings import DEFAULT_MODEL, Settings


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: no export this one made is known, and exporting fails loudly, so
    a test passes only if the encoder came from the per-user cache."""
    monkeypatch.setattr(provision, "_FRESH", {})

    def no_export(*args, **kwargs):
        raise ModelError("exported instead of linking the per-user cache")

    monkeypatch.setattr(ingest.embedding.onnx_export, "export_model", no_export)
    monkeypatch.setattr(provision, "export_in_subprocess", no_export)


def _seeded(root: Path, onnx_cache: Path) -> Path:
    shared = shared_encoder_dir(root, DEFAULT_MODEL)
    shared.parent.mkdir(parents=True)
    _link_copy(onnx_cache, shared)
    return shared


def test_a_new_index_links_the_per_user_export(onnx_cache: Path, tmp_path: Path, new_process) -> None:
    shared = _seeded(tmp_path / "cache", onnx_cache)
    index = tmp_path / "index"
    assert export_beside_index(index, None, DEFAULT_MODEL, tmp_path / "cache") is None  # ingest's path
    assert (encoder_dir(index) / ONNX_FILE).stat().st_ino == (shared / ONNX_FILE).stat().st_ino
    served = tmp_path / "served" / "encoder"  # a server opening an index without an encoder
    encoder, reason = ensure_encoder(DEFAULT_MODEL, served, shared=tmp_path / "cache")
    assert encoder is not None, reason
    assert (served / ONNX_FILE).stat().st_ino == (shared / ONNX_FILE).stat().st_ino
    assert encoder.embed_query("Who is a refugee?").shape == (encoder.dimension,)


def test_a_per_user_copy_that_no_longer_matches_is_not_used(onnx_cache: Path, tmp_path: Path, new_process) -> None:
    shared = shared_encoder_dir(tmp_path / "cache", DEFAULT_MODEL)
    shutil.copytree(onnx_cache, shared)  # a real copy: the session's export stays intact
    with open(shared / ONNX_FILE, "ab") as handle:
        handle.write(b"\0")
    index = tmp_path / "index"
    reason = export_beside_index(index, None, DEFAULT_MODEL, tmp_path / "cache")
    assert reason and "exported instead of linking" in reason  # it tried to export, not to link
    assert not (encoder_dir(index) / ONNX_FILE).exists()
    encoder, why = ensure_encoder(DEFAULT_MODEL, tmp_path / "served", shared=tmp_path / "cache")
    assert encoder is None and "exported instead of linking" in why


def test_a_malformed_per_user_copy_is_passed_over(tmp_path: Path, new_process) -> None:
    shared = shared_encoder_dir(tmp_path / "cache", DEFAULT_MODEL)
    shared.mkdir(parents=True)
    (shared / "encoder.json").write_text(  # of today's format: it must get past the format check
        f'{{"format": {FORMAT}, "verification": {{"passed": true, "min_cosine": 1}}, "model": "x"}}'
    )
    reason = export_beside_index(tmp_path / "index", None, DEFAULT_MODEL, tmp_path / "cache")
    assert reason and "exported instead of linking" in reason  # passed over, not a crash
    encoder, why = ensure_encoder(DEFAULT_MODEL, tmp_path / "served", shared=tmp_path / "cache")
    assert encoder is None and "exported instead of linking" in why


def test_a_copy_that_vanishes_before_the_link_means_an_export(
    onnx_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_process
) -> None:
    shared = _seeded(tmp_path / "cache", onnx_cache)
    checked = provision._shared_fresh

    def then_removed(root, model):
        found = checked(root, model)
        shutil.rmtree(shared)  # e.g. `rm -rf ~/.cache` between the check and the link
        return found

    monkeypatch.setattr(provision, "_shared_fresh", then_removed)
    reason = export_beside_index(tmp_path / "index", None, DEFAULT_MODEL, tmp_path / "cache")
    assert reason and "exported instead of linking" in reason  # it went on to export


def test_without_a_per_user_cache_nothing_is_shared(onnx_cache: Path, tmp_path: Path, new_process) -> None:
    _seeded(tmp_path / "cache", onnx_cache)
    reason = export_beside_index(tmp_path / "index", None, DEFAULT_MODEL, None)
    assert reason and "exported instead of linking" in reason


def test_two_ingests_in_two_processes_export_once(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "charter.txt").write_text("Article 1\nEvery resident may return after the floods.\n", encoding="utf-8")
    cache = tmp_path / "cache"
    env = clean_env(CLAUSEWISE_ENCODER_CACHE=str(cache))
    for name in ("first", "second"):
        proc = subprocess.run(
            [*clausewise_command(), "ingest", str(corpus), "--index", str(tmp_path / name), "-q"],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
    shared = shared_encoder_dir(cache, DEFAULT_MODEL)
    assert cache_problem(shared, DEFAULT_MODEL)[0] is None  # the first ingest filled it
    inodes = {(folder / ONNX_FILE).stat().st_ino for folder in (encoder_dir(tmp_path / "first"), shared)}
    inodes.add((encoder_dir(tmp_path / "second") / ONNX_FILE).stat().st_ino)
    assert len(inodes) == 1  # one export, hard-linked twice
    encoder, reason = try_load(encoder_dir(tmp_path / "second"), DEFAULT_MODEL)
    assert encoder is not None, reason


def test_the_cache_defaults_under_xdg_cache_home_and_empty_switches_it_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLAUSEWISE_ENCODER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Settings(_env_file=None).encoder_cache == tmp_path / "clausewise" / "encoders"  # type: ignore[call-arg]
    monkeypatch.setenv("CLAUSEWISE_ENCODER_CACHE", "")
    assert Settings(_env_file=None).encoder_cache is None  # type: ignore[call-arg]
    monkeypatch.setenv("CLAUSEWISE_ENCODER_CACHE", str(tmp_path / "elsewhere"))
    assert Settings(_env_file=None).encoder_cache == tmp_path / "elsewhere"  # type: ignore[call-arg]
    monkeypatch.setenv("CLAUSEWISE_ENCODER_CACHE", "~/encoders")
    assert Settings(_env_file=None).encoder_cache == Path.home() / "encoders"  # type: ignore[call-arg]
    monkeypatch.delenv("CLAUSEWISE_ENCODER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG specification says
    assert Settings(_env_file=None).encoder_cache == Path.home() / ".cache" / "clausewise" / "encoders"  # type: ignore[call-arg]


def test_a_user_without_a_home_folder_gets_no_per_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAUSEWISE_ENCODER_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert Settings(_env_file=None).encoder_cache is None  # type: ignore[call-arg]
    monkeypatch.setenv("HOME", "")  # set but empty: not a cache under /
    assert Settings(_env_file=None).encoder_cache is None  # type: ignore[call-arg]


def test_each_model_has_its_own_folder() -> None:
    a = shared_encoder_dir("/c", "all-MiniLM-L6-v2")
    b = shared_encoder_dir("/c", "/models/all-MiniLM-L6-v2")
    assert a != b and a.parent == b.parent == Path("/c")
    assert a.name.startswith("all-MiniLM-L6-v2-")
    assert a.name.endswith(f"-f{FORMAT}")  # two versions of clausewise keep an export each
