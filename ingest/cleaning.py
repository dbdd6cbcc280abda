"""Text cleaning that does not need document structure: Unicode folding, running headers
and footers, page numbers, and words hyphenated across line breaks."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[^\S\n]+")
_PAGE_NUMBER = re.compile(
    # Arabic numbers, or lower-case roman ones (front matter); "II" or "Did" alone are text.
    r"^(?:(?:[Pp]age|PAGE)\s*)?[-–—(\[]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$",
)
_BROKEN_DOT = re.compile(r"(?<=[0-9IVX])\ufffd(?=[0-9a-zA-Z])")
EDGE_LINES = 3  # how many lines at the top and at the bottom of a page may be running text
# "Article 7" and "Article 12" differ only in their numbers, like running footers do, and
# headings often start a page: a bare numbered heading repeats only if its number does too.
_NUMBERED_HEADING = re.compile(r"^(?:part|chapter|section|article|art\.|annex|title)\s*\d+[a-z]?\.?$")


def normalize(text: str) -> str:
    """NFKC (folds ligatures such as "ﬁ", full-width forms, odd spaces), drops invisible
    characters, and collapses horizontal whitespace; line breaks are kept."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    # Some PDFs map the full stop of "2.1" to U+FFFD; between numbering characters it is one.
    text = _BROKEN_DOT.sub(".", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def _edge_key(line: str) -> str:
    text = " ".join(line.lower().split())
    return text if _NUMBERED_HEADING.match(text) else re.sub(r"\d+", "#", text)


def strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop headers, footers and page numbers: lines near the top or bottom of a page that
    repeat (digits ignored) on many pages, and lines that are only a page number."""
    n = len(pages)
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = lines[:EDGE_LINES] + lines[-EDGE_LINES:]
        counts.update({_edge_key(line) for line in edge if line})
    threshold = max(3, int(0.3 * n + 0.999))
    cleaned = []
    for lines in pages:
        kept = []
        for i, line in enumerate(lines):
            at_edge = i < EDGE_LINES or i >= len(lines) - EDGE_LINES
            if at_edge and line and (_PAGE_NUMBER.match(line) or (n >= 3 and counts[_edge_key(line)] >= threshold)):
                continue
            kept.append(line)
        cleaned.append(kept)
    return cleaned


def vocabulary(text: str) -> Counter[str]:
    """Word counts of a document, hyphenated compounds counted as one word."""
    return Counter(re.findall(r"\w+(?:-\w+)*", text.lower()))


def join_hyphenated(left: str, right: str, words: Counter[str]) -> str:
    """How to write ``left``-``right`` when a line break split it after the hyphen.

    The hyphen is kept when the document itself writes that compound with a hyphen more
    often than without ("self-\\ndetermination" stays "self-determination").
    """
    hyphenated = words[f"{left}-{right}".lower()]
    joined = words[f"{left}{right}".lower()]
    return f"{left}-{right}" if hyphenated > joined else f"{left}{right}"


_CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z]*\b")
_DROP_CAP = re.compile(r"\b([B-HJ-Zb-hj-z]) ([a-z]+)\b")


def repair_glyphs(pages: list[list[str]]) -> list[list[str]]:
    """Undo two PDF font artefacts, using the document's own words as the dictionary.

    Small-caps fonts whose "b" maps to "B" give "ProhiBition", "oBligations": such a word is
    lower-cased after its first letter when the document writes that form elsewhere. Drop
    capitals set apart from their word give "T he", "N o": the letter is joined to the
    fragment when the joined word occurs in the document ("A" and "I" are words, left alone).
    """
    counts = Counter(re.findall(r"[A-Za-z]+", "\n".join("\n".join(lines) for lines in pages)))

    def known(word: str) -> int:
        return counts[word] + counts[word.lower()] + counts[word.capitalize()]

    def camel(match: re.Match[str]) -> str:
        word = match.group(0)
        fixed = word[0] + word[1:].lower()
        return fixed if known(fixed) > counts[word] else word

    def drop_cap(match: re.Match[str]) -> str:
        joined = match.group(1) + match.group(2)
        return joined if known(joined) >= 2 else match.group(0)

    return [[_DROP_CAP.sub(drop_cap, _CAMEL.sub(camel, line)) for line in lines] for lines in pages]
