"""Asking the questions: exact numbers on the hand-checkable corpus, in-process and over HTTP."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

from evaluation.metrics import Returned
from evaluation.qa import Question, load_questions
from evaluation.runner import ServiceUnavailable, evaluate, in_process, missing_documents, over_http
from ingest.errors import EvaluationError, ExitCode, RequestRejected

KS = [1, 5, 10]


def _first_hits(result) -> dict[str, int | None]:
    return {o.question.id: o.first_hit for o in result.outcomes}


def test_lexical_numbers_worked_out_by_hand(tiny_retriever, qa_file: Path) -> None:
    questions = load_questions(qa_file).questions
    [result] = evaluate(questions, in_process(tiny_retriever), ["lexical"], KS, per_doc=False)
    assert _first_hits(result) == {"q1": 1, "q2": 2, "q3": None, "q4": None, "q5": 3}
    assert {o.question.id: o.first_doc_hit for o in result.outcomes} == {"q1": 1, "q2": 2, "q3": None, "q4": 1, "q5": 3}
    outcome = {o.question.id: o for o in result.outcomes}
    assert [p.source for p in outcome["q5"].returned] == ["bravo.txt", "charlie.txt", "alpha.txt"]
    assert [p.source for p in outcome["q3"].returned] == ["charlie.txt"]  # only the gondola passage
    m = result.metrics
    assert m["recall@1"] == pytest.approx(1 / 5)
    assert m["recall@5"] == pytest.approx(3 / 5)
    assert m["recall@10"] == pytest.approx(3 / 5)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 5)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(4)) / 5)
    assert m["doc_recall@1"] == pytest.approx(2 / 5)
    assert m["doc_recall@5"] == pytest.approx(4 / 5)
    assert m["recall@2000c"] == pytest.approx(3 / 5)
    assert [o.question.id for o in result.misses()] == ["q3", "q4"]


def test_per_doc_asks_each_question_of_its_own_document(tiny_retriever, qa_file: Path) -> None:
    questions = load_questions(qa_file).questions
    [result] = evaluate(questions, in_process(tiny_retriever), ["lexical"], KS, per_doc=True)
    assert _first_hits(result) == {"q1": 1, "q2": 1, "q3": None, "q4": None, "q5": 1}
    assert {o.question.id: len(o.returned) for o in result.outcomes}["q3"] == 0  # no gondola in alpha.txt
    assert result.metrics["recall@1"] == pytest.approx(3 / 5)
    assert result.metrics["mrr@10"] == pytest.approx(3 / 5)
    assert result.metrics["doc_recall@1"] == pytest.approx(4 / 5)


def _comparable(results) -> list:
    return [
        (
            r.mode,
            {k: v for k, v in r.metrics.items() if not k.startswith("latency")},
            [
                (o.question.id, o.first_hit, o.first_doc_hit, o.budget_hit, [p.id for p in o.returned])
                for o in r.outcomes
            ],
        )
        for r in results
    ]


@pytest.mark.parametrize("per_doc", [False, True])
def test_over_http_gives_the_same_numbers_as_in_process(
    tiny_client, tiny_retriever, qa_file: Path, per_doc: bool
) -> None:
    questions = load_questions(qa_file).questions
    modes = ["hybrid", "dense", "lexical"]
    asker = over_http("http://localhost", client=tiny_client)
    over = evaluate(questions, asker, modes, KS, per_doc)
    local = evaluate(questions, in_process(tiny_retriever), modes, KS, per_doc)
    assert _comparable(over) == _comparable(local)
    assert asker.index_version == tiny_retriever.index.version


def _question(text: str = "where?") -> Question:
    return Question("x", text, ["needle"], "gold.txt")


def test_a_refused_question_is_a_miss_and_the_run_goes_on() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b"too long" in request.content:
            return httpx.Response(422, json={"error": "invalid_request", "message": "question: too long"})
        return httpx.Response(
            200,
            json={
                "index_version": "v1",
                "passages": [
                    {
                        "id": "g:1",
                        "text": "a needle",
                        "citation": {"source": "gold.txt", "section": None, "page_start": None},
                    }
                ],
            },
        )

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://svc")
    asker = over_http("http://svc", client=client)
    [result] = evaluate([_question(), _question("too long")], asker, ["lexical"], [1], per_doc=False)
    assert [o.first_hit for o in result.outcomes] == [1, None]
    assert result.outcomes[1].error == "HTTP 422: question: too long"
    assert result.metrics["errors"] == 1 and asker.index_version == "v1"


def test_a_refused_question_is_a_request_rejected_with_its_status() -> None:
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(422, json={"message": "too long"})),
        base_url="http://svc",
    )
    with pytest.raises(RequestRejected, match="HTTP 422: too long") as caught:
        over_http("http://svc", client=client)(_question(), "hybrid", 5, False)
    assert caught.value.status == 422


def test_a_service_that_cannot_answer_stops_the_run_with_exit_code_1() -> None:
    assert issubclass(ServiceUnavailable, EvaluationError)
    assert ServiceUnavailable("x").exit_code == ExitCode.FAILED == 1


@pytest.mark.parametrize("status", [404, 503])
def test_a_service_that_cannot_answer_stops_the_run(status: int) -> None:
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(status, json={"message": "no"})), base_url="http://svc"
    )
    with pytest.raises(ServiceUnavailable, match=f"answered {status}"):
        evaluate([_question()], over_http("http://svc", client=client), ["hybrid"], [1], per_doc=False)


def test_an_unreachable_service_stops_the_run() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client = httpx.Client(transport=httpx.MockTransport(refuse), base_url="http://127.0.0.1:9")
    with pytest.raises(ServiceUnavailable, match="cannot reach"):
        evaluate([_question()], over_http("http://127.0.0.1:9", client=client), ["hybrid"], [1], per_doc=False)


def test_short_passages_are_topped_up_for_the_reading_budget() -> None:
    calls: list[int] = []

    def ask(question, mode, k, per_doc):
        calls.append(k)
        texts = [f"filler passage {i:02d} " * 4 for i in range(k)]  # 76 characters each
        texts[14:15] = ["the needle"] if k > 14 else []
        return [Returned(f"p{i}", "gold.txt", t) for i, t in enumerate(texts[:k])]

    [result] = evaluate([_question()], ask, ["dense"], [10], per_doc=False)
    outcome = result.outcomes[0]
    assert calls == [10, 10, 50]  # warm-up, the timed question, the untimed top-up
    assert outcome.first_hit is None and outcome.budget_hit  # 14 * 76 = 1064 characters before it
    assert len(outcome.returned) == 10


def test_a_source_scope_applies_to_every_question(tiny_retriever, tiny_client, qa_file: Path) -> None:
    questions = load_questions(qa_file).questions
    for asker in (
        in_process(tiny_retriever, scope="b*.txt"),
        over_http("http://localhost", client=tiny_client, scope="b*.txt"),
    ):
        [result] = evaluate(questions, asker, ["lexical"], KS, per_doc=False)
        returned = {o.question.id: [p.source for p in o.returned] for o in result.outcomes}
        assert returned == {"q1": [], "q2": ["bravo.txt"], "q3": [], "q4": [], "q5": ["bravo.txt"]}
        # With --per-doc the question's own document wins over the scope.
        [per_doc] = evaluate(questions, asker, ["lexical"], KS, per_doc=True)
        assert _first_hits(per_doc) == {"q1": 1, "q2": 1, "q3": None, "q4": None, "q5": 1}


def test_gold_documents_missing_from_the_index_are_named() -> None:
    questions = [
        Question(id="a", question="q", answers=["x"], doc="kept.pdf"),
        Question(id="b", question="q", answers=["x"], doc="failed.pdf"),
        Question(id="c", question="q", answers=["x"], doc="copy.pdf", alt_docs=["kept.pdf"]),
        Question(id="d", question="q", answers=["x"]),
    ]
    assert missing_documents(questions, ["treaties/kept.pdf", "other.md"]) == ["failed.pdf"]
