"""Ask every question of an in-process retriever or of a running service's `/ask`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from evaluation.grid import passages_label
from evaluation.metrics import READING_BUDGET, ModeResult, Outcome, Returned
from evaluation.qa import Question
from ingest.errors import EvaluationError, ExitCode, RequestRejected
from ingest.store.format import Manifest
from service.search.backend import SearchRetriever
from service.search.query import Filters, Query

MODES = ("hybrid", "dense", "lexical")
MAX_DEPTH = 50  # the largest top_k `/ask` accepts


class ServiceUnavailable(EvaluationError):
    """The service asked over HTTP cannot answer at all (unreachable, not ready, no ``/ask``):
    the run stops. A service that refuses one question (a :class:`RequestRejected`, e.g. 422)
    does not stop it: that question counts as a miss."""

    status = 502
    code = "service_unavailable"
    exit_code = ExitCode.FAILED


def source_filter(question: Question, per_doc: bool, scope: str | None) -> str | None:
    """The ``source`` filter a question is asked with: its own document with ``per_doc``,
    else the ``scope`` (a path or glob), else none."""
    return question.doc if per_doc and question.doc else scope


class InProcess:
    """Asks a retriever (:class:`~service.search.backend.SearchRetriever`) directly, as ``clausewise ask`` does."""

    def __init__(self, retriever: SearchRetriever, scope: str | None = None) -> None:
        self.retriever = retriever
        self.scope = scope
        self.index_version: str | None = retriever.index.version

    def sources(self) -> list[str]:
        return [d.source for d in self.retriever.index.documents.values()]

    def __call__(self, question: Question, mode: str, k: int, per_doc: bool) -> list[Returned]:
        source = source_filter(question, per_doc, self.scope)
        filters = Filters(source=source) if source else None
        query = Query.build(question.question, settings=self.retriever.settings, top_k=k, mode=mode, filters=filters)
        hits = self.retriever.search(query)
        return [
            Returned(h.passage.id, h.citation.source, h.passage.text, h.citation.section, h.citation.page_start)
            for h in hits
        ]


class OverHttp:
    """Posts to a running service's ``/ask`` with the same top_k, mode and filters."""

    def __init__(self, url: str, client: httpx.Client | None = None, scope: str | None = None) -> None:
        self.url = url
        self.client = client or httpx.Client(base_url=url.rstrip("/"), timeout=60)
        self.scope = scope
        self.index_version: str | None = None

    def sources(self) -> list[str]:
        try:
            response = self.client.get("/documents")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach {self.url}/documents: {type(exc).__name__}: {exc}") from exc
        return [d["source"] for d in response.json()]

    def __call__(self, question: Question, mode: str, k: int, per_doc: bool) -> list[Returned]:
        body: dict = {"question": question.question, "top_k": k, "mode": mode}
        source = source_filter(question, per_doc, self.scope)
        if source:
            body["filters"] = {"source": source}
        try:
            response = self.client.post("/ask", json=body)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach {self.url}/ask: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (404, 405, 503):
            raise ServiceUnavailable(f"{self.url}/ask answered {response.status_code}: {_message(response)}")
        if response.status_code != 200:
            raise RequestRejected(f"HTTP {response.status_code}: {_message(response)}", status=response.status_code)
        payload = response.json()
        self.index_version = payload.get("index_version", self.index_version)
        return [
            Returned(p["id"], p["citation"]["source"], p["text"], p["citation"]["section"], p["citation"]["page_start"])
            for p in payload["passages"]
        ]


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))[:300]
    except ValueError:
        return response.text[:300]


# (question, mode, top_k, per_doc) -> the passages returned; raises RequestRejected for a
# question refused (a miss), ServiceUnavailable when nothing can be asked (the run stops).
Asker = Callable[[Question, str, int, bool], list[Returned]]


