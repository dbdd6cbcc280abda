"""Content sniffing: a file must hold what its extension claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from upload_parts import pdf_bytes

from ingest.errors import UploadRejected
from service.uploads.content import check_contents, content_problem
from service.uploads.reader import StagedFile


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("a.txt", "Plain UTF-8 text — with a dash.".encode(), None),
        ("a.txt", "Déjà vu in Latin-1.".encode("latin-1"), None),
        ("a.txt", "\ufeffUTF-16 text".encode("utf-16"), None),
        ("a.md", b"# Title\n\nBody", None),
        ("a.txt", b"text\x00with NUL", "NUL"),
        ("a.txt", b"%PDF-1.4 pretending", "binary"),
        ("a.txt", bytes(range(1, 32)) * 20, "does not decode"),
        ("a.html", b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", None),
        ("a.htm", b"  <p>fragment</p>", None),
        ("a.html", b"no markup here", "no HTML markup"),
        ("a.pdf", b"GIF89a....", "%PDF-"),
        ("a.pdf", b"%PDF-1.4\nnot really", "cannot be read"),
    ],
)
def test_content_is_checked_against_the_extension(tmp_path: Path, name: str, data: bytes, problem: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    found = content_problem(path, name, data, b"\x00" in data)
    assert (found is None) if problem is None else (problem in found), found


def test_a_real_pdf_passes(tmp_path: Path) -> None:
    path = tmp_path / "real.pdf"
    path.write_bytes(pdf_bytes())
    assert content_problem(path, "real.pdf", path.read_bytes()[:65536], False) is None


def test_check_contents_refuses_with_415(tmp_path: Path) -> None:
    def staged(name: str, data: bytes) -> StagedFile:
        path = tmp_path / name
        path.write_bytes(data)
        return StagedFile(
            field="files", raw_name=name, name=name, path=path, size=len(data), head=data, has_nul=b"\x00" in data
        )

    check_contents([staged("fine.txt", b"some text"), staged("page.html", b"<p>hello</p>")])
    for file, message in [
        (staged("empty.md", b""), "empty.md: the file is empty"),
        (staged("fake.pdf", b"not a pdf"), "fake.pdf is not a valid .pdf file: it does not start"),
    ]:
        with pytest.raises(UploadRejected) as caught:
            check_contents([staged("fine.txt", b"some text"), file])
        assert caught.value.status == 415 and caught.value.message.startswith(message)
