"""The API's description: the OpenAPI document as the contract, and the pages that show it.

:func:`install` gives an app

* ``/openapi.json`` built by FastAPI, then told what FastAPI cannot know (:func:`contract`):
  the limits that are settings (a question's length, files per upload), the body of the chat
  route, which parses its own JSON, and the real shape of validation errors (the app's one
  handler answers them as :class:`~service.http.schemas.ErrorOut`, or OpenAI's shape under
  ``/v1/``, never as FastAPI's ``HTTPValidationError``);
* ``/docs`` (Swagger UI) and ``/redoc`` that work offline: their JavaScript and CSS come from
  the ``fastapi-offline`` package, served by the app under ``/docs/assets/``, never from a
  CDN, and a Content-Security-Policy lets the pages load nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse

from ingest.errors import NotFound
from ingest.settings import Settings
from service.http.routes.openai_compat import ChatCompletionRequest

ASSETS_URL = "/docs/assets"
# The files of the package, by the name the pages use; nothing else under ASSETS_URL exists.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
ERROR_SCHEMAS = frozenset({"ErrorOut", "OpenAIErrorOut", *VALIDATION_SCHEMAS})


def assets_dir() -> Path:
    """Where the installed ``fastapi-offline`` keeps Swagger UI and ReDoc."""
    return Path(str(files("fastapi_offline"))) / "static"


def csp(inline_script: str | None = None) -> str:
    """A policy that lets a docs page load the app's own files only: its scripts (and the one
    inline script that starts Swagger UI, by hash), styles (Swagger UI and ReDoc set inline
    styles), images (``data:`` icons), the OpenAPI document and "Try it out" calls."""
    scripts = "'self'"
    if inline_script is not None:
        digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
        scripts += f" 'sha256-{digest}'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def _page(html: HTMLResponse) -> HTMLResponse:
    body = bytes(html.body).decode()
    inline = _INLINE_SCRIPT.search(body)
    headers = {
        "Content-Security-Policy": csp(inline.group(1) if inline else None),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(body, headers=headers)


def _router(title: str, openapi_url: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{title} — API",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
            )
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{title} — API",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )

    @router.get(ASSETS_URL + "/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFound(f"no documentation asset {name!r}")
        headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
        return FileResponse(assets_dir() / name, media_type=ASSETS[name], headers=headers)

    return router


def contract(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of ``app``, with what FastAPI cannot know (see the module docstring)."""
    document = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    chat = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(chat.pop("$defs", {}))
    schemas["ChatCompletionRequest"] = chat
    schemas["AskRequest"]["properties"]["question"]["maxLength"] = settings.max_question_chars
    upload = document["paths"]["/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    upload["properties"]["files"]["maxItems"] = settings.max_upload_files
    for path, operations in document["paths"].items():
        # The one error handler answers every error as JSON of the path's shape, whatever the
        # route's own media type (an HTML page's 404 included), validation errors too.
        error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{_error_shape(path)}"}}}
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status[:1] in "45" and _is_error_reply(response):
                    response["content"] = error
    for name in VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def _is_error_reply(response: dict[str, Any]) -> bool:
    """Whether a documented 4xx/5xx is the error handler's (a route may document its own, as
    ``/readyz``'s 503 or a file's 416 are)."""
    refs = [content.get("schema", {}).get("$ref", "") for content in response.get("content", {}).values()]
    return not refs or any(ref.rsplit("/", 1)[-1] in ERROR_SCHEMAS for ref in refs)


def _error_shape(path: str) -> str:
    return "OpenAIErrorOut" if path.startswith("/v1/") else "ErrorOut"


def install(app: FastAPI, settings: Settings) -> None:
    """Serve ``app``'s OpenAPI document as :func:`contract` makes it, and the offline docs pages
    (create the app with ``docs_url=None, redoc_url=None``)."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(contract(app, settings))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to shape the document
    app.include_router(_router(app.title, app.openapi_url or "/openapi.json"))