def missing_documents(questions: list[Question], sources: list[str]) -> list[str]:
    """Gold documents (by file name, as the question sets name them) that no indexed source
    is: not ingested, or failed to load. Their questions cannot be hit, whatever the ranking."""
    names = {s.rsplit("/", 1)[-1] for s in sources} | set(sources)
    return sorted(
        {q.doc for q in questions if q.doc and q.doc not in names and not any(a in names for a in q.alt_docs)}
    )


def in_process(retriever: SearchRetriever, scope: str | None = None) -> InProcess:
    return InProcess(retriever, scope)


def over_http(url: str, client: httpx.Client | None = None, scope: str | None = None) -> OverHttp:
    return OverHttp(url, client, scope)


Progress = Callable[[str, int, int], None]


def ask_one(ask: Asker, question: Question, mode: str, depth: int, per_doc: bool) -> Outcome:
    """One timed question; when the answer holds less than the reading budget although more
    passages exist, an untimed deeper ask tops up the list read for recall@2000c.

    A question the service refuses (:class:`RequestRejected`: over HTTP a 4xx such as 422)
    is a miss with its reason, and the run goes on."""
    started = time.perf_counter()
    try:
        returned = ask(question, mode, depth, per_doc)
    except RequestRejected as exc:
        return Outcome(question, [], (time.perf_counter() - started) * 1000, error=str(exc))
    latency = (time.perf_counter() - started) * 1000
    reading = None
    if len(returned) == depth < MAX_DEPTH and sum(len(p.text) for p in returned) < READING_BUDGET:
        try:
            deeper = ask(question, mode, MAX_DEPTH, per_doc)
        except RequestRejected:
            deeper = []
        shown = {p.id for p in returned}
        reading = returned + [p for p in deeper if p.id not in shown]
    return Outcome(question, returned, latency, reading=reading)


def evaluate(
    questions: list[Question],
    ask: Asker,
    modes: list[str],
    ks: list[int],
    per_doc: bool,
    progress: Progress | None = None,
) -> list[ModeResult]:
    """Every question in every mode, asked for ``max(max(ks), 10)`` passages.

    One untimed question per mode first, so that lazy loading does not land in the latencies.
    """
    depth = max(max(ks), 10)
    notify = progress or (lambda mode, done, total: None)
    results = []
    for mode in modes:
        with contextlib.suppress(RequestRejected):
            ask(questions[0], mode, depth, per_doc)
        outcomes = []
        for done, question in enumerate(questions):
            notify(mode, done, len(questions))
            outcomes.append(ask_one(ask, question, mode, depth, per_doc))
        notify(mode, len(questions), len(questions))
        results.append(ModeResult(mode, outcomes, ks))
    return results


def recorded_settings(manifest: Manifest, settings) -> dict:
    """What an in-process run answered with: model, passages, fusion settings."""
    chunking = manifest.chunking
    return {
        "model": manifest.model.name,
        "passages (tokens/overlap)": passages_label(chunking.max_tokens, chunking.overlap, chunking.flat_max_tokens),
        "fusion_alpha": settings.fusion_alpha,
        "fusion_lexical": settings.fusion_lexical,
        "candidates": settings.candidates,
        "article_boost": settings.article_boost,
        "named_document_boost": settings.named_document_boost,
    }


@dataclass
class EvalRun:
    """One evaluation: what was asked of what, and the results per mode."""

    qa_path: str
    target: str  # the index folder, or the service URL
    per_doc: bool
    ks: list[int]
    results: list[ModeResult]
    invalid: list[tuple[int, str]] = field(default_factory=list)
    index_version: str | None = None
    settings: dict = field(default_factory=dict)  # retrieval settings, for the record
    scope: str | None = None  # the source filter of every question (without per_doc)
    missing_docs: list[str] = field(default_factory=list)  # gold documents the index does not hold
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def questions(self) -> int:
        return len(self.results[0].outcomes) if self.results else 0

    def result(self, mode: str) -> ModeResult:
        return next(r for r in self.results if r.mode == mode)
