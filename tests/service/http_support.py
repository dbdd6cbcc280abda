"""Helpers of the HTTP-exposure tests (keys, hosts, backpressure): the real app over the session
index with settings of the test's choosing, through a ``TestClient`` or a real uvicorn server
running in a thread of the test process (so it reuses the session model)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import BuiltIndex, engine_for

from ingest.embedder import Embedder
from service.http.app import create_app
from service.http.limits import uvicorn_limits
from service.http.routes.mcp import wait_started

LOCAL = "http://localhost"  # a TestClient's requests name a loopback host, as a local client's do
QUIET = {"reload_interval_s": 0, "rebuild_prewarm": False}
T = TypeVar("T")


def app_over(built: BuiltIndex, embedder: Embedder, **settings) -> FastAPI:
    """The app over the session index, with ``settings`` on top of the index's own."""
    config = built.settings.model_copy(update={**QUIET, **settings})
    return create_app(config, engine_for(config, embedder))


@contextlib.contextmanager
def client_over(built: BuiltIndex, embedder: Embedder, **settings) -> Iterator[TestClient]:
    with TestClient(app_over(built, embedder, **settings), base_url=LOCAL) as client:
        yield client


def mcp_manager(client: TestClient):
    """The MCP session manager of ``client``'s app, once it has started (it starts beside the
    ready service: service/http/routes/mcp.py)."""
    client.portal.call(wait_started, client.app)  # type: ignore[union-attr]  # set inside `with TestClient`
    manager = client.app.state.mcp_session_manager  # type: ignore[attr-defined]
    assert manager is not None, client.app.state.mcp_problem  # type: ignore[attr-defined]
    return manager


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the server's event loop (from the test's thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


@contextlib.contextmanager
def live_server(built: BuiltIndex, embedder: Embedder, **settings) -> Iterator[LiveServer]:
    """The app served by uvicorn with ``clausewise serve``'s limits, on a free loopback port."""
    app = app_over(built, embedder, **settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_limits(app.state.settings))
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        for _ in range(6000):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield LiveServer(f"http://127.0.0.1:{port}", app, loop)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()
