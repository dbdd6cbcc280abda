"""Real test documents, generated at test time: PDFs written with fpdf2 (known text on known
pages), a small treaty in the style of the 1951 Refugee Convention, and folders of short
Markdown handbooks for the index tests."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

LINE_HEIGHT = 6  # mm
TOP = 25  # first body line, below the running header
UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

PageLines = Sequence[str]


def wrap(paragraph: str, width: int = 88) -> list[str]:
    """Lines of a paragraph as a word processor would set them."""
    return textwrap.wrap(paragraph, width=width)


def write_pdf(
    path: Path,
    pages: Sequence[PageLines],
    *,
    header: str | None = None,
    footer: str | None = None,
    page_numbers: bool = False,
    title: str | None = None,
    owner_password: str | None = None,
    user_password: str | None = None,
    font: Path | None = None,
) -> Path:
    """A real PDF whose page ``n`` (1-based) shows ``pages[n - 1]``, one string per line.

    ``header``/``footer`` are printed on every page (running lines); ``page_numbers`` adds
    a bare page number at the bottom of every page.
    """
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    if owner_password is not None or user_password is not None:
        pdf.set_encryption(owner_password=owner_password or "owner", user_password=user_password)
    family = "helvetica"
    if font is not None:
        pdf.add_font("body", fname=str(font))
        family = "body"
    for number, lines in enumerate(pages, 1):
        pdf.add_page()
        pdf.set_font(family, size=10)
        if header:
            pdf.set_xy(20, 10)
            pdf.cell(0, LINE_HEIGHT, header)
        for i, line in enumerate(lines):
            pdf.set_xy(20, TOP + i * LINE_HEIGHT)
            pdf.cell(0, LINE_HEIGHT, line)
        if footer:
            pdf.set_xy(20, 278)
            pdf.cell(0, LINE_HEIGHT, footer)
        if page_numbers:
            pdf.set_xy(100, 285)
            pdf.cell(0, LINE_HEIGHT, str(number))
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_image_pdf(path: Path) -> Path:
    """A scan-like PDF: one page holding an image and no text at all."""
    from PIL import Image

    pdf = FPDF(format="A4")
    pdf.add_page()
    picture = Image.new("RGB", (300, 400), (235, 235, 220))
    for x in range(40, 260):
        for y in range(60, 64):
            picture.putpixel((x, y), (20, 20, 20))
    pdf.image(picture, x=20, y=20, w=120)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def scan_image(lines: Sequence[str], dpi: int = 200):
    """An A4 page at ``dpi`` with ``lines`` set in 12 pt DejaVu Sans, as a scanner gives it:
    pixels only (a Pillow image), no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    page = Image.new("L", (width, height), 250)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(UNICODE_FONT), size=round(12 * dpi / 72))
    x, y = round(25 / 25.4 * dpi), round(30 / 25.4 * dpi)
    for line in lines:
        draw.text((x, y), line, fill=20, font=font)
        y += round(12 * 1.6 * dpi / 72)
    return page


