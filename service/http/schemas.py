"""The HTTP contract of `/ask` and the read endpoints (extend, never rename)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.types import Citation


class AskFilters(BaseModel):
    """All optional, combined with AND, applied before ranking."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, description="Path relative to the ingested folder, exact or a glob (`treaties/*.pdf`).")
    doc_id: list[str] | None = Field(None, description="Document ids.")
    section: str | None = Field(None, description="Case-insensitive substring of the section path.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., description="The question, in plain language.")
    top_k: int = Field(5, ge=1, le=50, strict=True)  # "3" or true is a client bug worth a 422
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    filters: AskFilters | None = None

    @field_validator("question")
    @classmethod
    def _question_is_sensible(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("question must not be empty or blank")
        return value  # the length cap is the app's setting, checked by the route


class Highlight(BaseModel):
    start: int
    end: int
    text: str


class PassageOut(BaseModel):
    id: str
    rank: int
    score: float
    text: str
    highlight: Highlight | None
    citation: Citation


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


class PassageContext(BaseModel):
    id: str
    text: str
    citation: Citation


class PassageDetail(PassageContext):
    previous: list[PassageContext]
    next: list[PassageContext]


class ErrorOut(BaseModel):
    error: str
    message: str
    detail: list | None = None
