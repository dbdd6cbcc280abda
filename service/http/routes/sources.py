"""The source at a click: the original file, and a view of every citation in its document.

- ``GET /documents/{doc_id}/file``: the original file as ingested (byte ranges, its type).
- ``GET /passages/{passage_id}/view``: the passage in its source — for a PDF, its page(s) as
  images with the passage's lines marked; for text, Markdown and HTML, the cleaned text with
  the passage marked. Every citation's ``url`` points here (with ``#passage``, which scrolls
  the mark into view without any script).
- ``GET /documents/{doc_id}/pages/{number}.png``: a PDF page as the view shows it.

Nothing from a document runs in the view: its text is escaped into the page, the page carries
no script at all, and its Content-Security-Policy allows none (``default-src 'none'``). An
original HTML file is served as an attachment, sandboxed, never rendered on this origin.
"""

from __future__ import annotations

import html
import mimetypes
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from ingest.errors import NotFound
from ingest.loaders import HTML_SUFFIXES, MARKDOWN_SUFFIXES
from ingest.loaders.ocr import OcrOptions
from ingest.types import Document, Passage
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.schemas import error_responses
from service.search import sources
from service.search.backend import SearchIndex
from service.search.serialise import pages_label
from service.search.types import Citation

router = APIRouter(tags=["sources"], dependencies=[ReadKey], responses=error_responses(421))

VIEW_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
VIEW_HEADERS = {
    "Content-Security-Policy": VIEW_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=60",
}
NOT_FOUND = error_responses(401, 403, 404, 409, 503)


def _document(index: SearchIndex, doc_id: str) -> Document:
    document = index.documents.get(doc_id)
    if document is None:
        raise NotFound(f"no document with id {doc_id!r}; GET /documents lists them")
    return document


def _media_type(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in MARKDOWN_SUFFIXES:
        return "text/markdown"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


FILE_TYPES = ("application/pdf", "text/plain", "text/markdown", "text/html", "application/octet-stream")


@router.get(
    "/documents/{doc_id}/file",
    response_class=FileResponse,
    responses={
        200: {"description": "The file, of its own type.", "content": {t: {} for t in FILE_TYPES}},
        206: {"description": "The byte range asked for (`Range`).", "content": {t: {} for t in FILE_TYPES}},
        416: {
            "description": "The `Range` lies beyond the file (`Content-Range: bytes */size`).",
            "content": {"text/plain": {}},
        },
        **NOT_FOUND,
    },
)
def document_file(doc_id: str, snapshot: SnapshotDep) -> FileResponse:
    """The original file of a document, as it was indexed (``Range`` requests are honoured)."""
    document = _document(snapshot.index, doc_id)
    path = sources.locate(snapshot.index, document)
    name = path.name
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=60"}
    disposition = "inline"
    if path.suffix.lower() in HTML_SUFFIXES:
        # Rendered on this origin an HTML file could run its scripts with the reader's key.
        disposition = "attachment"
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return FileResponse(
        path, media_type=_media_type(name), filename=name, content_disposition_type=disposition, headers=headers
    )


@router.get(
    "/documents/{doc_id}/pages/{number}.png",
    response_class=Response,
    responses={200: {"description": "The page as a PNG image.", "content": {"image/png": {}}}, **NOT_FOUND},
)
def page_image(doc_id: str, number: Annotated[int, Path(ge=1, le=100_000)], snapshot: SnapshotDep) -> Response:
    """One page of a PDF document, rendered as the source view shows it."""
    document = _document(snapshot.index, doc_id)
    if document.kind != "pdf":
        raise NotFound(f"{doc_id!r} is not a PDF; its pages are not images")
    path = sources.locate(snapshot.index, document)
    png = sources.page_png(path, document.file_hash, number)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/passages/{passage_id}/view", response_class=HTMLResponse, responses=NOT_FOUND)
def passage_view(passage_id: str, snapshot: SnapshotDep, request: Request) -> HTMLResponse:
    """A passage in its source document, marked and scrolled into view (``#passage``)."""
    found = snapshot.index.with_neighbours(passage_id, 0)
    if found is None:
        raise NotFound(f"no passage with id {passage_id!r}")
    passage = found[0]
    document = _document(snapshot.index, passage.doc_id)
    path = sources.locate(snapshot.index, document)
    if document.kind == "pdf" and passage.page_start is not None:
        options = OcrOptions.of(request.app.state.settings)
        pages = sources.pdf_pages(
            path, passage.page_start, passage.page_end or passage.page_start, passage.text, options
        )
        body = _pdf_body(document, pages)
    else:
        body = _text_body(passage, sources.clean_text(path, document.source))
    return HTMLResponse(_page(document, passage, body), headers=VIEW_HEADERS)


def _page(document: Document, passage: Passage, body: str) -> str:
    """The view's HTML around ``body``; every piece of the document in it is escaped."""
    esc = html.escape
    pages = pages_label(Citation.of(passage, document))
    meta = [m for m in (passage.section, pages, document.source, "read by OCR" if passage.ocr else None) if m]
    original = f"../../documents/{esc(document.doc_id)}/file"
    if passage.page_start is not None:
        original += f"#page={passage.page_start}"
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(document.title)}{' — ' + esc(pages) if pages else ''}</title>\n"
        '<link rel="stylesheet" href="../../static/view.css">\n</head>\n<body>\n'
        f'<header class="v-head"><h1>{esc(document.title)}</h1>\n'
        f'<p class="v-meta">{" · ".join(esc(m) for m in meta)}</p>\n'
        + (
            '<p class="v-ocr">This passage was read from the page image by OCR: check its words against the page.</p>\n'
            if passage.ocr
            else ""
        )
        + f'<p><a class="v-original" href="{original}">Open the original file</a></p></header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _pdf_body(document: Document, pages: list[sources.PageView]) -> str:
    """Each cited page as an SVG: the page image, the passage's lines as rectangles on it.
    SVG attributes place the marks, so the strict CSP needs no inline style."""
    parts = []
    marked = False
    for view in pages:
        image = f"../../documents/{html.escape(document.doc_id)}/pages/{view.number}.png"
        rects = []
        for x, y, w, h in view.boxes:
            anchor = "" if marked else ' id="passage"'
            marked = True
            rects.append(f'<rect class="v-mark"{anchor} x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"/>')
        note = (
            ""
            if view.boxes
            else '<p class="v-note">The passage could not be located on this page; it is cited to it.</p>'
        )
        parts.append(
            f'<figure class="v-page" aria-label="Page {view.number}"><figcaption>Page {view.number}</figcaption>{note}'
            f'<svg class="v-sheet" viewBox="0 0 {view.width:.1f} {view.height:.1f}" role="img" aria-label="Page {view.number}">'
            f'<image href="{image}" x="0" y="0" width="{view.width:.1f}" height="{view.height:.1f}"/>'
            f"{''.join(rects)}</svg></figure>"
        )
    return "\n".join(parts)


def _text_body(passage: Passage, text: str) -> str:
    """The cleaned text with the passage in ``<mark id="passage">``, all of it escaped."""
    start, end = passage.char_start, passage.char_end
    if text[start:end] != passage.text:  # cleaned another way since: find the passage itself
        start = text.find(passage.text)
        end = start + len(passage.text)
    if start < 0:
        return f'<pre class="v-text"><mark id="passage">{html.escape(passage.text)}</mark></pre>'
    before, inside, after = (html.escape(part) for part in (text[:start], text[start:end], text[end:]))
    return f'<pre class="v-text">{before}<mark id="passage">{inside}</mark>{after}</pre>'
