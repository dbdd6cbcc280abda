"""Uploads into the served corpus folder: streamed, capped, sniffed, sanitised, atomic per file.

- :mod:`~service.uploads.names` — safe file and folder names, a target inside the corpus.
- :mod:`~service.uploads.content` — does a file hold what its extension claims.
- :mod:`~service.uploads.reader` — the streaming multipart reader into staged files.
- :mod:`~service.uploads.staging` — the staging folder and the atomic commit.
- :mod:`~service.uploads.intake` — one upload request, start to end.
- :mod:`~service.uploads.corpus` — the corpus folder against the served index; withdrawing a file.

Every refusal is an :class:`~ingest.errors.UploadRejected` carrying its HTTP status.
"""
