"""The one place that keeps a developer's ``CLAUSEWISE_*`` settings (variables and ``.env``)
out of the tests, and that names the ``clausewise`` command a child process runs.

One variable is kept, set here for the whole session: ``CLAUSEWISE_ENCODER_CACHE``, the
per-user ONNX export cache, in a temporary folder, so that no test reads or fills the
developer's ``~/.cache`` and the suite's indexes link one export instead of each making one."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ingest.settings import Settings, get_settings

PREFIX = "CLAUSEWISE_"
ENCODER_CACHE = tempfile.mkdtemp(prefix="clausewise-test-encoders-")
KEPT = {"CLAUSEWISE_ENCODER_CACHE": ENCODER_CACHE}
os.environ.update(KEPT)
atexit.register(shutil.rmtree, ENCODER_CACHE, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``CLAUSEWISE_*`` variable but the session's
    encoder cache, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update(KEPT)
    env.update(extra)
    return env


@contextmanager
def cleared(patch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within the block, no ``CLAUSEWISE_*`` variable but the session's encoder cache is set,
    and settings are read anew."""
    for name in list(os.environ):
        if name.startswith(PREFIX) and name not in KEPT:
            patch.delenv(name)
    for name, value in KEPT.items():
        patch.setenv(name, value)
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
