"""What one request, and all of them together, may cost the server.

* :class:`BodyLimitMiddleware` — a cap on request bodies, so a multi-gigabyte POST is refused
  before anything buffers it. Uploads (``POST /documents``) have their own, larger caps and
  stream to disk; every other body is a small JSON document.
* :class:`QuestionLimitMiddleware` — backpressure: at most ``max_concurrent_questions``
  question-answering requests (``POST /ask``, ``POST /v1/chat/completions``, MCP
  ``tools/call``) in progress per worker; past that a request gets 429 with ``Retry-After`` at
  once instead of queueing without bound behind the others. The slot is taken once the body
  has arrived (a client trickling its body holds a connection, never a slot) and before any
  work is scheduled, so it is independent of whatever pool then runs the work.
* :func:`uvicorn_limits` — the server's own limits (connections, backlog, keep-alive, header size).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.settings import Settings
from service.http import errors
from service.http.body import buffered_or_refused
from service.http.routes.mcp import wait_started

UPLOAD_PATH = "/documents"
QUESTION_PATHS = frozenset({"/ask", "/v1/chat/completions", "/mcp"})
MCP_PATH = "/mcp"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] == "POST" and scope["path"].rstrip("/") == UPLOAD_PATH):
            await self.app(scope, receive, send)
            return
        message = f"request body larger than {self.max_bytes} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await JSONResponse({"error": "too_large", "message": message}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            received = await receive()
            seen += len(received.get("body", b""))
            if seen > self.max_bytes:  # a chunked body without Content-Length
                raise HTTPException(413, message)
            return received

        await self.app(scope, counted, send)


class QuestionSlots:
    """A counting semaphore that never waits: :meth:`try_acquire` takes a slot or says no."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._taken = 0
        self._lock = threading.Lock()  # held for an increment only, never across an await

    @property
    def in_flight(self) -> int:
        return self._taken

    def try_acquire(self) -> bool:
        with self._lock:
            if self._taken >= self.limit:
                return False
            self._taken += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._taken -= 1


class QuestionLimitMiddleware:
    def __init__(self, app: ASGIApp, slots: QuestionSlots, retry_after_s: int) -> None:
        self.app = app
        self.slots = slots
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") if scope["type"] == "http" else ""
        if scope["type"] != "http" or scope["method"] != "POST" or path not in QUESTION_PATHS:
            await self.app(scope, receive, send)
            return
        read = await buffered_or_refused(scope, receive, send)
        if read is None:
            return
        body, replay = read
        if path == MCP_PATH and not _calls_tool(body):
            await self.app(scope, replay, send)  # initialize, tools/list, ...: cheap, never refused
            return
        if path == MCP_PATH:  # a tool call waits for the MCP SDK to start without holding a slot
            await wait_started(scope["app"])
        if not self.slots.try_acquire():
            busy = HTTPException(
                429,
                f"busy: {self.slots.limit} questions are being answered by this worker; "
                f"retry in {self.retry_after_s} s",
                headers={"Retry-After": str(self.retry_after_s)},
            )
            await errors.handle(Request(scope), busy)(scope, receive, send)
            return
        try:
            await self.app(scope, replay, send)
        finally:
            self.slots.release()


def _calls_tool(body: bytes) -> bool:
    """Whether a JSON-RPC body (one message or a batch) calls an MCP tool."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: the MCP transport answers it
        return False
    batch = data if isinstance(data, list) else [data]
    return any(isinstance(m, dict) and m.get("method") == "tools/call" for m in batch)


def uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that bound what clients can make it hold."""
    return {
        # h11: the parser whose limit on the request line and headers uvicorn enforces
        # (httptools has none); the parsing cost is small beside a question's.
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_kb * 1024,
        "limit_concurrency": settings.max_connections,  # connections and tasks; 503 past it
        "backlog": settings.backlog,
        "timeout_keep_alive": settings.keep_alive_s,
    }
