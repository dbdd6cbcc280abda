"""API keys: ``Authorization: Bearer <key>``, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request


def _check(request: Request, authorization: str | None) -> None:
    keys: list[str] = request.app.state.settings.api_keys
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    given = authorization[7:].strip().encode()
    # Check every key, so the time taken does not reveal which one came close.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        raise HTTPException(403, "invalid API key")


def require_write_key(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """Write endpoints: disabled unless keys are configured, then a valid key is required."""
    if not request.app.state.settings.api_keys:
        raise HTTPException(
            403,
            "write endpoints are disabled: set CLAUSEWISE_API_KEYS=<key>[,<key>...] on the server to enable them",
        )
    _check(request, authorization)


def require_read_key(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """Read endpoints: open unless CLAUSEWISE_PROTECT_READS is set."""
    settings = request.app.state.settings
    if settings.protect_reads:
        if not settings.api_keys:
            raise HTTPException(403, "reads are protected but no API key is configured (CLAUSEWISE_API_KEYS)")
        _check(request, authorization)


WriteKey = Depends(require_write_key)
ReadKey = Depends(require_read_key)
