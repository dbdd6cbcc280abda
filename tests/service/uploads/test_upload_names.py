"""Upload names: only a plain file name is kept, folders stay relative, targets stay inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import UploadRejected
from service.uploads.names import safe_filename, safe_folder, target_path


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/cron.txt", "cron.txt"),
        ("C:\\Users\\me\\Desktop\\notes.md", "notes.md"),
        ("/abs/path/page.HTML", "page.HTML"),
        ("weird<>:|?*name.txt", "weird______name.txt"),
        ("tab\tand\nnewline.txt", "tab and newline.txt"),
        ("bell\x07and\x00nul\x9b.txt", "bellandnul.txt"),  # control characters removed
        ("invoice\u202etxt.exe.md", "invoicetxt.exe.md"),  # a bidi override would show "dm.exe.txt"
        ("\u2066left\u2069 \u200fmark\ufeff.md", "left mark.md"),
        ("  spaced   out .txt ", "spaced out .txt"),
        ("Cafe\u0301.md", "Caf\u00e9.md"),  # NFC
    ],
)
def test_safe_filename_keeps_only_a_plain_name(raw: str, clean: str) -> None:
    assert safe_filename(raw) == clean


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (".env.txt", 400, "hidden"),
        ("dir/.hidden.md", 400, "hidden"),
        ("..", 400, "empty"),
        ("", 400, "empty"),
        ("../", 400, "empty"),
        ("script.sh", 415, "unsupported file type .sh"),
        ("archive.pdf.zip", 415, "unsupported"),
        ("noextension", 415, "(none)"),
        ("x" * 300 + ".txt", 400, "longer than 200 bytes"),
    ],
)
def test_safe_filename_refuses(raw: str, status: int, message: str) -> None:
    with pytest.raises(UploadRejected) as caught:
        safe_filename(raw)
    assert caught.value.status == status and message in caught.value.message


def test_safe_folder() -> None:
    assert safe_folder(None) == "" and safe_folder("  ") == ""
    assert safe_folder("treaties/2024/") == "treaties/2024"
    assert safe_folder("a\\b/./c") == "a/b/c"
    for bad in ("../up", "a/../../b", "/etc", "C:/x", "a/.git", "/".join("d" * 9)):
        with pytest.raises(UploadRejected) as caught:
            safe_folder(bad)
        assert caught.value.status == 400


def test_target_path_stays_inside_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (corpus / "escape").symlink_to(outside)
    (corpus / "link.txt").symlink_to(outside / "target.txt")
    assert target_path(corpus, "sub/new.txt") == corpus.resolve() / "sub" / "new.txt"
    for source, status, message in [
        ("escape/x.txt", 400, "outside the corpus"),
        ("link.txt", 409, "symbolic link"),
        ("sub", 409, "folder"),
    ]:
        with pytest.raises(UploadRejected, match=message) as caught:
            target_path(corpus, source)
        assert caught.value.status == status
