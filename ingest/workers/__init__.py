"""The contained parse stage: files are loaded, cleaned and chunked in worker processes, each
under a time and memory limit, so that one hostile file costs its own limit and no more
(:mod:`~ingest.workers.pool`); what a worker runs (:mod:`~ingest.workers.parse`); and the
memory of files that failed, by content hash (:mod:`~ingest.workers.failures`)."""
