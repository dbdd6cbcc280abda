"""The bounded httptools protocol (service/http/protocol.py) under a real uvicorn: request heads
past CLAUSEWISE_MAX_HEADER_KB are refused with 431 however they arrive, and what is not head
(bodies, the requests before on a keep-alive connection) is never counted against the limit."""

from __future__ import annotations

import json
import socket
import time

from http_support import live_server

from service.http.limits import uvicorn_limits
from service.http.protocol import BoundedHttpToolsProtocol


def _response(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def _trickle(port: int, parts: list[bytes]) -> bytes:
    """Send ``parts`` one write at a time, 5 ms apart (each a read of its own on the server),
    and return everything the server answered before it closed."""
    with _connect(port) as sock:
        try:
            for part in parts:
                sock.sendall(part)
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed on us: what it said is still readable
        return _response(sock)


def _connect(port: int) -> socket.socket:
    """A client socket whose small writes leave at once (no Nagle), so each is a read of its own."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_serve_runs_the_bounded_httptools_parser(built) -> None:
    assert uvicorn_limits(built.settings)["http"] == "service.http.protocol:BoundedHttpToolsProtocol"
    module, name = uvicorn_limits(built.settings)["http"].split(":")
    assert getattr(__import__(module, fromlist=[name]), name) is BoundedHttpToolsProtocol


def test_a_head_trickled_past_the_limit_gets_431_and_one_within_it_is_served(built, embedder) -> None:
    with live_server(built, embedder, max_header_kb=4) as server:
        port = _port(server.url)
        start = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n"
        within = [start] + [b"x-pad-%d: %s\r\n" % (i, b"a" * 90) for i in range(30)] + [b"\r\n"]  # ~3 KiB
        assert _trickle(port, within).startswith(b"HTTP/1.1 200")
        past = [start] + [b"x-pad-%d: %s\r\n" % (i, b"a" * 90) for i in range(200)] + [b"\r\n"]  # ~20 KiB
        answer = _trickle(port, past)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
        assert b"headers too large" in answer
        # One endless header value, in 1 KiB reads, is refused the same way.
        endless = [b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-long: "] + [b"b" * 1024] * 64
        assert _trickle(port, endless).startswith(b"HTTP/1.1 431")
        assert _trickle(port, within).startswith(b"HTTP/1.1 200")  # the worker is unharmed


def test_bodies_and_keep_alive_requests_do_not_count_as_head(built, embedder) -> None:
    with live_server(built, embedder, max_header_kb=1) as server:
        port = _port(server.url)
        # A 20 KiB body (JSON with room in it), 20 times the head limit, in reads after the head.
        body = json.dumps({"question": "Who is a refugee?", "top_k": 1}).encode()[:-1] + b" " * 20_000 + b"}"
        head = b"POST /ask HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n"
        head += b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        parts = [head] + [body[i : i + 1024] for i in range(0, len(body), 1024)]
        answer = _trickle(port, parts)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["passages"]
        # Five keep-alive requests on one connection, each head ~700 bytes in three writes, the
        # middle one (560 bytes) counted: under the limit one by one, over it if summed up.
        one = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n" + b"x-pad: %s\r\n\r\n" % (b"c" * 650)
        with _connect(port) as sock:
            for _ in range(5):
                for piece in (one[:40], one[40:600], one[600:]):
                    sock.sendall(piece)
                    time.sleep(0.02)
                answer = b""
                while not answer.endswith(b'{"status":"ok"}') and (chunk := sock.recv(65536)):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
