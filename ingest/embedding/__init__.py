"""Embedding runtimes beside ``ingest.embedder`` (sentence-transformers on torch).

- :mod:`ingest.embedding.onnx_encoder` — :class:`OnnxEncoder`, the torch-free query (and
  passage) encoder on onnxruntime, and the cache functions :func:`try_load`, :func:`load`,
  :func:`ensure_encoder`, :func:`export_in_subprocess`. Imports numpy, onnxruntime, tokenizers.
- :mod:`ingest.embedding.onnx_export` — export + verification against torch, written
  atomically into a cache folder; imports torch, so the serving process runs it as
  ``python -m ingest.embedding.onnx_export --model NAME_OR_PATH --out DIR``.
- :mod:`ingest.embedding.source` — model name → folder, and fingerprints of its files.

Importing this package imports nothing heavy: the names below load their module on first use.
"""

from __future__ import annotations

_LAZY = {
    "OnnxEncoder": "ingest.embedding.onnx_encoder",
    "try_load": "ingest.embedding.onnx_encoder",
    "load": "ingest.embedding.onnx_encoder",
    "ensure_encoder": "ingest.embedding.onnx_encoder",
    "export_in_subprocess": "ingest.embedding.onnx_encoder",
    "ModelSource": "ingest.embedding.source",
    "resolve_source": "ingest.embedding.source",
}

__all__ = [
    "ModelSource",
    "OnnxEncoder",
    "ensure_encoder",
    "export_in_subprocess",
    "load",
    "resolve_source",
    "try_load",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
