"""Distributed ingestion on a Dask cluster (``clausewise ingest PATH --dask tcp://HOST:8786``).

The coordinator (:mod:`~ingest.cluster.coordinator`) hands the new and changed files to the
cluster's workers in batches, by path or by content; each worker (:mod:`~ingest.cluster.tasks`)
parses them under the same limits as a local run and embeds them with its own copy of the model.
Everything else — the report, the failure memory, the segment, the generation — is the local
pipeline's, so a cluster run leaves the same index as a local one.
"""
