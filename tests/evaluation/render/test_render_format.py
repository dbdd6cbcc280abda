"""The shared words and numbers: labels, formats, the reason a question was missed."""

from __future__ import annotations

import pytest
from eval_samples import question, sweep_result

from evaluation.metrics import Outcome, Returned
from evaluation.qa import Question
from evaluation.render.format import caveat, color, fmt, label, why_missed


@pytest.mark.parametrize(
    "metric, shown",
    [
        ("recall@5", "recall@5"),
        ("mrr@10", "MRR@10"),
        ("ndcg@10", "nDCG@10"),
        ("doc_recall@3", "doc recall@3"),
        ("median_passage_chars", "median passage chars"),
        ("latency_p95_ms", "latency p95 ms"),
    ],
)
def test_labels(metric: str, shown: str) -> None:
    assert label(metric) == shown


def test_formats() -> None:
    assert (fmt("recall@1", 0.2), fmt("latency_p50_ms", 12.345), fmt("median_passage_chars", 412.4)) == (
        "0.200",
        "12.3",
        "412",
    )
    assert fmt("errors", 2) == "2" and fmt("recall@1", None) == "–"


def test_modes_keep_their_colours() -> None:
    assert color("hybrid", 5) == "#1f63b4" and color("other", 0) != color("other", 1)


def _outcome(returned: list[Returned], doc: str | None = "gold.txt", error: str | None = None, evidence=()) -> Outcome:
    return Outcome(Question("x", "?", ["needle"], doc, list(evidence)), returned, 1.0, error=error)


def test_why_a_question_was_missed() -> None:
    hay = Returned("g:1", "gold.txt", "hay")
    other = Returned("o:1", "other.txt", "hay")
    assert why_missed(Outcome(question(1), [], 1.0), 10, ["gold.txt"]).startswith(
        "the gold document is not in the index"
    )
    assert (
        why_missed(_outcome([], error="HTTP 422: too long"), 10)
        == "the service refused the question: HTTP 422: too long"
    )
    assert why_missed(_outcome([]), 10) == "nothing was returned"
    assert why_missed(_outcome([hay], doc=None), 10) == "no passage in the top 10 contains an answer"
    assert why_missed(_outcome([other]), 10) == "the gold document is not in the top 10"
    assert why_missed(_outcome([other, hay]), 10) == (
        "the gold document comes at rank 2, but no passage of it in the top 10 holds the answer"
    )
    assert why_missed(_outcome([hay], evidence=["ev"]), 10).endswith("holds the answer with the evidence")


def test_the_caveat_carries_the_numbers_of_the_run() -> None:
    text = caveat(sweep_result())
    assert "same 4 questions" in text and "by 25.0 points" in text and "among 3 settings" in text
