"""Discovery: which files of a folder get ingested, and under which source name."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ingest.discover import discover, read_regular
from ingest.errors import SourceNotFound


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Text of {name}.\n", encoding="utf-8")


def sources(root: Path, excludes: list[str] | None = None) -> list[str]:
    return [found.source for found in discover([root], excludes).files]


def test_recurses_into_sub_folders_with_relative_posix_sources(tmp_path: Path) -> None:
    touch(tmp_path, "a.txt", "treaties/un/refugees.md", "treaties/eu/qualification.html", "b.pdf")
    found = discover([tmp_path]).files
    assert sorted(f.source for f in found) == [
        "a.txt",
        "b.pdf",
        "treaties/eu/qualification.html",
        "treaties/un/refugees.md",
    ]
    for f in found:
        assert f.path == tmp_path.resolve() / f.source


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    touch(tmp_path, "kept.txt", ".hidden.txt", ".git/notes.md", "sub/.DS_Store", "sub/.cache/x.txt", "sub/kept.md")
    assert sorted(sources(tmp_path)) == ["kept.txt", "sub/kept.md"]


def test_unknown_file_types_are_listed_as_skipped(tmp_path: Path) -> None:
    touch(tmp_path, "kept.txt", "minutes.docx", "data/table.csv", "README")
    found = discover([tmp_path])
    assert [f.source for f in found.files] == ["kept.txt"]
    reasons = dict(found.skipped)
    assert set(reasons) == {"minutes.docx", "data/table.csv", "README"}
    assert reasons["minutes.docx"] == "unsupported file type .docx"
    assert reasons["README"] == "unsupported file type (none)"


def test_suffixes_are_matched_without_regard_to_case(tmp_path: Path) -> None:
    touch(tmp_path, "SCAN.PDF", "Notes.TXT", "Page.HTM", "Guide.Markdown")
    assert sorted(sources(tmp_path)) == ["Guide.Markdown", "Notes.TXT", "Page.HTM", "SCAN.PDF"]


def test_clausewiseignore_uses_gitignore_syntax(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "keep.txt",
        "drafts/old.txt",
        "drafts/older.md",
        "archive/2019/report.md",
        "archive/2024/report.md",
        "notes/private.txt",
        "notes/public.txt",
        "deep/er/private.txt",
        "scratch.md",
        "sub/scratch.md",
    )
    (tmp_path / ".clausewiseignore").write_text(
        "# comments and blank lines are ignored\n\n"
        "drafts/\n"  # a whole folder
        "archive/2019\n"  # a path under the root
        "**/private.txt\n"  # any depth
        "/scratch.md\n"  # anchored at the root only
        "*.md\n"
        "!archive/2024/report.md\n",  # re-included
        encoding="utf-8",
    )
    assert sorted(sources(tmp_path)) == ["archive/2024/report.md", "keep.txt", "notes/public.txt"]


def test_clausewiseignore_is_read_at_the_ingested_root_only(tmp_path: Path) -> None:
    touch(tmp_path, "corpus/a.txt", "corpus/sub/b.txt")
    (tmp_path / "corpus" / "sub" / ".clausewiseignore").write_text("b.txt\n")
    assert sorted(sources(tmp_path / "corpus")) == ["a.txt", "sub/b.txt"]


def test_exclude_globs_match_names_and_paths(tmp_path: Path) -> None:
    touch(tmp_path, "a.txt", "a.draft.txt", "old/b.txt", "sub/old/c.txt", "sub/d.md")
    assert sorted(sources(tmp_path, ["*.draft.txt"])) == ["a.txt", "old/b.txt", "sub/d.md", "sub/old/c.txt"]
    assert sorted(sources(tmp_path, ["old/"])) == ["a.draft.txt", "a.txt", "sub/d.md"]
    assert sorted(sources(tmp_path, ["sub/*"])) == ["a.draft.txt", "a.txt", "old/b.txt"]
    assert sorted(sources(tmp_path, ["*.md", "*.draft.txt"])) == ["a.txt", "old/b.txt", "sub/old/c.txt"]


def test_excluded_files_are_not_reported_as_skipped(tmp_path: Path) -> None:
    touch(tmp_path, "a.txt", "b.docx", "c.csv")
    (tmp_path / ".clausewiseignore").write_text("*.csv\n")
    found = discover([tmp_path], ["*.docx"])
    assert [f.source for f in found.files] == ["a.txt"]
    assert found.skipped == []


def test_a_file_given_directly_is_named_by_its_file_name(tmp_path: Path) -> None:
    touch(tmp_path, "deep/inside/convention.md")
    found = discover([tmp_path / "deep" / "inside" / "convention.md"]).files
    assert [f.source for f in found] == ["convention.md"]


def test_several_roots(tmp_path: Path) -> None:
    touch(tmp_path, "un/a.txt", "eu/b.txt", "single.md")
    found = discover([tmp_path / "un", tmp_path / "eu", tmp_path / "single.md"]).files
    assert [f.source for f in found] == ["a.txt", "b.txt", "single.md"]


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match="no such file or folder") as caught:
        discover([tmp_path / "nope"])
    assert isinstance(caught.value, FileNotFoundError)  # what callers outside the family catch


def test_links_out_of_the_folder_are_skipped_and_reported(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    touch(corpus, "kept.txt", "sub/inner.md")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("not for the index")
    os.symlink("/etc/passwd", corpus / "passwd.txt")
    os.symlink(tmp_path / "outside", corpus / "elsewhere")
    os.symlink(corpus / "sub" / "inner.md", corpus / "alias.md")  # inside: read at its target
    found = discover([corpus])
    assert sorted(f.source for f in found.files) == ["alias.md", "kept.txt", "sub/inner.md"]
    assert {f.source: f.path for f in found.files}["alias.md"] == (corpus / "sub" / "inner.md").resolve()
    reasons = dict(found.skipped)
    assert "outside the ingested folders" in reasons["passwd.txt"]
    assert "outside the ingested folders" in reasons["elsewhere"]


def test_fifos_and_sockets_are_skipped_without_blocking(tmp_path: Path) -> None:
    touch(tmp_path, "kept.txt")
    os.mkfifo(tmp_path / "pipe.txt")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.md"))
    try:
        found = discover([tmp_path])
    finally:
        server.close()
    assert [f.source for f in found.files] == ["kept.txt"]
    assert dict(found.skipped) == {"pipe.txt": "a FIFO, not a file", "sock.md": "a socket, not a file"}


def test_a_file_swapped_for_a_fifo_after_discovery_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "late.txt")
    with pytest.raises(OSError, match="FIFO"):
        read_regular(tmp_path / "late.txt")
    os.symlink("/etc/passwd", tmp_path / "link.txt")
    with pytest.raises(OSError):
        read_regular(tmp_path / "link.txt")  # never through a link
