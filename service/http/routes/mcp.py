"""``/mcp``: the MCP tools (:mod:`service.http.mcp`) over streamable HTTP on the running service.

The MCP SDK takes over a second to import (on a 2-core EPYC, 1.2–1.8 s: more than everything
else the service loads), so it is not imported before the service is ready: :func:`running`
starts the SDK's session manager in the background once the app's lifespan begins, and a
request to ``/mcp`` that arrives before it is up waits for it (up to :data:`START_WAIT_S`)
instead of failing. ``/ask`` and the other routes answer meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, HTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ingest.errors import NotReady
from service.http.auth import require_read_key
from service.http.hosts import is_served

log = logging.getLogger(__name__)

# How long a request to /mcp waits for the session manager to start (the SDK's import, ~1-2 s).
START_WAIT_S = 30.0


class _Endpoint:
    """ASGI endpoint for ``/mcp``: the service's read-key check, an Origin check, then the
    session manager started by :func:`running`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        app = request.app
        # Refusals are raised before any response starts: the app's handler renders them.
        require_read_key(request, request.headers.get("authorization"))
        settings = app.state.settings
        _check_origin(request, settings.cors_origins, settings.served_hosts)
        await (await _manager(app)).handle_request(scope, receive, send)


async def wait_started(app: FastAPI) -> None:
    """Wait (at most :data:`START_WAIT_S`) for the session manager of ``app`` to start or fail.
    The question limit calls this before it takes a slot for a tool call, so that calls
    waiting for the SDK do not hold the slots ``/ask`` needs."""
    started: asyncio.Event | None = getattr(app.state, "mcp_started", None)
    if started is not None and not started.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(started.wait(), START_WAIT_S)


async def _manager(app: FastAPI):
    """The running session manager, waited for while it starts; :class:`NotReady` if it is
    not running (not started, failed to start, stopped, or shutting down)."""
    await wait_started(app)
    manager = getattr(app.state, "mcp_session_manager", None)
    if manager is None:
        problem = getattr(app.state, "mcp_problem", None) or "it is still starting"
        raise NotReady(f"the MCP endpoint is not running: {problem}")
    return manager


def _check_origin(request: Request, allowed: list[str], served: list[str]) -> None:
    """Browsers may call /mcp from a page on a host name the service is served as (the Host
    check has refused the others) or from CLAUSEWISE_CORS_ORIGINS; an error body in the app's
    shape, where the SDK's own check answers in plain text."""
    origin = request.headers.get("origin")
    if not origin or origin in allowed or "*" in allowed:
        return
    if is_served(origin.split("://", 1)[-1], served):
        return
    raise HTTPException(403, f"origin {origin!r} may not call /mcp; add it to CLAUSEWISE_CORS_ORIGINS")


router = APIRouter()
router.add_route("/mcp", _Endpoint(), include_in_schema=False)  # type: ignore[arg-type]  # an ASGI app is a valid Starlette endpoint


def _build(app: FastAPI):
    """The tools module (importing the MCP SDK) and the server of ``app``'s tools."""
    tools = importlib.import_module("service.http.mcp")
    return tools, tools.build_server(lambda: app.state.engine.snapshot)


async def _serve(app: FastAPI, stop: asyncio.Event) -> None:
    """Import the tools (and the SDK), run their session manager until ``stop``."""
    started: asyncio.Event = app.state.mcp_started
    running = False
    try:
        tools, server = await asyncio.to_thread(_build, app)  # off the event loop: ~1-2 s
        if stop.is_set():  # the service stopped meanwhile
            return
        settings = app.state.settings
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=tools.transport_security(settings.served_hosts, settings.cors_origins),
        )
        manager = server.session_manager
        async with manager.run():
            app.state.mcp_session_manager = manager
            running = True
            started.set()
            try:
                await stop.wait()
            finally:
                app.state.mcp_session_manager = None
    except Exception as exc:  # the rest of the service keeps serving; /mcp says why it cannot
        what = "stopped" if running else "failed to start"
        app.state.mcp_problem = f"it {what} ({type(exc).__name__}: {exc})"
        log.exception("the MCP endpoint %s", what)
    finally:
        started.set()  # wake the waiting requests: they see the manager or the problem


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """Run the MCP session manager for ``app``'s lifetime (a new one per lifespan), started in
    the background so that it does not delay readiness."""
    stop = asyncio.Event()
    app.state.mcp_started = asyncio.Event()
    app.state.mcp_problem = None
    task = asyncio.create_task(_serve(app, stop), name="clausewise-mcp")
    try:
        yield
    finally:
        app.state.mcp_problem = "the service is shutting down"
        stop.set()
        await task
