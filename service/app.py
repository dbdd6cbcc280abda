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
from service.metrics import Metrics, MetricsMiddleware
from service.routes import ask, documents, health
from service.state import Engine

log = logging.getLogger("clausewise")


def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    message = "; ".join(
        f"{'.'.join(d['loc'][1:] if d['loc'][:1] == ['body'] else d['loc']) or 'body'}: {d['msg']}" for d in detail
    )
    return JSONResponse({"error": "invalid_request", "message": message, "detail": detail}, status_code=422)


def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    names = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "too_large", 415: "unsupported_media_type", 503: "not_ready"}
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
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for module in (ask, documents, health):
        app.include_router(module.router)
    return app
