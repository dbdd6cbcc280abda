"""OpenAI-compatible chat: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Front ends built for the OpenAI Chat Completions API (the ``openai`` client, Open WebUI,
LibreChat, ...) point their base URL at ``http://host:port/v1``. The reply is extractive
(:mod:`service.search.answer`), streamed as Server-Sent Events when ``"stream": true``. Errors under
``/v1/`` use OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.search import answer as chat
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.search.retriever import Filters
from service.http.schemas import AskFilters
from service.search.engine import Snapshot

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[ReadKey])

PREFIX = "/v1/"
OWNER = "clausewise"
# Model name -> retrieval mode. Every model searches the one loaded index.
MODELS: dict[str, str] = {"clausewise": "hybrid", "clausewise-dense": "dense", "clausewise-lexical": "lexical"}
DEFAULT_TOP_K = 3


# -- errors -----------------------------------------------------------------------------
class OpenAIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def response(self, headers: dict | None = None) -> JSONResponse:
        return error_response(self.status, self.message, self.type, self.param, self.code, headers)


def error_response(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_TYPES = {401: ("authentication_error", "invalid_api_key"), 403: ("permission_error", "forbidden"),
               404: ("invalid_request_error", "not_found"), 405: ("invalid_request_error", "method_not_allowed"),
               413: ("invalid_request_error", "request_too_large"), 429: ("rate_limit_error", "rate_limited")}


def openai_http_error(exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code >= 500:
        type_, code = "server_error", ("not_ready" if exc.status_code == 503 else "server_error")
    else:
        type_, code = _HTTP_TYPES.get(exc.status_code, ("invalid_request_error", None))
    return error_response(exc.status_code, str(exc.detail), type_, None, code, getattr(exc, "headers", None))


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith(PREFIX) or request.url.path == PREFIX.rstrip("/")


def scoped(handler: Callable[[Request, Any], Response | Awaitable[Response]]):
    """Wrap one of the app's exception handlers: requests under ``/v1/`` get OpenAI's error
    shape, every other path keeps the app's own."""

    async def dispatch(request: Request, exc: Exception) -> Response:
        if _is_openai(request):
            if isinstance(exc, StarletteHTTPException):
                return openai_http_error(exc)
            if isinstance(exc, OpenAIError):
                return exc.response()
            if isinstance(exc, RequestValidationError):  # from a query or path parameter
                return error_response(400, _validation_message(exc.errors()), param=_first_param(exc.errors()),
                                      code="invalid_value")
        result = handler(request, exc)
        result = await result if isinstance(result, Awaitable) else result
        if _is_openai(request) and result.status_code >= 500:  # logged by the app's handler
            return error_response(result.status_code, "internal error; see the server log", "server_error",
                                  code="internal_error")
        return result

    return dispatch


_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _loc(error: dict) -> str:
    """``messages.0.content`` from pydantic's loc, without the tags of union members."""
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    return ".".join(p for p in parts if p.lower() not in _UNION_TAGS and "[" not in p)


def _first_param(errors: list[dict]) -> str | None:
    return _loc(errors[0]) or None if errors else None


def _validation_message(errors: list[dict]) -> str:
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(_loc(error) or "body", []).append(error.get("msg", "invalid"))
    return "; ".join(f"{loc}: {', or '.join(msgs)}" for loc, msgs in grouped.items()) or "invalid request"


# -- the request ------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text or "" for part in self.content if part.type in ("text", "input_text"))


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body. Parameters that steer a language model (temperature, max_tokens,
    tools, ...) are accepted and ignored; ``top_k`` and ``filters`` are clausewise's own."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = Field(None, ge=1)
    top_k: StrictInt = Field(DEFAULT_TOP_K, ge=1, le=20, description="Passages to cite (clausewise extension).")
    filters: AskFilters | None = Field(None, description="As for /ask (clausewise extension).")
    history: StrictBool = Field(True, description="Resolve short follow-ups with earlier turns (clausewise extension).")


