"""The FastAPI application: `create_app()` wires settings, engine, routes and metrics."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.settings import Settings, get_settings
from service.http.limits import BodyLimitMiddleware
from service.http.metrics import Metrics, MetricsMiddleware
from service.http import mcp as mcp_server
from service.http.routes import admin, ask, documents, health, openai_compat, page
from service.search.engine import Engine

log = logging.getLogger("clausewise")


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    message = "; ".join(_describe(error) for error in exc.errors())
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "json" not in content_type:
        message = f"send the body as JSON with 'content-type: application/json' (got {content_type or 'none'}); {message}"
    return JSONResponse({"error": "invalid_request", "message": message, "detail": detail}, status_code=422)


def _describe(error: dict) -> str:
    """One readable line per validation error: where, then what."""
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


def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    names = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
             503: "not_ready"}
    return JSONResponse(
        {"error": names.get(exc.status_code, "error"), "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"error": "internal_error", "message": "internal error; see the server log"}, status_code=500)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or Engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not engine.ready:
            engine.load()  # model and index load once, before the first request is accepted
        async with admin.live_rebuilds(app):  # rebuild jobs and the watch on the index
            async with mcp_server.running(app):  # the MCP session manager behind /mcp
                yield

    app = FastAPI(
        title="clausewise",
        version="0.1.0",
        summary="Cited passages from policy and treaty texts.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = Metrics()
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_kb * 1024)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    # Under /v1/ (the OpenAI-compatible API) errors take OpenAI's shape; elsewhere the app's own.
    app.add_exception_handler(RequestValidationError, openai_compat.scoped(_validation_error))
    app.add_exception_handler(StarletteHTTPException, openai_compat.scoped(_http_error))
    app.add_exception_handler(Exception, openai_compat.scoped(_unexpected_error))
    for module in (ask, documents, health, admin, openai_compat, mcp_server, page):
        app.include_router(module.router)
    return app
