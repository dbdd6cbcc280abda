"""The one query contract of the read side: :class:`Mode`, :class:`Filters` and a validated
:class:`Query`, built in one place (:meth:`Query.build`) by every surface that searches —
``POST /ask``, ``/v1/chat/completions``, the MCP tools, ``clausewise ask`` and ``eval``.

The rules, stated once:

- the question is cleaned (:func:`clean_question`: control characters become spaces; unpaired
  surrogates, bidirectional controls and zero-width characters are removed), stripped, must not
  be blank (:func:`question_text`; :data:`QUESTION_PATTERN` states the same rule in JSON
  Schema for OpenAPI), and must be at most ``settings.max_question_chars`` long as sent;
- ``top_k`` is 1 to :data:`MAX_TOP_K` (a surface may offer less: the chat API and MCP stop at 20);
- ``mode`` is one of :class:`Mode`;
- ``filters`` are a :class:`Filters` or nothing.

A broken rule is an :class:`InvalidQuery`: a ``422 invalid_request`` over HTTP, exit code 2 on the
command line, a tool error over MCP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from ingest.errors import InvalidRequest
from ingest.settings import Settings

MAX_TOP_K = 50  # the most passages one query returns

# Characters that never reach the search: control characters (C0, DEL, C1) become spaces;
# unpaired surrogates (which no encoder can write out), bidirectional controls (which make
# an echoed question display other than it reads), the zero-width space and the byte-order mark
# are removed. (The zero-width joiners stay: scripts and emoji need them.)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile(r"[\ud800-\udfff\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# "Has at least one character that is neither whitespace nor removed": the non-blank rule for
# the JSON Schema of a question field. Spelled without ``\s``, whose members differ between
# the ECMA regexes of JSON Schema and Python's.
QUESTION_PATTERN = "[^\\x00-\\x20\\x7f-\\xa0\\u061c\\u1680\\u2000-\\u200b\\u200e\\u200f\\u2028-\\u202f\\u205f\\u2066-\\u2069\\u3000\\ufeff]"


class InvalidQuery(InvalidRequest, ValueError):
    """A query that breaks the contract (a 422 ``invalid_request``). It is a ``ValueError``
    too, so that a pydantic validator applying the same rule (:func:`question_text`) reports it
    as a field error."""


class Mode(StrEnum):
    """How passages are ranked: see ``service.search.retriever``."""

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"

    @classmethod
    def parse(cls, value: Mode | str) -> Mode:
        try:
            return cls(value)
        except ValueError:
            *first, last = [mode.value for mode in cls]
            raise InvalidQuery(f"unknown mode {value!r}: use {', '.join(first)} or {last}", param="mode") from None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """In a pydantic model, a mode validates (and appears in OpenAPI and MCP tool schemas)
        as the plain string enum ``"hybrid" | "dense" | "lexical"``, and dumps as its value."""
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.literal_schema([mode.value for mode in cls]),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda mode: mode.value),
        )


class Filters(BaseModel):
    """All optional, combined with AND, applied before ranking."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(
        default=None, description="Path relative to the ingested folder, exact or a glob (`treaties/*.pdf`)."
    )
    doc_id: list[str] | None = Field(default=None, description="Document ids.")
    section: str | None = Field(default=None, description="Case-insensitive substring of the section path.")


def clean_question(question: str) -> str:
    """The question without the characters that never reach the search, stripped."""
    return _INVISIBLE.sub("", _CONTROLS.sub(" ", question)).strip()


def question_text(question: str) -> str:
    """The question as searched: cleaned (:func:`clean_question`), and not blank."""
    text = clean_question(question)
    if not text:
        raise InvalidQuery("question must not be empty or blank (or only control characters)", param="question")
    return text


@dataclass(frozen=True)
class Query:
    """One validated question to search for: build it with :meth:`build`."""

    question: str
    top_k: int = 5
    mode: Mode = Mode.HYBRID
    filters: Filters | None = None

    @classmethod
    def build(
        cls,
        question: str,
        *,
        settings: Settings,
        top_k: int = 5,
        mode: Mode | str = Mode.HYBRID,
        filters: Filters | None = None,
    ) -> Query:
        """A :class:`Query`, or an :class:`InvalidQuery` naming the rule broken."""
        limit = settings.max_question_chars
        if len(question) > limit:  # as sent, so that OpenAPI's maxLength states the same rule
            raise InvalidQuery(f"question: {len(question)} characters long; the limit is {limit}", param="question")
        text = question_text(question)
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidQuery(f"top_k: {top_k} is out of range; use 1 to {MAX_TOP_K}", param="top_k")
        return cls(text, top_k, Mode.parse(mode), filters)
