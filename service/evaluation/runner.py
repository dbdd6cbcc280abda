"""Ask every question of an in-process retriever or of a running service's `/ask`."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from service.evaluation.metrics import ModeResult, Outcome, Returned
from service.evaluation.qa import Question
from service.retriever import Filters, Retriever

Asker = Callable[[Question, str, int, bool], list[Returned]]


def in_process(retriever: Retriever) -> Asker:
    def ask(question: Question, mode: str, k: int, per_doc: bool) -> list[Returned]:
        filters = Filters(source=question.doc) if per_doc and question.doc else None
        hits = retriever.run(question.question, k, mode, filters)  # type: ignore[arg-type]
        return [
            Returned(h.passage.id, h.citation.source, h.passage.text, h.citation.section, h.citation.page_start)
            for h in hits
        ]

    return ask


def over_http(url: str, client: httpx.Client | None = None) -> Asker:
    client = client or httpx.Client(base_url=url.rstrip("/"), timeout=60)

    def ask(question: Question, mode: str, k: int, per_doc: bool) -> list[Returned]:
        body = {"question": question.question, "top_k": k, "mode": mode}
        if per_doc and question.doc:
            body["filters"] = {"source": question.doc}
        response = client.post("/ask", json=body)
        response.raise_for_status()
        return [
            Returned(p["id"], p["citation"]["source"], p["text"], p["citation"]["section"], p["citation"]["page_start"])
            for p in response.json()["passages"]
        ]

    return ask


def evaluate(questions: list[Question], ask: Asker, modes: list[str], ks: list[int], per_doc: bool) -> list[ModeResult]:
    depth = max(max(ks), 10)
    results = []
    for mode in modes:
        outcomes = []
        for question in questions:
            started = time.perf_counter()
            returned = ask(question, mode, depth, per_doc)
            outcomes.append(Outcome(question, returned, (time.perf_counter() - started) * 1000))
        results.append(ModeResult(mode, outcomes, ks))
    return results
