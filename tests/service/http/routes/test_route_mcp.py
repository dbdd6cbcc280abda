"""``/mcp`` as the service starts: the MCP SDK is imported after readiness, a request that
comes first waits for it, and an MCP that cannot start leaves the rest of the service serving."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from fastapi.testclient import TestClient
from service_support import BuiltIndex, engine_for

from ingest.embedder import Embedder
from service.http import mcp as mcp_tools
from service.http.app import create_app

pytestmark = pytest.mark.usefixtures("hermetic")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
HEADERS = {"accept": "application/json, text/event-stream"}


def test_the_first_mcp_request_after_start_is_answered(built: BuiltIndex, embedder: Embedder) -> None:
    app = create_app(built.settings, engine_for(built.settings, embedder))
    with TestClient(app, base_url="http://localhost") as client:
        response = client.post("/mcp", json=INITIALIZE, headers=HEADERS)  # no wait for the SDK to start
        assert response.status_code == 200, response.text
        assert response.json()["result"]["serverInfo"]["name"] == "clausewise"


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
    after readiness) and not scipy (bm25s used to bring it, for its stop words)."""
    script = textwrap.dedent(
        """
        import json, sys
        import service.cli
        from service.http.app import create_app
        print(json.dumps(sorted(m for m in ("mcp", "scipy", "bm25s", "torch") if m in sys.modules)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
