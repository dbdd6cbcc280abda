"""The one CLI translator of :class:`~ingest.errors.ClausewiseError`: every command is wrapped
by :func:`reports_errors`, which prints the error's message (it names the fix) on stderr, on one
line so that a path or command stays copyable, and exits with the error's ``exit_code``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ingest.errors import ClausewiseError

P = ParamSpec("P")
R = TypeVar("R")

err = Console(stderr=True, soft_wrap=True)


def print_error(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command``; a :class:`ClausewiseError` becomes a message and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ClausewiseError as exc:
            print_error(exc.message)
            raise typer.Exit(int(exc.exit_code)) from exc

    return wrapper
