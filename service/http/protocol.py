"""The HTTP/1.1 protocol ``clausewise serve`` runs: uvicorn's httptools (llhttp, C) parser with
a bound on the request head, which uvicorn enforces only for its pure-Python h11 parser.

Why not h11: measured side by side (`bench/http_bench.py`, 2 workers, 8 clients, treaties
index, two interleaved runs), h11 answered 133–138 requests/s and httptools 154–158 on the same
two cores: parsing in Python was ~15 % of a request's CPU once the question encoder got fast.
Why not plain httptools: llhttp sets no limit on the request line and headers, so a client
could make a worker hold gigabytes by never ending its headers. Here the bytes received
between the start of a request and the end of its headers are counted as they arrive, and past
``h11_max_incomplete_event_size`` (the one limit setting uvicorn has for it, filled from
``CLAUSEWISE_MAX_HEADER_KB``) the request gets ``431`` and the connection is closed. Bytes come
in reads of at most 256 KiB, so a worker holds at most the limit plus two reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

HEAD_TOO_LARGE = b"request line and headers too large"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses a request head larger than the configured limit."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_limit = config.h11_max_incomplete_event_size
        self.head_bytes = 0  # bytes of the current, unfinished request head received so far
        self.in_head = False  # between a request's first byte and the end of its headers
        self.heads_begun = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = 0
        self.heads_begun += 1

    def on_headers_complete(self) -> None:
        self.in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; a read that went wholly into one still-unfinished head counts
        towards the limit. A read in which a head began is not counted (what part of it was
        head is not known), so a head is refused at most two reads past the limit."""
        was_in_head, begun = self.in_head, self.heads_begun
        super().data_received(data)
        if self.head_limit is None or not (was_in_head and self.in_head and begun == self.heads_begun):
            return
        self.head_bytes += len(data)
        if self.head_bytes > self.head_limit and not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(HEAD_TOO_LARGE), HEAD_TOO_LARGE)
            )
            self.transport.close()
