"""More time for the file being parsed, asked by the code parsing it (a page about to be
read by OCR, which has its own per-page limit). Outside a parse worker it does nothing.

This module imports nothing of the project, so that loaders may call it freely.
"""

from __future__ import annotations

from collections.abc import Callable

_ask: Callable[[float], None] | None = None


def allow(seconds: float) -> None:
    """Extend the wall-clock limit of the file being parsed by ``seconds``."""
    if _ask is not None and seconds > 0:
        _ask(seconds)


def listen(ask: Callable[[float], None] | None) -> None:
    """Route :func:`allow` to ``ask`` (the worker's pipe to its parent), or nowhere."""
    global _ask
    _ask = ask
