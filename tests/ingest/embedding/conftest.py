"""Fixtures of the ONNX encoder tests: the bundled model exported once per session, through the
same subprocess entry point the server uses (``ensure_encoder`` → ``python -m
ingest.embedding.onnx_export``). Helpers to alter copies of it are in ``onnx_support.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.embedding.onnx_encoder import OnnxEncoder
from ingest.embedding.provision import ensure_encoder
from ingest.settings import DEFAULT_MODEL


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OnnxEncoder]:
    """The cache folder and the encoder ``ensure_encoder`` returns after exporting (~25 s)."""
    cache = tmp_path_factory.mktemp("onnx") / "encoder"
    encoder, reason = ensure_encoder(DEFAULT_MODEL, cache)
    assert encoder is not None, reason
    return cache, encoder


@pytest.fixture(scope="session")
def onnx_cache(onnx_export) -> Path:
    return onnx_export[0]


@pytest.fixture(scope="session")
def onnx_encoder(onnx_export) -> OnnxEncoder:
    return onnx_export[1]
