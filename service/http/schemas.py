"""The HTTP contract of `/ask` and the read endpoints (extend, never rename).

The passage models are the search layer's (:mod:`service.search.serialise`), the filters and
mode its query contract's (:mod:`service.search.query`); they are re-exported here under the
names OpenAPI shows.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator

from ingest.settings import Settings
from service.search.query import MAX_TOP_K, QUESTION_PATTERN, Filters, Mode, Query, question_text
from service.search.serialise import Highlight, PassageContext, PassageDetail, PassageOut

__all__ = [
    "AskFilters",
    "AskRequest",
    "AskResponse",
    "DocumentOut",
    "ErrorOut",
    "Highlight",
    "OpenAIError",
    "OpenAIErrorOut",
    "PassageContext",
    "PassageDetail",
    "PassageOut",
]


def _whole(value: object) -> object:
    """``44.0`` is an integer to JSON Schema: take it as ``44`` (``44.5``, ``"44"`` and ``true``
    stay refused: a client bug worth an error)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A strict integer, as JSON Schema's ``integer`` reads it.
WholeNumber = Annotated[int, Strict(), BeforeValidator(_whole)]


class AskFilters(Filters):
    """All optional, combined with AND, applied before ranking."""


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The pattern documents the non-blank rule the validator applies (a field pattern would run
    # a second, different regex engine); OpenAPI's maxLength is the app's setting (service.http.docs).
    question: str = Field(
        ..., description="The question, in plain language.", json_schema_extra={"pattern": QUESTION_PATTERN}
    )
    top_k: WholeNumber = Field(5, ge=1, le=MAX_TOP_K)
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
    # "The documents don't say": how likely the index answers the question at all (0..1,
    # calibrated on wrong-corpus questions), and whether that clears the abstention threshold.
    confidence: float = Field(description="Probability (0..1) that the indexed documents answer the question.")
    answered: bool = Field(description="False: nothing in the index answers it; the passages are the nearest text.")
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
    """Every error outside ``/v1/``: ``error`` is a stable code, ``message`` says what to do."""

    error: str
    message: str
    detail: list | None = Field(None, description="Validation errors (422 only): where, what, and its type.")


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorOut(BaseModel):
    """Every error under ``/v1/``, in OpenAI's shape, which its clients parse."""

    error: OpenAIError


# Why each status is answered, as OpenAPI's response descriptions say.
STATUS_REASONS = {
    400: "The request is malformed: not JSON, nested too deeply, or breaking a rule its schema states.",
    401: "No API key was sent, and this endpoint needs one.",
    403: "The key sent may not use this endpoint (or write endpoints are disabled: no write key is configured).",
    404: "No such resource.",
    409: "Conflicts with the state of the corpus folder or the index.",
    413: "The body, or a file in it, is larger than the server's limit.",
    415: "A file's type is not accepted, or its content does not match its extension.",
    421: "The request's `Host` is not a name this service is served as (DNS-rebinding defence): see `CLAUSEWISE_ALLOWED_HOSTS`.",
    422: "The body or a parameter breaks the schema.",
    429: "This worker is answering as many questions as it may at once: retry after `Retry-After` seconds.",
    503: "The index is still loading, or the job manager is not running.",
}


def error_responses(*statuses: int, openai: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route's error statuses, each with its error schema."""
    model = OpenAIErrorOut if openai else ErrorOut
    return {status: {"model": model, "description": STATUS_REASONS[status]} for status in statuses}
