"""Turn a loader's pages into one cleaned text with paragraphs, pages and section paths.

Policy and treaty texts are organised by Parts, Chapters, Sections and Articles; reports by
numbered or title-case headings (:mod:`ingest.headings` tells which lines are headings). Each
heading found updates a section stack, and every character of the cleaned text knows the page it
came from and the section it sits under.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter

from ingest.cleaning import join_hyphenated, normalize, repair_glyphs, strip_running_lines, vocabulary
from ingest.headings import (
    LIST_ITEM,
    TERMINAL,
    Heading,
    MdHeading,
    generic_heading,
    keyword_heading,
    markdown_heading,
    mend_split_headings,
    pdf_heading_context,
    pdf_title_context,
    short,
)
from ingest.titles import FIRST_HEADINGS, FIRST_PAGES, choose_title
from ingest.types import CleanDocument, RawDocument

# The end of a line broken after a hyphen: searched in the line's last characters only, as
# `(\w+)-$` over a whole long line retries from every letter (quadratic).
_HYPHEN_END = re.compile(r"(\w+)-$")
HYPHEN_WINDOW = 64
EARLY_HEADINGS = 12  # headings kept for the title's choice (ingest.titles)


class _SectionStack:
    """Keyword headings form the outer path, generic headings nest beneath them."""

    def __init__(self, doc_title: str | None) -> None:
        self.items: list[Heading] = []
        self.doc_title = (doc_title or "").strip().lower()

    def push(self, heading: Heading) -> None:
        if heading.keyword:
            self.items = [h for h in self.items if h.keyword and h.rank < heading.rank]
        else:
            self.items = [h for h in self.items if h.keyword or h.rank < heading.rank]
        self.items.append(heading)

    def set_title(self, title: str) -> None:
        top = self.items[-1]
        top.label = f"{top.label} — {title[0].upper()}{title[1:]}"
        top.titled = True

    @property
    def path(self) -> str | None:
        return " > ".join(h.label for h in self.items) or None


class _Builder:
    """Accumulates paragraphs into one text while recording page and section marks."""

    def __init__(self, words: Counter[str]) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.paragraphs: list[tuple[int, int]] = []
        self.page_marks: list[tuple[int, int | None]] = []
        self.section_marks: list[tuple[int, str | None]] = []
        self.current: list[str] = []  # pieces of the open paragraph
        self.current_len = 0
        self.current_start = 0
        self.last_page: object = object()
        self.words = words

    def add_line(self, line: str, page: int | None) -> None:
        if not self.current:
            self.current_start = self.length + (2 if self.paragraphs else 0)
            piece = line
        else:
            prev = self.current[-1]
            m_left = _HYPHEN_END.search(prev, max(0, len(prev) - HYPHEN_WINDOW)) if prev.endswith("-") else None
            m_right = re.match(r"[a-z]\w*", line) if m_left else None  # the rest of a hyphenated word
            if m_left and m_right:
                word = join_hyphenated(m_left.group(1), m_right.group(0), self.words)
                if "-" not in word:  # drop the hyphen: rewrite the previous piece's end
                    self.current[-1] = prev[:-1]
                    self.current_len -= 1
                piece = line
            elif _compound_before_capital(prev, line):
                # "Secretary-" / "General", "non-" / "State": a compound broken after its
                # hyphen before a capital keeps the hyphen and loses the space.
                piece = line
            elif LIST_ITEM.match(line):
                piece = "\n" + line
            else:
                piece = " " + line
        start = self.current_start + self.current_len + (len(piece) - len(piece.lstrip("\n ")))
        if page != self.last_page:
            self.page_marks.append((start, page))
            self.last_page = page
        self.current.append(piece)
        self.current_len += len(piece)

    def mark_section(self, path: str | None, *, retitle: bool = False) -> None:
        """Start ``path`` at the next paragraph; ``retitle`` renames the section just begun."""
        offset = self.current_start + self.current_len if self.current else self.length + (2 if self.paragraphs else 0)
        if retitle and self.section_marks:
            self.section_marks[-1] = (self.section_marks[-1][0], path)
        elif self.section_marks and self.section_marks[-1][0] == offset:
            self.section_marks[-1] = (offset, path)
        else:
            self.section_marks.append((offset, path))

    def end_paragraph(self) -> None:
        if not self.current:
            return
        text = "".join(self.current)
        if self.paragraphs:
            self.parts.append("\n\n")
            self.length += 2
        self.parts.append(text)
        self.paragraphs.append((self.length, self.length + len(text)))
        self.length += len(text)
        self.current, self.current_len = [], 0

    def text(self) -> str:
        return "".join(self.parts)


def _compound_before_capital(prev: str, line: str) -> bool:
    """``prev`` ends in a word of two letters or more and its hyphen, ``line`` starts with a
    capitalised word: "Secretary-" / "General". Plain string tests, no regex over the line."""
    return (
        len(prev) >= 3
        and prev.endswith("-")
        and prev[-3:-1].isalpha()
        and len(line) >= 2
        and line[0].isupper()
        and line[1].islower()
    )


def build(raw: RawDocument) -> CleanDocument:
    """Clean ``raw`` and find its structure."""
    pages = [normalize(page.text).split("\n") for page in raw.pages]
    if raw.kind == "pdf":
        pages = mend_split_headings(
            repair_glyphs(strip_running_lines([[line for line in lines if line] for lines in pages]))
        )
    scan = _Scan(raw, pages)
    for i, (page, line) in enumerate(scan.lines):
        scan.read(i, page, line)
    builder = scan.builder
    builder.end_paragraph()

    text = builder.text()
    title = choose_title(raw.title, scan.early_headings(), text, raw.source)
    return CleanDocument(
        text=text,
        paragraphs=builder.paragraphs,
        page_marks=builder.page_marks or [(0, None)],
        section_marks=builder.section_marks,
        title=title,
    )


class _Scan:
    """One pass over a document's cleaned lines: each line is a heading, an article's title,
    or text, and goes into the builder under the section path found so far."""

    def __init__(self, raw: RawDocument, pages: list[list[str]]) -> None:
        self.builder = _Builder(vocabulary("\n".join("\n".join(lines) for lines in pages)))
        self.stack = _SectionStack(raw.title)
        self.headings: list[tuple[str, bool, int | None]] = []  # the first few: label, structural, page
        self.paged = raw.kind == "pdf"
        self.markdown = raw.markdown
        self.lines = [(page.number, line) for page, lines in zip(raw.pages, pages) for line in lines]
        lengths = [len(line) for _, line in self.lines if len(line) > 20]
        self.typical: float = statistics.median(lengths) if lengths else 80
        self.awaiting_title = False  # after a keyword heading without a title ("Article 7")

    def early_headings(self) -> list[tuple[str, bool]]:
        """The headings a title may be among: on a paged document's first pages with text,
        else the first few."""
        if not self.paged:
            return [(label, structural) for label, structural, _ in self.headings[:FIRST_HEADINGS]]
        with_text: list[int | None] = []
        for page, _ in self.lines:
            if page not in with_text:
                with_text.append(page)
                if len(with_text) == FIRST_PAGES:
                    break
        return [(label, structural) for label, structural, page in self.headings if page in with_text]

    def is_alone(self, i: int) -> bool:
        before = i == 0 or not self.lines[i - 1][1]
        after = i + 1 >= len(self.lines) or not self.lines[i + 1][1]
        return before and after

    def read(self, i: int, page: int | None, line: str) -> None:
        builder = self.builder
        if not line:
            builder.end_paragraph()
            return
        heading, md = self._heading(i, line)
        if self.awaiting_title and (heading is None or not heading.keyword):
            self.awaiting_title = False
            if self._title(i, page, line, heading, md):
                return
        self.awaiting_title = False
        if heading is not None and heading.label.strip().lower() == self.stack.doc_title:
            heading = None  # the document's own title is not a section
            if md:
                builder.end_paragraph()
                builder.add_line(md.text, page)
                builder.end_paragraph()
                return
        if heading is not None:
            self._open_section(heading, page, line, md)
            return
        prev = self.lines[i - 1][1] if i else ""
        paged = self.paged
        if builder.current and (
            (LIST_ITEM.match(line) and paged) or (paged and prev.endswith(TERMINAL) and len(prev) < 0.8 * self.typical)
        ):
            builder.end_paragraph()
        builder.add_line(line, page)

    def _heading(self, i: int, line: str) -> tuple[Heading | None, MdHeading | None]:
        """The heading ``line`` is, if any, and its Markdown match when it is a ``#`` line."""
        md = markdown_heading(line) if self.markdown else None
        if md:
            text = md.text.strip("*_ ").strip()
            heading: Heading | None = keyword_heading(text) or Heading(label=text, rank=md.level + 4, keyword=False)
            if heading is not None and not heading.keyword and not text:
                heading = None
            return heading, md
        heading = keyword_heading(line)
        if heading is None and (
            self.is_alone(i) if not self.paged else pdf_heading_context(self.lines, i, self.typical)
        ):
            heading = generic_heading(line)
        return heading, None

    def _title(self, i: int, page: int | None, line: str, heading: Heading | None, md: MdHeading | None) -> bool:
        """Take ``line`` as the title of the article just opened, if it is one."""
        candidate = (heading.label if heading else line).strip()
        # A title stands apart: a heading of its own, a one-line paragraph, or in a PDF a
        # short line followed by the start of a sentence. Otherwise it is the article's
        # first line of text ("Each Member State shall ensure that the competent ...").
        apart = heading is not None or (
            pdf_title_context(self.lines, i, self.typical) if self.paged else self.is_alone(i)
        )
        if (
            apart
            and short(candidate, 12, 110)
            and not candidate.endswith((".", ",", ";"))
            and not LIST_ITEM.match(candidate)
        ):
            self.stack.set_title(candidate)
            self.builder.mark_section(self.stack.path, retitle=True)
            self.builder.add_line(line if not md else candidate, page)
            self.builder.end_paragraph()
            return True
        return False

    def _open_section(self, heading: Heading, page: int | None, line: str, md: MdHeading | None) -> None:
        builder = self.builder
        builder.end_paragraph()
        self.stack.push(heading)
        if len(self.headings) < EARLY_HEADINGS:
            numbered = 10 < heading.rank < 20  # ingest.headings ranks numbered headings 11–14
            self.headings.append((heading.label, heading.keyword or numbered, page))
        builder.mark_section(self.stack.path)
        builder.add_line(heading.label if md else line, page)
        builder.end_paragraph()
        self.awaiting_title = heading.keyword and not heading.titled
