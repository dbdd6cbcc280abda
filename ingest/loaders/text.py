"""Plain text and Markdown files."""

from __future__ import annotations

import re

from ingest.errors import LoadError
from ingest.headings import heading_text
from ingest.loaders.encoding import decode
from ingest.types import PageText, RawDocument

# Where a level-1 ATX heading may start; the rest of its line is trimmed with string
# operations, since a pattern like `(.+?)\s*#*\s*$` backtracks over a long line of '#'s.
_MD_TITLE_START = re.compile(r"^ {0,3}#[ \t]+", re.MULTILINE)


def markdown_title(text: str) -> str | None:
    """The text of the first ``# Title`` line, its closing ``#``s dropped; linear in ``text``."""
    match = _MD_TITLE_START.search(text)
    while match:
        end = text.find("\n", match.end())
        title = heading_text(text[match.end() : end if end >= 0 else len(text)])
        if title:
            return title
        match = _MD_TITLE_START.search(text, end + 1) if end >= 0 else None
    return None


def load_text(data: bytes, source: str, *, markdown: bool) -> RawDocument:
    text = decode(data)
    if not text.strip():
        raise LoadError("no text in file")
    return RawDocument(
        source=source,
        kind="markdown" if markdown else "text",
        pages=[PageText(None, text)],
        title=markdown_title(text) if markdown else None,
        markdown=markdown,
    )
