"""Embedding runtimes beside ``ingest.embedder`` (sentence-transformers on torch).

- :mod:`~ingest.embedding.onnx_encoder` — :class:`OnnxEncoder`, the torch-free query (and
  passage) encoder on onnxruntime, and :func:`try_load`; numpy, onnxruntime, tokenizers.
- :mod:`~ingest.embedding.pooling` — sentence-transformers' pooling and normalisation in numpy.
- :mod:`~ingest.embedding.cache` — the cache folder (``INDEX/encoder``): layout, when it may be
  used (:func:`cache_problem`), how it is replaced atomically.
- :mod:`~ingest.embedding.provision` — :func:`ensure_encoder` (serving: load, or export in a
  subprocess) and :func:`prepare_query_encoder` (ingest: export in-process after a build).
- :mod:`~ingest.embedding.onnx_export` and :mod:`~ingest.embedding.verify` — the export and its
  check against torch; they import torch, so the serving process runs the export as
  ``python -m ingest.embedding.onnx_export --model NAME_OR_PATH --out DIR``.
- :mod:`~ingest.embedding.source` — model name → folder, and fingerprints of its files.

Importing this package imports nothing: import the module you need.
"""
