"""The one HTTP translator of errors: every :class:`~ingest.errors.ClausewiseError`, request
validation error, HTTP exception and unexpected exception becomes a JSON error body here.

Two shapes, chosen by path:

- the app's own, ``{"error": code, "message": ...}`` (validation errors add ``detail``);
- under ``/v1/`` (the OpenAI-compatible API) OpenAI's,
  ``{"error": {"message", "type", "param", "code"}}``, which OpenAI clients parse.

:func:`install` makes :func:`handle` an app's handler of them all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ingest.errors import ClausewiseError, InvalidRequest, NotReady

log = logging.getLogger("clausewise")

OPENAI_PREFIX = "/v1/"
INTERNAL = "internal error; see the server log"
# The app's ``error`` field for an HTTP exception (routing, auth, body size), by status.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
    422: "invalid_request",
    429: "too_many_requests",
    503: "not_ready",
}
# OpenAI's ``type`` and ``code`` for an HTTP exception, by status (5xx: ``server_error``).
OPENAI_HTTP = {
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    421: ("invalid_request_error", "misdirected_request"),
    429: ("rate_limit_error", "rate_limited"),
}


def install(app: FastAPI) -> None:
    """Make :func:`handle` the app's handler of every exception."""
    for kind in (ClausewiseError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, handle)


def handle(request: Request, exc: Exception) -> JSONResponse:
    """The error body for ``exc``, in the shape of ``request``'s path."""
    if isinstance(exc, ClausewiseError):
        return _clausewise_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_error(request, exc)
    return _unexpected_error(request, exc)


def is_openai(request: Request) -> bool:
    path = request.url.path
    return path.startswith(OPENAI_PREFIX) or path == OPENAI_PREFIX.rstrip("/")


def openai_error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


# -- the handlers ------------------------------------------------------------------------


def _clausewise_error(request: Request, exc: ClausewiseError) -> JSONResponse:
    if exc.status >= 500 and not isinstance(exc, NotReady):  # not ready yet is expected, not news
        log.warning("%s (%s): %s", type(exc).__name__, exc.status, exc.message)
    if is_openai(request):
        param = exc.param if isinstance(exc, InvalidRequest) else None
        type_ = "server_error" if exc.status >= 500 else OPENAI_HTTP.get(exc.status, ("invalid_request_error", None))[0]
        return openai_error(exc.status, exc.message, type_, param, exc.code)
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if is_openai(request):  # from a query or path parameter: the chat body is parsed by its route
        return _clausewise_error(request, invalid_value(errors))
    detail = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]
    message = "; ".join(_describe(error) for error in errors)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "json" not in content_type:
        message = (
            f"send the body as JSON with 'content-type: application/json' (got {content_type or 'none'}); {message}"
        )
    return JSONResponse({"error": "invalid_request", "message": message, "detail": detail}, status_code=422)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:  # Starlette names the methods of the first route of the path only
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    if is_openai(request):
        code: str | None
        if exc.status_code >= 500:
            type_, code = "server_error", ("not_ready" if exc.status_code == 503 else "server_error")
        else:
            type_, code = OPENAI_HTTP.get(exc.status_code, ("invalid_request_error", None))
        return openai_error(exc.status_code, str(exc.detail), type_, None, code, headers)
    return JSONResponse(
        {"error": HTTP_CODES.get(exc.status_code, "error"), "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=headers,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the app's routes answer at ``request``'s path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    if is_openai(request):
        return openai_error(500, INTERNAL, "server_error", code="internal_error")
    return JSONResponse({"error": "internal_error", "message": INTERNAL}, status_code=500)


# -- validation messages -----------------------------------------------------------------


def _describe(error: Any) -> str:
    """One readable line per validation error of the app's shape: where, then what."""
    loc = [str(part) for part in error.get("loc", ())]
    where = ".".join(loc[1:] if loc[:1] == ["body"] else loc)
    kind = error.get("type", "")
    if kind == "json_invalid":
        problem = (error.get("ctx") or {}).get("error", "invalid JSON")
        return f"the body is not valid JSON ({problem} at character {loc[-1] if len(loc) > 1 else '?'})"
    if kind == "missing" and where == "":
        return 'a JSON body is required, e.g. {"question": "..."}'
    message = error.get("msg", "").removeprefix("Value error, ")
    return f"{where or 'body'}: {message}"


_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _loc(error: Any) -> str:
    """``messages.0.content`` from pydantic's loc, without the tags of union members."""
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    return ".".join(p for p in parts if p.lower() not in _UNION_TAGS and "[" not in p)


def invalid_value(errors: Sequence[Any]) -> InvalidRequest:
    """Pydantic's errors as one OpenAI-style ``invalid_value`` (a 400 naming the first field)."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(_loc(error) or "body", []).append(error.get("msg", "invalid"))
    message = "; ".join(f"{loc}: {', or '.join(msgs)}" for loc, msgs in grouped.items()) or "invalid request"
    param = (_loc(errors[0]) or None) if errors else None
    return InvalidRequest(message, status=400, param=param, code="invalid_value")
