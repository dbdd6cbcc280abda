"""Turn a loader's pages into one cleaned text with paragraphs, pages and section paths.

Policy and treaty texts are organised by Parts, Chapters, Sections and Articles; reports by
numbered or title-case headings. Each heading found updates a section stack, and every
character of the cleaned text knows the page it came from and the section it sits under.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import PurePosixPath

from ingest.cleaning import join_hyphenated, normalize, repair_glyphs, strip_running_lines, vocabulary
from ingest.types import CleanDocument, RawDocument

# Structural keywords and their rank: smaller ranks contain larger ones.
_KEYWORD_RANK = {"part": 1, "annex": 1, "schedule": 1, "appendix": 1, "chapter": 2, "section": 3, "article": 4}
_KEYWORD = re.compile(
    r"^(?P<kw>part|annex|schedule|appendix|chapter|section|article|art\.)"
    # Roman numerals may come letter-spaced from small-caps PDFs ("chapter i i:" for II).
    r"(?:\s+(?P<num>\d{1,3}[a-z]?(?:\s?(?:bis|ter))?|[ivxlc](?: ?[ivxlc]){0,6}(?=\s*(?::|\.?$))|[ivxlc]{1,7}|[a-z]|one|two|three|four|five|six|seven|eight|nine|ten)\b\.?)?"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_UNNUMBERED = {"annex", "schedule", "appendix"}
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s*(\S.*?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}|[IVXL]{1,5})\.?\s+(?P<rest>\S.*)$")
_LIST_ITEM = re.compile(r"^(?:\(?[a-z0-9]{1,3}[.)]\s|\([a-z0-9]{1,4}\)\s|[•▪●◦\-–*]\s)", re.IGNORECASE)
_TERMINAL = tuple('.:;!?"”)')
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or",
                "the", "to", "with", "its", "their", "under", "between", "within", "without"}


@dataclass
class Heading:
    label: str
    rank: int
    keyword: bool  # Part/Chapter/Section/Article/Annex, as opposed to a generic heading
    titled: bool = True


def _title_case(text: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w'’-]*", text)]
    if not words or not text[0].isupper():
        return False
    big = [w for w in words if w.lower() not in _SMALL_WORDS]
    return bool(big) and sum(w[0].isupper() for w in big) / len(big) >= 0.75


def _short(text: str, words: int = 12, chars: int = 100) -> bool:
    return len(text) <= chars and len(text.split()) <= words


_TOC_ENTRY = re.compile(r"(?:\.{4,}|…{2,}|\ufffd{3,})\s*\d*$")


def _keyword_heading(line: str) -> Heading | None:
    if _TOC_ENTRY.search(line):
        return None
    match = _KEYWORD.match(line)
    if not match:
        return None
    kw = match.group("kw").lower().rstrip(".")
    kw = "article" if kw == "art" else kw
    if not match.group("num"):
        # "ANNEX", "Schedule" alone on a line head a part of their own.
        if kw in _UNNUMBERED and not match.group("rest").strip(" :.") and match.group("kw")[0].isupper():
            return Heading(label=kw.capitalize(), rank=_KEYWORD_RANK[kw], keyword=True)
        return None
    # "article 41." at the start of a wrapped line is a cross-reference; headings are
    # capitalised, except small caps with a roman number and a colon ("chapter i i: Title").
    spaced = " " in match.group("num").strip()
    roman = re.fullmatch(r"[ivxlc ]+", match.group("num").strip(), re.IGNORECASE) is not None
    if match.group("kw")[0].islower() and not (roman and match.group("rest").lstrip().startswith(":")):
        return None
    num = "".join(match.group("num").split()) if spaced else " ".join(match.group("num").split())
    if re.fullmatch(r"[ivxlc]+", num, re.IGNORECASE) or len(num) == 1 and num.isalpha():
        num = num.upper()
    rest = match.group("rest").strip().lstrip(".:-–—").strip()
    if rest:
        # "Article 33 shall not apply ..." is a sentence, not a heading.
        if (
            not _short(rest, 12, 120)
            or not rest[0].isalpha()
            or rest[0].islower()
            or rest.endswith((",", ";", "-"))
            or re.search(r"[.;] ", rest)
        ):
            return None
    label = f"{kw.capitalize()} {num}"
    if rest:
        label += f" — {rest[0].upper()}{rest[1:]}"
    return Heading(label=label, rank=_KEYWORD_RANK[kw], keyword=True, titled=bool(rest))


def _generic_heading(line: str) -> Heading | None:
    """Numbered, title-case or all-caps short lines."""
    if _TOC_ENTRY.search(line):
        return None
    if not _short(line) or line.endswith((".", ",", ";", ":")) and not re.fullmatch(r"[\d.]+", line):
        return None
    numbered = _NUMBERED.match(line)
    if numbered:
        rest = numbered.group("rest")
        if _short(rest, 10, 80) and rest[0].isupper() and not rest.endswith(_TERMINAL):
            depth = numbered.group("num").count(".") + 1
            return Heading(label=line, rank=10 + depth, keyword=False)
        return None
    letters = [c for c in line if c.isalpha()]
    if len(letters) < 3 or not _short(line, 10, 90):
        return None
    if line.isupper() or _title_case(line):
        return Heading(label=line if not line.isupper() else line.title(), rank=20, keyword=False)
    return None


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

    def __init__(self, words) -> None:
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
            m_left = re.search(r"(\w+)-$", prev)
            if m_left and re.match(r"[a-z]", line):
                m_right = re.match(r"\w+", line)
                word = join_hyphenated(m_left.group(1), m_right.group(0), self.words)
                if "-" not in word:  # drop the hyphen: rewrite the previous piece's end
                    self.current[-1] = prev[:-1]
                    self.current_len -= 1
                piece = line
            elif _LIST_ITEM.match(line):
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


def _fallback_title(source: str) -> str:
    stem = PurePosixPath(source).stem
    return " ".join(re.split(r"[_\-\s]+", stem)).strip() or source


def _pdf_heading_context(lines: list[tuple[int | None, str]], i: int, typical: float) -> bool:
    """PDF text has no blank lines: a generic heading must look set apart from body text.

    It follows the end of a sentence (or starts a page), is clearly shorter than body lines,
    has at least two words, and the next line starts like a sentence.
    """
    page, line = lines[i]
    prev_page, prev = lines[i - 1] if i else (None, "")
    nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
    starts_page = i == 0 or prev_page != page
    return (
        (starts_page or prev.endswith(_TERMINAL))
        and len(line) < 0.7 * typical
        and len(line.split()) >= 2
        and bool(nxt[:1]) and (nxt[0].isupper() or nxt[0].isdigit())
    )


_BROKEN_KEYWORD = re.compile(r"(?:^|(?<=[.;:]) )(?P<kw>Article|ARTICLE|Chapter|CHAPTER|Part|PART|Section|SECTION)$")
_BARE_NUMBER = re.compile(r"^(?:\d{1,3}[a-z]?|[IVXLC]{1,7})$")


def _mend_split_headings(pages: list[list[str]]) -> list[list[str]]:
    """PDF text sometimes breaks a heading after its keyword and runs it into the previous
    sentence ("… contractual obligation. Article" / "12"): put "Article 12" on its own line."""
    mended = []
    for lines in pages:
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            match = _BROKEN_KEYWORD.search(line)
            if match and i + 1 < len(lines) and _BARE_NUMBER.match(lines[i + 1]):
                before = line[: match.start()].rstrip()
                out += ([before] if before else []) + [f"{match.group('kw')} {lines[i + 1]}"]
                i += 2
                continue
            out.append(line)
            i += 1
        mended.append(out)
    return mended


def _pdf_title_context(lines: list[tuple[int | None, str]], i: int, typical: float) -> bool:
    """A PDF line right after "Article 7" is its title when it is clearly shorter than body
    lines and the next line starts a sentence, a numbered paragraph or a heading."""
    line = lines[i][1]
    nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
    return len(line) < 0.7 * typical and (not nxt or nxt[0].isupper() or nxt[0].isdigit() or nxt[0] in "(•")


def build(raw: RawDocument) -> CleanDocument:
    """Clean ``raw`` and find its structure."""
    pages = [normalize(page.text).split("\n") for page in raw.pages]
    if raw.kind == "pdf":
        pages = _mend_split_headings(repair_glyphs(strip_running_lines([[line for line in lines if line] for lines in pages])))
    words = vocabulary("\n".join("\n".join(lines) for lines in pages))
    builder = _Builder(words)
    stack = _SectionStack(raw.title)
    first_heading: str | None = None
    paged = raw.kind == "pdf"

    all_lines = [(page.number, line) for page, lines in zip(raw.pages, pages) for line in lines]
    lengths = [len(line) for _, line in all_lines if len(line) > 20]
    typical = statistics.median(lengths) if lengths else 80
    awaiting_title = False

    def is_alone(i: int) -> bool:
        before = i == 0 or not all_lines[i - 1][1]
        after = i + 1 >= len(all_lines) or not all_lines[i + 1][1]
        return before and after

    for i, (page, line) in enumerate(all_lines):
        if not line:
            builder.end_paragraph()
            continue
        heading: Heading | None = None
        md = _MD_HEADING.match(line) if raw.markdown else None
        if md:
            text = md.group(2).strip("*_ ").strip()
            heading = _keyword_heading(text) or Heading(label=text, rank=len(md.group(1)) + 4, keyword=False)
            if not heading.keyword and not text:
                heading = None
        else:
            heading = _keyword_heading(line)
            if heading is None and (is_alone(i) if not paged else _pdf_heading_context(all_lines, i, typical)):
                heading = _generic_heading(line)
        if awaiting_title and (heading is None or not heading.keyword):
            awaiting_title = False
            candidate = (heading.label if heading else line).strip()
            # A title stands apart: a heading of its own, a one-line paragraph, or in a PDF a
            # short line followed by the start of a sentence. Otherwise it is the article's
            # first line of text ("Each Member State shall ensure that the competent ...").
            apart = heading is not None or (_pdf_title_context(all_lines, i, typical) if paged else is_alone(i))
            if apart and _short(candidate, 12, 110) and not candidate.endswith((".", ",", ";")) and not _LIST_ITEM.match(candidate):
                stack.set_title(candidate)
                builder.mark_section(stack.path, retitle=True)
                builder.add_line(line if not md else candidate, page)
                builder.end_paragraph()
                continue
        awaiting_title = False
        if heading is not None and heading.label.strip().lower() == stack.doc_title:
            heading = None  # the document's own title is not a section
            if md:
                builder.end_paragraph()
                builder.add_line(md.group(2).strip(), page)
                builder.end_paragraph()
                continue
        if heading is not None:
            builder.end_paragraph()
            stack.push(heading)
            first_heading = first_heading or heading.label
            builder.mark_section(stack.path)
            builder.add_line(heading.label if md else line, page)
            builder.end_paragraph()
            awaiting_title = heading.keyword and not heading.titled
            continue
        prev = all_lines[i - 1][1] if i else ""
        if builder.current and (
            _LIST_ITEM.match(line) and paged
            or paged and prev.endswith(_TERMINAL) and len(prev) < 0.8 * typical
        ):
            builder.end_paragraph()
        builder.add_line(line, page)
    builder.end_paragraph()

    title = raw.title or first_heading or _fallback_title(raw.source)
    return CleanDocument(
        text=builder.text(),
        paragraphs=builder.paragraphs,
        page_marks=builder.page_marks or [(0, None)],
        section_marks=builder.section_marks,
        title=title,
    )
