"""Content decides how a file is read: mislabelled files, binary data, NUL bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from docgen import write_pdf

from ingest.errors import LoadError
from ingest.loaders import load
from ingest.loaders.sniff import sniff

PAGE = (
    "<!DOCTYPE html><html><head><title>Reception conditions</title></head><body><main><article>"
    "<h1>Reception conditions</h1><p>Applicants for international protection shall have access to "
    "material reception conditions when they make their application, as the directive provides.</p>"
    "<p>Member States shall ensure a standard of living which guarantees their subsistence.</p>"
    "</article></main></body></html>"
)


def test_a_pdf_named_markdown_is_read_as_the_pdf_it_is(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "real.pdf", [["Annex I lists the reception centres and their capacity."]])
    mislabelled = tmp_path / "annex.md"
    mislabelled.write_bytes(pdf.read_bytes())
    raw = load(mislabelled, "annex.md")
    assert raw.kind == "pdf" and "reception centres" in raw.pages[0].text
    assert any("holds a PDF" in w for w in raw.warnings)
    assert "%PDF" not in raw.pages[0].text and "endobj" not in raw.pages[0].text


def test_a_web_page_named_pdf_is_read_as_html(tmp_path: Path) -> None:
    path = tmp_path / "directive.pdf"
    path.write_text(PAGE, encoding="utf-8")
    raw = load(path, "directive.pdf")
    assert raw.kind == "html" and "material reception conditions" in raw.pages[0].text
    assert any("HTML" in w for w in raw.warnings)


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "PNG"),
        ("archive.md", b"PK\x03\x04" + bytes(200), "ZIP"),
        ("blob.txt", bytes(range(256)) * 40, "control characters"),
        ("zeros.md", b"\x00" * 5000, "NUL"),
    ],
)
def test_binary_files_are_reported_under_any_name(tmp_path: Path, name: str, data: bytes, why: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError, match="not a document") as caught:
        load(path, name)
    assert why.lower() in str(caught.value).lower()


def test_nul_bytes_are_removed_from_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"The Council\x00 meets three\x00\x00 times a year.\n")
    assert load(path, "notes.txt").pages[0].text == "The Council meets three times a year.\n"


def test_sniff_tells_html_fragments_from_documents() -> None:
    assert sniff(b"<!-- saved page -->\n<html><body>x</body></html>").kind == "html"
    fragment = sniff(b"Some notes with a <p>paragraph</p> inside.")
    assert fragment.kind == "text" and fragment.markup
    assert sniff(b"").kind == "empty"
