"""OCR of PDF pages without usable text: a scanned page is read by Tesseract with its own page
number and marked; where OCR cannot run, the page is reported with the fix, never dropped."""

from __future__ import annotations

from pathlib import Path

import pytest
from docgen import write_scanned_pdf

from ingest.loaders import load
from ingest.loaders.ocr import OcrOptions, flag_ocr, unavailable
from ingest.loaders.pdf import load_pdf
from ingest.types import Passage

SHARED_CRC = Path(__file__).resolve().parents[3] / "shared/corpus/treaties/crc_convention_rights_of_the_child.pdf"
TEXT_PAGE = [
    "Article 1 - Scope",
    "This charter governs the wetlands of the northern coast and the people who tend them.",
]
SCANNED_PAGE = [
    "Article 2 - Heron wardens",
    "The wardens of the Marrowdale estuary shall register",
    "every heron nest before the first autumn frost.",
]
needs_tesseract = pytest.mark.skipif(
    unavailable("eng") is not None, reason=f"OCR unavailable here: {unavailable('eng')}"
)


@pytest.fixture(scope="module")
def scanned_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scanned_pdf(tmp_path_factory.mktemp("scan") / "charter.pdf", [TEXT_PAGE], {2: SCANNED_PAGE})


@needs_tesseract
def test_a_scanned_page_is_read_by_ocr_under_its_own_page_number(scanned_pdf: Path) -> None:
    raw = load(scanned_pdf, "charter.pdf")
    first, second = raw.pages
    assert (first.number, first.ocr) == (1, False) and "wetlands of the northern coast" in first.text
    assert (second.number, second.ocr) == (2, True)
    words = " ".join(second.text.split())
    assert "wardens of the Marrowdale estuary shall register" in words
    assert "every heron nest before the first autumn frost" in words
    assert any("read by OCR" in w and "2" in w for w in raw.warnings), raw.warnings


def test_without_tesseract_the_scanned_page_is_reported_with_the_fix(scanned_pdf: Path) -> None:
    raw = load_pdf(scanned_pdf, "charter.pdf", OcrOptions(languages="xxx"))  # a language never installed
    assert raw.pages[1].text == "" and raw.pages[1].number == 2  # the page keeps its place
    assert "wetlands" in raw.pages[0].text
    (warning,) = raw.warnings
    assert "no text read on pages 2" in warning
    assert "tesseract-ocr-xxx" in warning or "install Tesseract" in warning


def test_with_ocr_disabled_the_page_is_reported(scanned_pdf: Path) -> None:
    raw = load_pdf(scanned_pdf, "charter.pdf", OcrOptions(enabled=False))
    assert any("pages 2" in w and "CLAUSEWISE_OCR" in w for w in raw.warnings), raw.warnings


@needs_tesseract
def test_a_page_past_the_ocr_time_limit_is_reported_not_read(scanned_pdf: Path) -> None:
    raw = load_pdf(scanned_pdf, "charter.pdf", OcrOptions(page_timeout_s=0.01))
    assert raw.pages[1].text == ""
    assert any("OCR stopped after 0.01 s" in w and "CLAUSEWISE_OCR_PAGE_TIMEOUT_S" in w for w in raw.warnings)


def test_passages_over_an_ocr_page_are_flagged(scanned_pdf: Path) -> None:
    raw = load_pdf(scanned_pdf, "charter.pdf", OcrOptions(enabled=False))
    raw.pages[1] = type(raw.pages[1])(2, "read by OCR", ocr=True)

    def passage(first: int, last: int) -> Passage:
        return Passage(f"p{first}", "d", 0, "x", 0, 1, first, last, None, "h")

    passages = [passage(1, 1), passage(1, 2), passage(2, 2)]
    flag_ocr(passages, raw)
    assert [p.ocr for p in passages] == [False, True, True]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_CRC.is_file(), reason=f"needs the shared corpus ({SHARED_CRC})")
def test_the_crc_whose_fonts_garble_in_pypdf_reads_as_words() -> None:
    raw = load(SHARED_CRC, "crc.pdf")
    text = " ".join(" ".join(page.text for page in raw.pages).split())
    assert "shall be dealt with by States Parties in a positive, humane and expeditious manner" in text
    assert "R;k;9F" not in text
    assert [page.number for page in raw.pages] == list(range(1, 15))
