"""Text for the PDF pages pypdf cannot read: pdfium's own text layer first, Tesseract OCR last.

A page reaches here when pypdf finds no text on it, or only garbled text (fonts without a
Unicode map). Two remedies, cheapest first:

1. **pdfium's text layer** (pypdfium2): pdfium decodes many fonts pypdf cannot (the CRC in
   the shared treaties, "R;k;9F" in pypdf, reads "States" in pdfium) — exact text in
   milliseconds, so no OCR is spent on a page that has a readable text layer after all.
2. **OCR**: the page rendered by pdfium at ``dpi`` and read by Tesseract through pytesseract,
   limited to ``page_timeout_s`` per page. Its text is marked ``ocr`` (the citation says so).

A page that neither remedy reads (no Tesseract here, a timeout, nothing found) is reported
with the reason and the fix; nothing is dropped without a word. Page numbers stay the PDF's own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.settings import Settings, get_settings
from ingest.types import PageText, Passage, RawDocument
from ingest.workers import budget

if TYPE_CHECKING:
    from PIL import Image

INSTALL_HINT = "install Tesseract (Debian/Ubuntu: `apt-get install tesseract-ocr`) and `pip install pytesseract`"


@dataclass(frozen=True)
class OcrOptions:
    """How pages are read by OCR: Tesseract languages (``eng+fra``), resolution, limit per page."""

    enabled: bool = True
    languages: str = "eng"
    dpi: int = 300
    page_timeout_s: float = 120.0

    @classmethod
    def of(cls, settings: Settings | None = None) -> OcrOptions:
        settings = settings or get_settings()
        return cls(settings.ocr, settings.ocr_languages, settings.ocr_dpi, settings.ocr_page_timeout_s)


@lru_cache(maxsize=8)
def unavailable(languages: str) -> str | None:
    """Why OCR in ``languages`` cannot run on this machine, with the fix; ``None`` when it can."""
    try:
        import pytesseract
    except ImportError:
        return f"pytesseract is not installed: {INSTALL_HINT}"
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return f"Tesseract is not installed: {INSTALL_HINT}"
    try:
        installed = set(pytesseract.get_languages(config=""))
    except (OSError, RuntimeError, pytesseract.TesseractError) as exc:
        return f"Tesseract does not run ({exc}): {INSTALL_HINT}"
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        packs = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        return f"no Tesseract language data for {'+'.join(missing)}: `apt-get install {packs}`"
    return None


def render(page: pdfium.PdfPage, dpi: int) -> Image.Image:
    """The page as a greyscale image at ``dpi`` (what Tesseract reads best: 300 for body text)."""
    return page.render(scale=dpi / 72, grayscale=True).to_pil()


def read_image(image: Image.Image, options: OcrOptions) -> str:
    """Tesseract's text of ``image``; a ``RuntimeError`` past ``page_timeout_s``."""
    import pytesseract

    # One OpenMP thread: Tesseract's own threads spin against the other parse worker on a
    # small machine (8.7 s a page with them, 3.1 s without, measured by bench/ocr.py), and the
    # pool already runs one worker a core. An operator's own setting is kept.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    # --psm 3: automatic page segmentation (columns, headings), Tesseract's default for pages.
    text: str = pytesseract.image_to_string(
        image, lang=options.languages, config="--psm 3", timeout=options.page_timeout_s
    )
    return text


def text_layer(page: pdfium.PdfPage) -> str:
    """pdfium's text of the page, with line breaks as ``\\n``."""
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_range()
    finally:
        textpage.close()
    return text.replace("\r\n", "\n").replace("\r", "\n")


def has_images(page: pdfium.PdfPage) -> bool:
    """Whether anything on the page could hold text to OCR (a scan is an image)."""
    return next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4)), None) is not None


@dataclass
class Rescue:
    """The pages after :func:`rescue`: those read replaced; what is still unread, and why."""

    pages: list[PageText]
    from_text_layer: list[int] = field(default_factory=list)
    from_ocr: list[int] = field(default_factory=list)
    unread: dict[int, str] = field(default_factory=dict)  # page → reason, with the fix


def rescue(
    path: Path, pages: list[PageText], wanted: Sequence[int], options: OcrOptions, usable: Callable[[str], bool]
) -> Rescue:
    """Read the pages numbered ``wanted`` another way; ``usable`` tells readable text.

    Pages still unread keep what pypdf gave (the caller blanks the garbled ones). The time
    spent here counts against the file's own limit (the parse worker's), each OCR against
    ``options.page_timeout_s``.
    """
    result = Rescue(pages=list(pages))
    if not wanted:
        return result
    reason = None if options.enabled else "OCR is disabled (CLAUSEWISE_OCR=false)"
    reason = reason or unavailable(options.languages)
    pdf = pdfium.PdfDocument(path)
    try:
        for number in wanted:
            page = pdf[number - 1]
            try:
                _rescue_page(page, number, options, usable, reason, result)
            finally:
                page.close()
    finally:
        pdf.close()
    return result


def _rescue_page(
    page: pdfium.PdfPage,
    number: int,
    options: OcrOptions,
    usable: Callable[[str], bool],
    reason: str | None,
    result: Rescue,
) -> None:
    layer = text_layer(page)
    if layer.strip() and usable(layer):
        result.pages[number - 1] = PageText(number, layer)
        result.from_text_layer.append(number)
        return
    if not layer.strip() and not has_images(page):
        return  # a blank page: nothing to read
    if reason is not None:
        result.unread[number] = reason
        return
    budget.allow(options.page_timeout_s)  # the parse worker's limit grows by this page's own
    try:
        text = read_image(render(page, options.dpi), options)
    except RuntimeError as exc:  # pytesseract's timeout, or Tesseract failing on the image
        result.unread[number] = (
            f"OCR stopped after {options.page_timeout_s:g} s ({exc}); raise CLAUSEWISE_OCR_PAGE_TIMEOUT_S"
        )
        return
    if not text.strip():
        result.unread[number] = "OCR found no text"
        return
    result.pages[number - 1] = PageText(number, text, ocr=True)
    result.from_ocr.append(number)


def flag_ocr(passages: list[Passage], raw: RawDocument) -> None:
    """Mark the passages that include text read by OCR (stored, and said in their citation)."""
    ocr_pages = {page.number for page in raw.pages if page.ocr and page.number is not None}
    if not ocr_pages:
        return
    for passage in passages:
        if passage.page_start is None:
            continue
        last = passage.page_end or passage.page_start
        if any(n in ocr_pages for n in range(passage.page_start, last + 1)):
            passage.ocr = True