async def _parse(request: Request) -> ChatCompletionRequest:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OpenAIError(400, f"We could not parse the JSON body of your request: {exc}", code="invalid_json")
    if not isinstance(data, dict):
        raise OpenAIError(400, "The request body must be a JSON object.", code="invalid_body")
    try:
        body = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise OpenAIError(400, _validation_message(errors), param=_first_param(errors), code="invalid_value")
    if body.model not in MODELS:
        raise OpenAIError(
            404, f"The model `{body.model}` does not exist. Available: {', '.join(MODELS)} (GET /v1/models).",
            param="model", code="model_not_found",
        )
    if body.n not in (None, 1):
        raise OpenAIError(400, "Only n=1 is supported.", param="n", code="unsupported_value")
    return body


# -- the reply --------------------------------------------------------------------------
def _user_turns(body: ChatCompletionRequest) -> list[str]:
    turns = [m.text().strip() for m in body.messages if m.role == "user"]
    if not turns:
        raise OpenAIError(400, "messages must contain at least one message with role 'user'.", param="messages",
                          code="no_user_message")
    if not turns[-1]:
        raise OpenAIError(400, "The last user message is empty.", param="messages", code="empty_message")
    return turns


def _answer(body: ChatCompletionRequest, snapshot: Snapshot, max_chars: int) -> tuple[chat.Resolution, chat.Answer]:
    resolution = chat.resolve_question(_user_turns(body), max_chars=max_chars, use_history=body.history)
    filters = Filters(**body.filters.model_dump()) if body.filters else None
    hits = snapshot.retriever.run(resolution.query, body.top_k, MODELS[body.model], filters)  # type: ignore[arg-type]
    return resolution, chat.compose_answer(hits)


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
            "index_version": snapshot.version,
        },
    }


def _sse(payload: dict | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def _stream(body: ChatCompletionRequest, head: dict, content: str, extras: dict) -> Iterator[str]:
    def chunk(delta: dict, finish: str | None = None, **more) -> dict:
        return {**head, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **more}

    yield _sse(chunk({"role": "assistant", "content": ""}, **extras))
    for piece in chat.stream_pieces(content):
        yield _sse(chunk({"content": piece}))
    yield _sse(chunk({}, "stop"))
    if body.stream_options and body.stream_options.include_usage:
        yield _sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage(body, content)})
    yield _sse("[DONE]")


@router.post("/chat/completions", summary="OpenAI-compatible chat completion (extractive, cited)")
async def chat_completions(request: Request, snapshot: SnapshotDep) -> Response:
    """Body as OpenAI's Chat Completions (`model`, `messages`, `stream`, ...), plus the optional
    `top_k`, `filters` and `history`. The reply answers the last user message; it carries the
    structured `citations` beside the standard fields."""
    try:
        body = await _parse(request)
        max_chars = request.app.state.settings.max_question_chars
        resolution, answer = await run_in_threadpool(_answer, body, snapshot, max_chars)
    except OpenAIError as exc:
        return exc.response()
    head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": body.model,
            "system_fingerprint": snapshot.version}
    extras = _extras(resolution, answer, snapshot)
    if body.stream:
        return StreamingResponse(
            _stream(body, head, answer.markdown, extras), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    completion = {
        **head, "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.markdown, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(body, answer.markdown),
        **extras,
    }
    return JSONResponse(completion)


def _model(name: str, snapshot: Snapshot) -> dict:
    created = int(snapshot.index.folder.stat().st_mtime)
    return {"id": name, "object": "model", "created": created, "owned_by": OWNER,
            "mode": MODELS[name], "index_version": snapshot.version}


@router.get("/models", summary="The models: one per retrieval mode over the loaded index")
def list_models(snapshot: SnapshotDep) -> dict:
    return {"object": "list", "data": [_model(name, snapshot) for name in MODELS]}


@router.get("/models/{model}", summary="One model")
def get_model(model: str, snapshot: SnapshotDep) -> Response:
    if model not in MODELS:
        return error_response(404, f"The model `{model}` does not exist.", param="model", code="model_not_found")
    return JSONResponse(_model(model, snapshot))