def write_scanned_pdf(path: Path, text_pages: Sequence[PageLines], scanned: dict[int, PageLines]) -> Path:
    """A PDF of ``len(text_pages) + len(scanned)`` pages: page ``n`` in ``scanned`` (1-based) is
    only an image of its lines (a scan), every other page takes the next of ``text_pages`` as text."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    texts = iter(text_pages)
    for number in range(1, len(text_pages) + len(scanned) + 1):
        pdf.add_page()
        if number in scanned:
            pdf.image(scan_image(scanned[number]), x=0, y=0, w=210, h=297)
            continue
        pdf.set_font("helvetica", size=10)
        for i, line in enumerate(next(texts)):
            pdf.set_xy(20, TOP + i * LINE_HEIGHT)
            pdf.cell(0, LINE_HEIGHT, line)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


# ---------------------------------------------------------------------------------------
# A generated treaty, in the style of the 1951 Refugee Convention.

TREATY_TITLE = "Convention on the Status of Displaced Persons"
TREATY_HEADER = "Convention on the Status of Displaced Persons - Official Text"

# (chapter, chapter title, article number, article title, unique marker word, body)
TREATY_ARTICLES = [
    (
        "IV",
        "Welfare",
        23,
        "Public relief",
        "lighthouse",
        "The Contracting States shall accord to displaced persons lawfully staying in their territory "
        "the same treatment with respect to public relief and assistance as is accorded to their nationals. "
        "The lighthouse clause of this Article applies to housing, food rationing and medical care alike. "
        "Relief shall not be made conditional on the length of residence in the territory concerned.",
    ),
    (
        "IV",
        "Welfare",
        24,
        "Labour legislation and social security",
        "orchard",
        "The Contracting States shall accord to displaced persons lawfully staying in their territory the "
        "same treatment as is accorded to nationals in respect of remuneration, hours of work and holidays. "
        "The orchard provisions cover seasonal workers, apprentices and persons employed at home. "
        "Social security shall include benefits for employment injury, maternity, sickness and old age.",
    ),
    (
        "V",
        "Administrative measures",
        32,
        "Expulsion",
        "glacier",
        "The Contracting States shall not expel a displaced person lawfully in their territory save on "
        "grounds of national security or public order. The glacier procedure requires a decision reached "
        "in accordance with due process of law. The person shall be allowed to submit evidence to clear "
        "himself and to be represented before a competent authority designated for the purpose.",
    ),
    (
        "V",
        "Administrative measures",
        33,
        "Prohibition of expulsion or return",
        "meadow",
        "No Contracting State shall expel or return a displaced person in any manner whatsoever to the "
        "frontiers of territories where his life or freedom would be threatened on account of his race, "
        "religion, nationality, membership of a particular social group or political opinion. The meadow "
        "rule admits one exception only. The benefit of the present provision may not be claimed by a "
        "person whom there are reasonable grounds for regarding as a danger to the security of the "
        "country in which he is, or who constitutes a danger to the community of that country.",
    ),
    (
        "V",
        "Administrative measures",
        34,
        "Naturalization",
        "harbour",
        "The Contracting States shall as far as possible facilitate the assimilation and naturalization "
        "of displaced persons. The harbour commitment means they shall in particular make every effort to "
        "expedite naturalization proceedings and to reduce as far as possible the charges and costs.",
    ),
]


def treaty_lines() -> list[str]:
    """The treaty as a PDF would set it: chapter and article headings on lines of their own."""
    lines: list[str] = []
    chapter = None
    for chap, chap_title, number, title, _marker, body in TREATY_ARTICLES:
        if chap != chapter:
            lines += [f"Chapter {chap}", chap_title]
            chapter = chap
        lines += [f"Article {number}", title]
        lines += wrap(body)
    return lines


def paginate(lines: list[str], per_page: int) -> list[list[str]]:
    return [lines[i : i + per_page] for i in range(0, len(lines), per_page)]


def write_text(path: Path, text: str) -> Path:
    """A UTF-8 text file at ``path``, its folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def corpus_of(root: Path, files: int = 3, rules: int = 2, prefix: str = "volume") -> Path:
    """``files`` Markdown handbooks ``<prefix>-000.md``… under ``root``, ``rules`` short
    sections each, every one with distinct words."""
    topics = ["housing", "education", "employment", "courts", "property", "religion", "movement", "identity"]
    for f in range(files):
        parts = [f"# Handbook Volume {f}\n"]
        for k in range(rules):
            parts.append(
                f"## Rule {k + 1}\n\nOfficers apply rule {k + 1} of volume {f} on "
                f"{topics[(f + k) % len(topics)]} to every claim they register at the border.\n"
            )
        write_text(root / f"{prefix}-{f:03d}.md", "\n".join(parts))
    return root
