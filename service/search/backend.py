"""What the service needs of an index and of its retriever, whichever backend holds the index:
the embedded one (:class:`~ingest.store.reader.StoredIndex` with
:class:`~service.search.retriever.Retriever`) or PostgreSQL
(:class:`~service.search.postgres.PostgresIndex` with
:class:`~service.search.postgres.PostgresRetriever`). Routes, MCP and the evaluation use only this."""

from __future__ import annotations

from typing import Protocol

from ingest.settings import Settings
from ingest.store.format import Manifest
from ingest.types import Document, Passage
from service.search.confidence import Confidence
from service.search.query import Query
from service.search.types import Hit


class SearchIndex(Protocol):
    """A published index as the routes read it."""

    manifest: Manifest  # model, chunking, counts, creation time, the folders ingested
    documents: dict[str, Document]  # by doc_id, in source order

    @property
    def version(self) -> str: ...

    def __len__(self) -> int: ...

    def with_neighbours(self, passage_id: str, context: int) -> tuple[Passage, list[Passage], list[Passage]] | None: ...


class SearchRetriever(Protocol):
    """Answers validated queries over one :class:`SearchIndex`."""

    @property
    def index(self) -> SearchIndex: ...

    @property
    def settings(self) -> Settings: ...

    def warm_up(self) -> None: ...

    def search(self, query: Query) -> list[Hit]: ...

    def confidence(self, query: Query, hits: list[Hit]) -> Confidence: ...
