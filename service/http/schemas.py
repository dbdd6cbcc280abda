"""The HTTP contract of `/ask` and the read endpoints (extend, never rename).

The passage models are the search layer's (:mod:`service.search.serialise`), the filters and
mode its query contract's (:mod:`service.search.query`); they are re-exported here under the
names OpenAPI shows.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.settings import Settings
from service.search.query import MAX_TOP_K, Filters, Mode, Query, question_text
from service.search.serialise import Highlight, PassageContext, PassageDetail, PassageOut

__all__ = [
    "AskFilters",
    "AskRequest",
    "AskResponse",
    "DocumentOut",
    "ErrorOut",
    "Highlight",
    "PassageContext",
    "PassageDetail",
    "PassageOut",
]


class AskFilters(Filters):
    """All optional, combined with AND, applied before ranking."""


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., description="The question, in plain language.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, strict=True)  # "3" or true is a client bug worth a 422
    mode: Mode = Mode.HYBRID
    filters: AskFilters | None = None

    @field_validator("question")
    @classmethod
    def _question_is_sensible(cls, value: str) -> str:
        return question_text(value)  # the length cap is the app's setting: see query()

    def query(self, settings: Settings) -> Query:
        """The validated query; a question over ``settings.max_question_chars`` is a 422."""
        return Query.build(self.question, settings=settings, top_k=self.top_k, mode=self.mode, filters=self.filters)


class AskResponse(BaseModel):
    question: str
    passages: list[PassageOut]
    index_version: str
    took_ms: float


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    source: str
    kind: str
    pages: int | None
    passage_count: int


class ErrorOut(BaseModel):
    error: str
    message: str
    detail: list | None = None
