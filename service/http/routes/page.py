"""The chat page (`GET /`) and its static files, including the embeddable `widget.js`.

The files live in ``service/http/static/`` (package data, no build step). The page and the widget
call the service's own JSON API (``/v1/chat/completions`` and ``/passages/{id}``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ingest.errors import NotFound

router = APIRouter(tags=["page"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "widget.js": "text/javascript; charset=utf-8",
    "view.css": "text/css; charset=utf-8",  # the source view (routes/sources.py)
}
# Short caching: a deploy shows up within a minute, repeat visits stay fast.
HEADERS = {"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"}


def _file(name: str) -> FileResponse:
    if name not in FILES:
        raise NotFound(f"no static file {name!r}")
    headers = dict(HEADERS)
    if name.endswith((".js", ".css")):
        headers["Access-Control-Allow-Origin"] = "*"  # the widget loads these from other sites
    return FileResponse(STATIC / name, media_type=FILES[name], headers=headers)


@router.get("/")
def index() -> FileResponse:
    """The chat page."""
    return _file("index.html")


@router.get("/widget.js")
def widget() -> FileResponse:
    """`<script src="https://HOST/widget.js" async></script>` puts the chat on another site."""
    return _file("widget.js")


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    return _file(name)
