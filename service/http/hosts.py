"""The Host allow-list: a request must name one of the host names the service is served as.

DNS rebinding points a name the attacker controls at 127.0.0.1, so that a web page the user
opens can read a service on their own machine with the browser's blessing (same origin). The
request it produces still carries the attacker's name in its ``Host`` header: refusing every
name but the served ones (:attr:`~ingest.settings.Settings.served_hosts`: the loopback names,
``CLAUSEWISE_HOST`` and ``CLAUSEWISE_ALLOWED_HOSTS``) defeats it. The refusal is a 421 with the
app's JSON error body. ``/healthz`` and ``/readyz`` are exempt: an orchestrator probes them by
IP address, and they say nothing worth stealing.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.settings import host_name
from service.http import errors

PROBES = frozenset({"/healthz", "/readyz"})


def is_served(host: str, served: list[str]) -> bool:
    return "*" in served or host_name(host) in served


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, served: list[str]) -> None:
        self.app = app
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        host = request.headers.get("host", "")
        if is_served(host, self.served):
            await self.app(scope, receive, send)
            return
        name = host_name(host)
        served_as = f"is not served as {name!r}" if name else "needs a Host header"
        refusal = HTTPException(
            421, f"this service {served_as}; its operator may add the name to CLAUSEWISE_ALLOWED_HOSTS"
        )
        await errors.handle(request, refusal)(scope, receive, send)
