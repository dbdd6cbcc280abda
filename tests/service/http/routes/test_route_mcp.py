"""``/mcp`` as the service starts: the MCP SDK is imported after readiness, a request that
comes first waits for it, and an MCP that cannot start leaves the rest of the service serving."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from fastapi.testclient import TestClient
from service_support import BuiltIndex, engine_for

from ingest.embedder import Embedder
from service.http import mcp as mcp_tools
from service.http.app import create_app
from service.http.routes import mcp as mcp_route

pytestmark = pytest.mark.usefixtures("hermetic")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
HEADERS = {"accept": "application/json, text/event-stream"}


def slow_start(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold the MCP server's construction (as a slow SDK import would) until the event is set."""
    release = threading.Event()
    build = mcp_tools.build_server

    def held(get_snapshot):
        release.wait(30)
        return build(get_snapshot)

    monkeypatch.setattr(mcp_tools, "build_server", held)
    return release


def test_a_request_during_the_start_waits_and_is_answered(
    built: BuiltIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = slow_start(monkeypatch)
    app = create_app(built.settings, engine_for(built.settings, embedder))
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/readyz").status_code == 200  # ready before the MCP SDK is up
        assert client.post("/ask", json={"question": "access to the courts"}).status_code == 200
        timer = threading.Timer(0.5, release.set)
        timer.start()
        started = time.monotonic()
        response = client.post("/mcp", json=INITIALIZE, headers=HEADERS)
        assert response.status_code == 200, response.text
        assert time.monotonic() - started >= 0.4  # it waited for the start, not refused
        assert response.json()["result"]["serverInfo"]["name"] == "clausewise"


def test_a_start_that_takes_too_long_is_a_503(
    built: BuiltIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = slow_start(monkeypatch)
    monkeypatch.setattr(mcp_route, "START_WAIT_S", 0.2)
    app = create_app(built.settings, engine_for(built.settings, embedder))
    try:
        with TestClient(app, base_url="http://localhost") as client:
            refused = client.post("/mcp", json=INITIALIZE, headers=HEADERS)
            assert refused.status_code == 503
            assert "still starting" in refused.json()["message"]
            release.set()
    finally:
        release.set()


def test_an_mcp_that_cannot_start_is_a_503_and_the_rest_serves(
    built: BuiltIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(get_snapshot):
        raise RuntimeError("no tools today")

    monkeypatch.setattr(mcp_tools, "build_server", broken)
    app = create_app(built.settings, engine_for(built.settings, embedder))
    with TestClient(app, base_url="http://localhost") as client:
        refused = client.post("/mcp", json=INITIALIZE, headers=HEADERS)
        assert refused.status_code == 503
        assert refused.json()["error"] == "not_ready"
        message = refused.json()["message"]
        assert "failed to start" in message and "no tools today" in message
        assert client.post("/ask", json={"question": "access to the courts"}).status_code == 200
        assert client.get("/readyz").status_code == 200


def test_serving_imports_neither_the_mcp_sdk_nor_scipy() -> None:
    """What ``clausewise serve`` imports before it is ready: not the MCP SDK (1-2 s, started
    after readiness), not scipy (bm25s used to bring it, for its stop words), not pypdf (the
    source view imports it when it first reads a page)."""
    script = textwrap.dedent(
        """
        import json, sys
        import service.cli
        from service.http.app import create_app
        print(json.dumps(sorted(m for m in ("mcp", "scipy", "bm25s", "pypdf", "torch") if m in sys.modules)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_a_tool_call_waiting_for_the_start_holds_no_question_slot(
    built: BuiltIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one question slot, a tool call that waits for the MCP SDK must not make /ask a 429."""
    release = slow_start(monkeypatch)
    settings = built.settings.model_copy(update={"max_concurrent_questions": 1})
    app = create_app(settings, engine_for(settings, embedder))
    call = {
        **INITIALIZE,
        "method": "tools/call",
        "params": {"name": "search_policies", "arguments": {"question": "courts"}},
    }
    try:
        with TestClient(app, base_url="http://localhost") as client:
            waiting = threading.Thread(target=client.post, args=("/mcp",), kwargs={"json": call, "headers": HEADERS})
            waiting.start()
            time.sleep(0.3)  # the tool call is now waiting for the start
            assert client.post("/ask", json={"question": "access to the courts"}).status_code == 200
            release.set()
            waiting.join(30)
    finally:
        release.set()
