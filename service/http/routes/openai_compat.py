"""OpenAI-compatible chat: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Front ends built for the OpenAI Chat Completions API (the ``openai`` client, Open WebUI,
LibreChat, ...) point their base URL at ``http://host:port/v1``. The reply is extractive
(:mod:`service.search.answer`), streamed as Server-Sent Events when ``"stream": true``. Errors under
``/v1/`` use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``: the routes raise
:class:`~ingest.errors.InvalidRequest` with OpenAI's ``param`` and ``code``, and
:mod:`service.http.errors` renders it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, WithJsonSchema
from pydantic.json_schema import JsonDict

from ingest.errors import InvalidRequest
from ingest.settings import Settings
from service.http import compute
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.errors import invalid_value
from service.http.schemas import AskFilters, WholeNumber, error_responses
from service.search import answer as chat
from service.search.engine import Snapshot
from service.search.query import QUESTION_PATTERN, Mode, Query, clean_question

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[ReadKey], responses=error_responses(421, openai=True))

OWNER = "clausewise"
# Model name -> retrieval mode. Every model searches the one loaded index.
MODELS: dict[str, Mode] = {
    "clausewise": Mode.HYBRID,
    "clausewise-dense": Mode.DENSE,
    "clausewise-lexical": Mode.LEXICAL,
}
DEFAULT_TOP_K = 3


def _rejected(message: str, code: str, param: str | None = None, status: int = 400) -> InvalidRequest:
    """A refused request: OpenAI's ``param`` and ``code`` go into the error body."""
    return InvalidRequest(message, status=status, param=param, code=code)


# -- the request ------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


TEXT_PARTS = ("text", "input_text")
# What OpenAPI says of a user message, as _user_turns checks it: it has text, as a string or in
# a text part, with a character that is neither whitespace nor removed (the query contract's).
_HAS_TEXT: JsonDict = {"type": "string", "pattern": QUESTION_PATTERN}
_USER_HAS_TEXT: JsonDict = {
    "if": {"properties": {"role": {"const": "user"}}, "required": ["role"]},
    "then": {
        "required": ["content"],
        "properties": {
            "content": {
                "anyOf": [
                    _HAS_TEXT,
                    {
                        "type": "array",
                        "contains": {
                            "type": "object",
                            "required": ["type", "text"],
                            "properties": {"type": {"enum": list(TEXT_PARTS)}, "text": _HAS_TEXT},
                        },
                    },
                ]
            }
        },
    },
}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=_USER_HAS_TEXT)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text or "" for part in self.content if part.type in TEXT_PARTS)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body. Parameters that steer a language model (temperature, max_tokens,
    tools, ...) are accepted and ignored; ``top_k`` and ``filters`` are clausewise's own."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(json_schema_extra={"enum": list(MODELS)})  # any other: 404 model_not_found
    messages: list[ChatMessage] = Field(
        ...,
        min_length=1,
        json_schema_extra={
            "contains": {"type": "object", "properties": {"role": {"const": "user"}}, "required": ["role"]}
        },
    )
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    # Any n is parsed (an OpenAI client may send one); only 1 is served (400 unsupported_value).
    n: Annotated[WholeNumber | None, WithJsonSchema({"anyOf": [{"const": 1}, {"type": "null"}]})] = None
    top_k: WholeNumber = Field(DEFAULT_TOP_K, ge=1, le=20, description="Passages to cite (clausewise extension).")
    filters: AskFilters | None = Field(None, description="As for /ask (clausewise extension).")
    history: StrictBool = Field(True, description="Resolve short follow-ups with earlier turns (clausewise extension).")


async def _parse(request: Request) -> ChatCompletionRequest:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _rejected(f"We could not parse the JSON body of your request: {exc}", "invalid_json") from exc
    if not isinstance(data, dict):
        raise _rejected("The request body must be a JSON object.", "invalid_body")
    try:
        body = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise invalid_value(exc.errors(include_url=False)) from exc
    if body.model not in MODELS:
        raise _rejected(
            f"The model `{body.model}` does not exist. Available: {', '.join(MODELS)} (GET /v1/models).",
            "model_not_found",
            param="model",
            status=404,
        )
    if body.n not in (None, 1):
        raise _rejected("Only n=1 is supported.", "unsupported_value", param="n")
    return body


# -- the reply --------------------------------------------------------------------------
def _user_turns(body: ChatCompletionRequest) -> list[str]:
    """The text of every user message, cleaned as the query contract cleans a question."""
    turns = [clean_question(m.text()) for m in body.messages if m.role == "user"]
    if not turns:
        raise _rejected(
            "messages must contain at least one message with role 'user'.", "no_user_message", param="messages"
        )
    if not all(turns):
        number = 1 + turns.index("")
        raise _rejected(f"User message {number} has no text.", "empty_message", param="messages")
    return turns


