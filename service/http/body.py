"""Reading a request body ahead of the app, for middleware that must look at it first (the
nesting limit, the question limiter), and handing the app a ``receive`` that replays it."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from service.http import errors


async def buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body (bounded by the body-size middleware outside, whose 413 propagates as an
    ``HTTPException``) and a ``receive`` that replays its messages, then reads on."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages)

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return body, replay


async def buffered_or_refused(scope: Scope, receive: Receive, send: Send) -> tuple[bytes, Receive] | None:
    """:func:`buffered`, or ``None`` once the body limit's refusal (413) has been answered."""
    try:
        return await buffered(receive)
    except HTTPException as exc:  # the body limit, raised by the middleware outside
        await errors.handle(Request(scope), exc)(scope, receive, send)
        return None
