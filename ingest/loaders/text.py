"""Plain text and Markdown files."""

from __future__ import annotations

import re
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.encoding import decode
from ingest.types import PageText, RawDocument

_MD_TITLE = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def load_text(path: Path, source: str, *, markdown: bool) -> RawDocument:
    text = decode(path.read_bytes())
    if not text.strip():
        raise LoadError("no text in file")
    title = None
    if markdown:
        match = _MD_TITLE.search(text)
        title = match.group(1) if match else None
    return RawDocument(
        source=source,
        kind="markdown" if markdown else "text",
        pages=[PageText(None, text)],
        title=title,
        markdown=markdown,
    )
