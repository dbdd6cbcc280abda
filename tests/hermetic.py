"""The one place that keeps a developer's ``CLAUSEWISE_*`` settings (variables and ``.env``)
out of the tests, and that names the ``clausewise`` command a child process runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ingest.settings import Settings, get_settings

PREFIX = "CLAUSEWISE_"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``CLAUSEWISE_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update(extra)
    return env


@contextmanager
def cleared(patch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within the block, no ``CLAUSEWISE_*`` variable is set and settings are read anew."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            patch.delenv(name)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def clean_settings(**values: object) -> Settings:
    """Settings from ``values`` and the defaults only: no variable and no ``.env`` file leak in."""
    with pytest.MonkeyPatch.context() as patch, cleared(patch):
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def clausewise_command() -> list[str]:
    """The installed console script, or the module when the project is not installed."""
    script = Path(sys.executable).with_name("clausewise")
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
