"""The PostgreSQL backend of the index (``CLAUSEWISE_BACKEND=postgres``): documents, passages,
their vectors (pgvector, HNSW) and the lexical index (PostgreSQL full-text search) in one
database that any number of serving replicas read. :mod:`.schema` creates the tables,
:mod:`.state` reads what is indexed, :mod:`.writer` applies an ingest run's changes."""
