"""A cap on how deeply a JSON request body nests, so that no parser recurses itself to death.

Python's ``json`` (FastAPI's, the chat route's, the MCP transport's) recurses once per ``[`` or
``{``: a body of 100,000 ``[`` raises ``RecursionError``, which surfaced as a 500. The
middleware reads a JSON body (every body but an upload's, which is multipart and capped by its
own reader), counts its depth without parsing it, and answers 400 past :data:`MAX_DEPTH`;
otherwise it replays the body to the app unchanged. The body size is capped outside it
(:class:`~service.http.limits.BodyLimitMiddleware`), so buffering it here is bounded.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.http import errors
from service.http.body import buffered_or_refused

MAX_DEPTH = 64  # OpenAI's tool schemas, the deepest bodies clients send, stay far below
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(body: bytes, limit: int = MAX_DEPTH) -> int:
    """How deeply ``body`` nests arrays and objects, counted up to ``limit + 1`` (brackets
    inside strings do not count). Linear in the body, and it never recurses."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


class JsonDepthMiddleware:
    def __init__(self, app: ASGIApp, max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        if scope["type"] != "http" or b"multipart/" in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        read = await buffered_or_refused(scope, receive, send)
        if read is None:
            return
        body, replay = read
        if b"[" in body or b"{" in body:
            if json_depth(body, self.max_depth) > self.max_depth:
                refused = HTTPException(400, f"the JSON body nests deeper than {self.max_depth} levels")
                await errors.handle(Request(scope), refused)(scope, receive, send)
                return
        await self.app(scope, replay, send)
