"""The FastAPI application: `create_app()` wires settings, engine, routes and metrics."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ingest.settings import Settings, get_settings
from service.http import compute, docs, errors
from service.http.hosts import HostCheckMiddleware
from service.http.lifespan import live_rebuilds
from service.http.limits import BodyLimitMiddleware, QuestionLimitMiddleware, QuestionSlots
from service.http.metrics import Metrics, MetricsMiddleware
from service.http.nesting import JsonDepthMiddleware
from service.http.routes import admin, ask, documents, health, mcp, openai_compat, page, sources
from service.search.engine import Engine


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or Engine(settings, questions_in_flight=compute.questions_in_flight)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not engine.ready:
            engine.load()  # model and index load once, before the first request is accepted
        async with live_rebuilds(app):  # rebuild jobs and the watch on the index
            async with mcp.running(app):  # the MCP session manager behind /mcp, started beside
                yield

    app = FastAPI(
        title="clausewise",
        version="0.1.0",
        summary="Cited passages from policy and treaty texts.",
        lifespan=lifespan,
        docs_url=None,  # served offline by service.http.docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = Metrics()
    app.state.question_slots = QuestionSlots(settings.max_concurrent_questions)
    # Outermost last: metrics → Host check → CORS → body cap → JSON depth → question slots → routes (so a
    # 429 carries the CORS headers a widget needs to read it).
    app.add_middleware(QuestionLimitMiddleware, slots=app.state.question_slots, retry_after_s=settings.retry_after_s)
    app.add_middleware(JsonDepthMiddleware)  # a body nesting deeper than the parsers can take: 400
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_kb * 1024)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(HostCheckMiddleware, served=settings.served_hosts)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    errors.install(app)  # every error a JSON body: OpenAI's shape under /v1/, the app's own elsewhere
    for module in (ask, documents, sources, health, admin, openai_compat, mcp, page):
        app.include_router(module.router)
    docs.install(app, settings)  # /openapi.json as the contract, /docs and /redoc offline
    return app
