"""Backpressure: questions past the per-worker limit get 429 with Retry-After at once, probes
never wait behind questions, and uvicorn runs with ``clausewise serve``'s limits."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading

import anyio
import anyio.to_thread
import httpx
import pytest
from http_support import client_over, live_server
from service_support import KESTRELMOOR

pytestmark = pytest.mark.usefixtures("hermetic")
ASK = {"question": KESTRELMOOR}
CHAT = {"model": "clausewise", "messages": [{"role": "user", "content": KESTRELMOOR}]}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
MCP_CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "search_policies", "arguments": {"question": KESTRELMOOR}},
}
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def test_questions_past_the_limit_get_429_with_retry_after(built, embedder) -> None:
    with client_over(built, embedder, max_concurrent_questions=2, retry_after_s=3) as client:
        slots = client.app.state.question_slots
        assert slots.try_acquire() and slots.try_acquire()  # two questions in progress
        try:
            busy = client.post("/ask", json=ASK)
            assert busy.status_code == 429 and busy.headers["retry-after"] == "3"
            assert busy.json()["error"] == "too_many_requests" and "retry in 3 s" in busy.json()["message"]
            chat = client.post("/v1/chat/completions", json=CHAT)
            assert chat.status_code == 429 and chat.headers["retry-after"] == "3"
            assert chat.json()["error"]["type"] == "rate_limit_error"  # OpenAI's shape: its clients retry
            assert client.post("/mcp", json=MCP_CALL, headers=MCP_HEADERS).status_code == 429
            # What answers no question is never refused.
            assert client.post("/mcp", json=MCP_LIST, headers=MCP_HEADERS).status_code == 200
            assert client.get("/documents").status_code == 200
            assert client.get("/healthz").status_code == 200
        finally:
            slots.release()
            slots.release()
        assert client.post("/ask", json=ASK).status_code == 200
        assert client.post("/mcp", json=MCP_CALL, headers=MCP_HEADERS).status_code == 200
        assert slots.in_flight == 0


def test_a_body_over_the_limit_is_still_413_on_a_question_path(built, embedder) -> None:
    with client_over(built, embedder, max_body_kb=16) as client:
        chunks = (b"x" * 1024 for _ in range(40))  # no Content-Length: counted as it arrives
        response = client.post("/ask", content=chunks, headers={"content-type": "application/json"})
        assert response.status_code == 413 and response.json()["error"] == "too_large"
        assert client.app.state.question_slots.in_flight == 0


async def _fill_thread_pool(gate: threading.Event, filled: threading.Event) -> None:
    """Take every thread of the server's pool with work that waits for ``gate``; ``filled`` is
    set once the last one runs."""
    total = int(anyio.to_thread.current_default_thread_limiter().total_tokens)
    running = itertools.count(1)

    def hold() -> None:
        if next(running) == total:
            filled.set()
        gate.wait()

    async with anyio.create_task_group() as group:
        for _ in range(total):
            group.start_soon(anyio.to_thread.run_sync, hold)


def test_probes_answer_while_every_thread_is_busy(built, embedder) -> None:
    with live_server(built, embedder) as server:
        gate, filled = threading.Event(), threading.Event()
        done = server.run(_fill_thread_pool(gate, filled))
        try:
            assert filled.wait(30)
            with httpx.Client(base_url=server.url, timeout=10) as http:
                for probe in ("/healthz", "/readyz", "/metrics"):
                    assert http.get(probe).status_code == 200, probe
        finally:
            gate.set()
            done.result(timeout=30)


def test_under_concurrent_load_questions_get_only_200_or_429(built, embedder) -> None:
    async def load(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=24)) as http:
            requests = [http.post("/ask", json=ASK) for _ in range(48)]
            requests += [http.post("/v1/chat/completions", json=CHAT) for _ in range(24)]
            return await asyncio.gather(*requests)

    with live_server(built, embedder, max_concurrent_questions=1) as server:
        responses = asyncio.run(load(server.url))
        assert server.app.state.question_slots.in_flight == 0
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429} and 200 in statuses, statuses
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 429)


def _raw_request(port: int, extra_header: str = "") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nhost: localhost\r\n{extra_header}connection: close\r\n\r\n".encode())
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    """What the server sent until it closed (a reset, when it refused a request it did not read)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_uvicorn_runs_with_the_configured_limits(built, embedder) -> None:
    with live_server(built, embedder, max_header_kb=4, keep_alive_s=1, max_connections=3) as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert _raw_request(port).startswith(b"HTTP/1.1 200")
        # Headers still incomplete past the limit (they arrive in reads of 64 KiB) are refused.
        oversized = _raw_request(port, f"x-padding: {'a' * 200_000}\r\n")
        assert oversized == b"" or oversized.startswith(b"HTTP/1.1 4"), oversized[:80]
        assert _raw_request(port).startswith(b"HTTP/1.1 200")
        # An idle keep-alive connection is closed by the server after keep_alive_s.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            idle.sendall(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
            first = b""
            while not first.endswith(b'{"status":"ok"}'):
                first += idle.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            assert idle.recv(65536) == b""  # closed by the server (our 10 s timeout would raise)
        # Past max_connections, uvicorn answers 503 instead of taking more on.
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            assert _raw_request(port).startswith(b"HTTP/1.1 503")
        finally:
            for sock in held:
                sock.close()
