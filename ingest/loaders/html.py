"""HTML files: main text extracted with trafilatura (boilerplate such as menus and footers dropped)."""

from __future__ import annotations

import trafilatura

from ingest.errors import LoadError
from ingest.loaders.encoding import decode
from ingest.types import PageText, RawDocument


def load_html(data: bytes, source: str) -> RawDocument:
    html = decode(data)
    body = trafilatura.extract(
        html,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        favor_recall=True,
    )
    if not body or not body.strip():
        raise LoadError("no main text found in HTML")
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None else None
    return RawDocument(source=source, kind="html", pages=[PageText(None, body)], title=title, markdown=True)
