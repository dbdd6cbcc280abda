"""Read and write keys: ``Authorization: Bearer <key>``, compared in constant time.

Two lists (:class:`~ingest.settings.Settings`): write keys enable and open the write endpoints;
read keys, when any is set, are required by every read endpoint, where a write key is accepted
too. A read key presented to a write endpoint gets 403: a read key may sit in a web page (the
chat widget), so it must never write. The deprecated ``CLAUSEWISE_API_KEYS`` are write keys.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from ingest.settings import Settings

WRITES_DISABLED = (
    "write endpoints are disabled: set CLAUSEWISE_WRITE_KEYS=<key>[,<key>...] on the server to enable them"
)


def _given(authorization: str | None) -> bytes:
    """The key of a ``Bearer`` header; a 401 without one."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    return authorization[7:].strip().encode()


def _matches(given: bytes, keys: list[str]) -> bool:
    """Whether ``given`` is one of ``keys``. Every key is compared, so the time taken does not
    reveal which one came close."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_write_key(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """Write endpoints: disabled unless write keys are configured, then one is required."""
    settings = _settings(request)
    keys = settings.accepted_write_keys
    if not keys:
        raise HTTPException(403, WRITES_DISABLED)
    given = _given(authorization)
    is_write, is_read = _matches(given, keys), _matches(given, settings.read_keys)
    if is_write:
        return
    if is_read:
        raise HTTPException(403, "this is a read key: write endpoints need a key from CLAUSEWISE_WRITE_KEYS")
    raise HTTPException(403, "invalid API key")


def require_read_key(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """Read endpoints: open unless read keys are set (or the deprecated CLAUSEWISE_PROTECT_READS),
    then a read or a write key is required."""
    settings = _settings(request)
    if not settings.reads_protected:
        return
    if not _matches(_given(authorization), [*settings.read_keys, *settings.accepted_write_keys]):
        raise HTTPException(403, "invalid API key")


def has_write_key(request: Request) -> bool:
    """Whether the request carries a valid write key (what may see the server's internals)."""
    authorization = request.headers.get("authorization") or ""
    keys = _settings(request).accepted_write_keys
    if not keys or not authorization.lower().startswith("bearer "):
        return False
    return _matches(authorization[7:].strip().encode(), keys)


WriteKey = Depends(require_write_key)
ReadKey = Depends(require_read_key)
