"""Which lines are headings, in the policy and treaty texts clausewise reads.

Structural keywords (``Part II``, ``Chapter V``, ``Section 4``, ``Article 33``, ``Art. 3``,
``Annex``) and their rank; numbered (``2.3 Scope``), title-case or capitalised short lines as
generic headings; and, for PDF text that has no blank lines, the context that sets a heading
or an article's title apart from body text. :mod:`ingest.structure` builds the section paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

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
_NUMBERED = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}|[IVXL]{1,5})\.?\s+(?P<rest>\S.*)$")
LIST_ITEM = re.compile(r"^(?:\(?[a-z0-9]{1,3}[.)]\s|\([a-z0-9]{1,4}\)\s|[•▪●◦\-–*]\s)", re.IGNORECASE)
TERMINAL = tuple('.:;!?"”)')
_SMALL_WORDS = {
    "a",
    "an",
    "and",
    "as",
    "at",
    "by",
    "for",
    "from",
    "in",
    "into",
    "of",
    "on",
    "or",
    "the",
    "to",
    "with",
    "its",
    "their",
    "under",
    "between",
    "within",
    "without",
}


@dataclass
class Heading:
    """A heading as it enters the section path: ``label`` ("Article 33 — Prohibition of
    expulsion"), ``rank`` (smaller contains larger), ``titled`` once its title is known."""

    label: str
    rank: int
    keyword: bool  # Part/Chapter/Section/Article/Annex, as opposed to a generic heading
    titled: bool = True


def _title_case(text: str) -> bool:
    words = list(re.findall(r"[A-Za-z][\w'’-]*", text))
    if not words or not text[0].isupper():
        return False
    big = [w for w in words if w.lower() not in _SMALL_WORDS]
    return bool(big) and sum(w[0].isupper() for w in big) / len(big) >= 0.75


def short(text: str, words: int = 12, chars: int = 100) -> bool:
    """At most ``words`` words and ``chars`` characters: short enough for a heading or a title."""
    return len(text) <= chars and len(text.split()) <= words


_TOC_LEADERS = ("....", "……", "\ufffd\ufffd\ufffd")


def toc_entry(line: str) -> bool:
    """A table-of-contents line: dot leaders, then perhaps a page number, at its end. String
    operations rather than a pattern like ``\\.{4,}\\s*\\d*$``, which a search retries from
    every dot of a long run: quadratic in the line."""
    return line.rstrip().rstrip("0123456789").rstrip().endswith(_TOC_LEADERS)


class MdHeading(NamedTuple):
    """A Markdown ATX heading: its level (the number of ``#``) and its text."""

    level: int
    text: str


def markdown_heading(line: str) -> MdHeading | None:
    """``line`` as a Markdown heading (``## Scope ##``: up to three spaces, one to six
    ``#``), or ``None``. Linear in the line, however many ``#`` or spaces it holds."""
    stripped = line.lstrip()
    if len(line) - len(stripped) > 3 or not stripped.startswith("#"):
        return None
    level = len(stripped) - len(stripped.lstrip("#"))
    if level > 6:
        return None  # seven or more: text, as in CommonMark
    text = heading_text(stripped[level:])
    return MdHeading(level, text) if text else None


def heading_text(rest: str) -> str:
    """An ATX heading's text from what follows its opening ``#``s: trailing white space, then
    a closing run of ``#``, then white space, are dropped (a heading of only ``#``s keeps its
    first one, as Markdown's ``# #`` is a heading that reads "#")."""
    text = rest.strip()
    if not text:
        return ""
    return text[0] + text[1:].rstrip().rstrip("#").rstrip()


def keyword_heading(line: str) -> Heading | None:
    """``line`` as a structural heading ("Article 33 — Prohibition of expulsion"), or ``None``."""
    if toc_entry(line):
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
    if re.fullmatch(r"[ivxlc]+", num, re.IGNORECASE) or (len(num) == 1 and num.isalpha()):
        num = num.upper()
    rest = match.group("rest").strip().lstrip(".:-–—").strip()
    if rest:
        # "Article 33 shall not apply ..." is a sentence, not a heading.
        if (
            not short(rest, 12, 120)
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


_ROMAN = re.compile(r"^[IVXLC]+[.):]?$")


def title_case(line: str) -> str:
    """An all-caps heading as a reader would write it: "CHARTER OF FUNDAMENTAL RIGHTS" →
    "Charter of Fundamental Rights", "UNHCR'S ROLE IN PART II" → "Unhcr's Role in Part II"
    (``str.title`` gives "Charter Of …", "Unhcr'S" and "Ii")."""
    out = []
    for i, word in enumerate(line.split(" ")):
        if _ROMAN.match(word):
            out.append(word)
        elif i and word.lower() in _SMALL_WORDS:
            out.append(word.lower())
        else:
            out.append(word[:1].upper() + word[1:].lower())
    return " ".join(out)


def generic_heading(line: str) -> Heading | None:
    """Numbered, title-case or all-caps short lines."""
    if toc_entry(line):
        return None
    if not short(line) or (line.endswith((".", ",", ";", ":")) and not re.fullmatch(r"[\d.]+", line)):
        return None
    numbered = _NUMBERED.match(line)
    if numbered:
        rest = numbered.group("rest")
        if short(rest, 10, 80) and rest[0].isupper() and not rest.endswith(TERMINAL):
            depth = numbered.group("num").count(".") + 1
            return Heading(label=line, rank=10 + depth, keyword=False)
        return None
    letters = [c for c in line if c.isalpha()]
    if len(letters) < 3 or not short(line, 10, 90):
        return None
    if line.isupper() or _title_case(line):
        return Heading(label=line if not line.isupper() else title_case(line), rank=20, keyword=False)
    return None


def pdf_heading_context(lines: list[tuple[int | None, str]], i: int, typical: float) -> bool:
    """PDF text has no blank lines: a generic heading must look set apart from body text.

    It follows the end of a sentence (or starts a page), is clearly shorter than body lines,
    has at least two words, and the next line starts like a sentence.
    """
    page, line = lines[i]
    prev_page, prev = lines[i - 1] if i else (None, "")
    nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
    starts_page = i == 0 or prev_page != page
    return (
        (starts_page or prev.endswith(TERMINAL))
        and len(line) < 0.7 * typical
        and len(line.split()) >= 2
        and bool(nxt[:1])
        and (nxt[0].isupper() or nxt[0].isdigit())
    )


_BROKEN_KEYWORD = re.compile(r"(?:^|(?<=[.;:]) )(?P<kw>Article|ARTICLE|Chapter|CHAPTER|Part|PART|Section|SECTION)$")
_BARE_NUMBER = re.compile(r"^(?:\d{1,3}[a-z]?|[IVXLC]{1,7})$")


def mend_split_headings(pages: list[list[str]]) -> list[list[str]]:
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


def pdf_title_context(lines: list[tuple[int | None, str]], i: int, typical: float) -> bool:
    """A PDF line right after "Article 7" is its title when it is clearly shorter than body
    lines and the next line starts a sentence, a numbered paragraph or a heading."""
    line = lines[i][1]
    nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
    return len(line) < 0.7 * typical and (not nxt or nxt[0].isupper() or nxt[0].isdigit() or nxt[0] in "(•")