def _answer(body: ChatCompletionRequest, snapshot: Snapshot, settings: Settings) -> tuple[chat.Resolution, chat.Answer]:
    """The conversation read as one query (cut to the question length limit), and the reply."""
    resolution = chat.resolve_question(
        _user_turns(body), max_chars=settings.max_question_chars, use_history=body.history
    )
    query = Query.build(
        resolution.query, settings=settings, top_k=body.top_k, mode=MODELS[body.model], filters=body.filters
    )
    hits = snapshot.retriever.search(query)
    return resolution, chat.compose_answer(hits, snapshot.retriever.confidence(query, hits))


def _usage(body: ChatCompletionRequest, content: str) -> dict:
    """Token counts are word counts: no tokenizer of a language model is involved."""
    prompt = sum(len(m.text().split()) for m in body.messages)
    completion = len(content.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _extras(resolution: chat.Resolution, answer: chat.Answer, snapshot: Snapshot) -> dict:
    """Fields standard clients ignore: the structured citations and how the question was read."""
    return {
        "citations": [chat.source_json(s) for s in answer.sources],
        "clausewise": {
            "answer": answer.summary,
            "question": resolution.question,
            "query": resolution.query,
            "followup": resolution.followup,
            "followup_reason": resolution.reason,
            "confidence": None if answer.confidence is None else round(answer.confidence, 4),
            "answered": answer.answered,
            "index_version": snapshot.version,
        },
    }


def _sse(payload: dict | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def _stream(body: ChatCompletionRequest, head: dict, content: str, extras: dict) -> Iterator[str]:
    def chunk(delta: dict, finish: str | None = None, **more) -> dict:
        return {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **more,
        }

    yield _sse(chunk({"role": "assistant", "content": ""}, **extras))
    for piece in chat.stream_pieces(content):
        yield _sse(chunk({"content": piece}))
    yield _sse(chunk({}, "stop"))
    if body.stream_options and body.stream_options.include_usage:
        yield _sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage(body, content)})
    yield _sse("[DONE]")


# The body is parsed by the route (OpenAI's error codes for JSON it cannot read), so OpenAPI is
# told its schema here; service.http.docs adds ChatCompletionRequest to the components.
CHAT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
    }
}
# One Server-Sent Event (OpenAPI 3.1 has a stream's schema describe each event): its data is a
# `chat.completion.chunk` as JSON, the last one `[DONE]`, as OpenAI streams them.
SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"const": "message"}},
}
CHAT_REPLY = {
    "description": "A `chat.completion`, or with `stream: true` its `chat.completion.chunk`s as Server-Sent Events.",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "text/event-stream": {"schema": SSE_EVENT},
    },
}


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion (extractive, cited)",
    openapi_extra=CHAT_BODY,
    responses={200: CHAT_REPLY, **error_responses(400, 401, 403, 404, 413, 429, 503, openai=True)},
)
async def chat_completions(request: Request, snapshot: SnapshotDep) -> Response:
    """Body as OpenAI's Chat Completions (`model`, `messages`, `stream`, ...), plus the optional
    `top_k`, `filters` and `history`. The reply answers the last user message; it carries the
    structured `citations` beside the standard fields."""
    body = await _parse(request)
    settings = request.app.state.settings
    resolution, answer = await compute.run(settings, _answer, body, snapshot, settings)  # the search pool
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "model": body.model,
        "system_fingerprint": snapshot.version,
    }
    extras = _extras(resolution, answer, snapshot)
    if body.stream:
        return StreamingResponse(
            _stream(body, head, answer.markdown, extras),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    completion = {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.markdown, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(body, answer.markdown),
        **extras,
    }
    return JSONResponse(completion)


def _model(name: str, snapshot: Snapshot) -> dict:
    created = int(datetime.fromisoformat(snapshot.index.manifest.created_at).timestamp())
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": OWNER,
        "mode": MODELS[name],
        "index_version": snapshot.version,
    }


@router.get(
    "/models",
    summary="The models: one per retrieval mode over the loaded index",
    responses=error_responses(401, 403, 503, openai=True),
)
def list_models(snapshot: SnapshotDep) -> dict:
    return {"object": "list", "data": [_model(name, snapshot) for name in MODELS]}


@router.get("/models/{model}", summary="One model", responses=error_responses(401, 403, 404, 503, openai=True))
def get_model(model: str, snapshot: SnapshotDep) -> Response:
    if model not in MODELS:
        raise _rejected(f"The model `{model}` does not exist.", "model_not_found", param="model", status=404)
    return JSONResponse(_model(model, snapshot))
