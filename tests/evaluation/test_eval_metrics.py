"""Metrics on hand-made outcomes: every number worked out by hand."""

from __future__ import annotations

import math

import pytest

from evaluation.metrics import ModeResult, Outcome, Returned, budget_hit, summarize
from evaluation.qa import Question


def q(qid: str, answer: str = "needle", doc: str | None = "gold.txt", kind: str | None = None) -> Question:
    return Question(qid, f"question {qid}?", [answer], doc, type=kind)


def p(source: str, text: str, pid: str | None = None) -> Returned:
    return Returned(pid or f"{source}:{text[:8]}", source, text)


HIT = p("gold.txt", "the needle is here")
SAME_DOC = p("gold.txt", "nothing useful")
OTHER = p("other.txt", "a needle, but elsewhere")


def test_first_hit_and_first_document_hit() -> None:
    o = Outcome(q("a"), [OTHER, SAME_DOC, HIT], 1.0)
    assert (o.first_hit, o.first_doc_hit) == (3, 2)
    assert o.hit_within(3) and not o.hit_within(2)
    assert Outcome(q("b"), [], 1.0).first_hit is None


def test_reading_budget_cuts_the_last_passage_at_2000_characters() -> None:
    question = q("a", answer="needle in")
    filler = p("gold.txt", "x" * 1991)
    assert budget_hit(question, [filler, p("gold.txt", "needle in hay")])  # 1991 + 9 = 2000: read whole
    assert not budget_hit(question, [filler, p("gold.txt", "a needle in hay")])  # cut after "a needle "
    assert not budget_hit(question, [p("gold.txt", "x" * 2000), HIT])  # budget spent before it
    assert budget_hit(question, [p("other.txt", "needle in"), p("gold.txt", "needle in")])


def test_a_deeper_reading_list_is_used_for_the_budget() -> None:
    short = [p("gold.txt", f"passage {i}", pid=str(i)) for i in range(10)]
    o = Outcome(q("a"), short, 1.0, reading=short + [HIT])
    assert o.first_hit is None and o.budget_hit


def test_summary_numbers() -> None:
    outcomes = [
        Outcome(q("a", kind="easy"), [HIT], 10.0),  # hit at 1
        Outcome(q("b", kind="easy"), [OTHER, HIT], 20.0),  # hit at 2, document at 2
        Outcome(q("c", kind="hard"), [SAME_DOC] * 4 + [HIT], 30.0),  # hit at 5
        Outcome(q("d", kind="hard"), [OTHER] * 10 + [HIT], 40.0),  # hit at 11: beyond MRR@10
        Outcome(q("e", doc=None), [SAME_DOC, SAME_DOC], 50.0),  # no doc: not in doc recall; no answer
    ]
    m = summarize(outcomes, [1, 3, 5, 10, 20])
    assert m["recall@1"] == pytest.approx(1 / 5)
    assert m["recall@3"] == pytest.approx(2 / 5)
    assert m["recall@5"] == pytest.approx(3 / 5)
    assert m["recall@10"] == pytest.approx(3 / 5)
    assert m["recall@20"] == pytest.approx(4 / 5)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 5)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 5)
    # Document recall over the four questions that name a document: at 1 (a), 2 (b), 1 (c), 11 (d).
    assert m["doc_recall@1"] == pytest.approx(2 / 4)
    assert m["doc_recall@3"] == pytest.approx(3 / 4)
    assert m["doc_recall@20"] == pytest.approx(4 / 4)
    assert m["recall@2000c"] == pytest.approx(4 / 5)  # every list is short: d's hit at 11 is read too
    assert m["latency_p50_ms"] == pytest.approx(30.0)
    assert m["latency_p95_ms"] == pytest.approx(48.0)  # linear interpolation: 40 + 0.8 * 10
    assert m["questions"] == 5 and "errors" not in m
    assert m["median_passage_chars"] == float(len(OTHER.text))  # median of the top-10 passages

    result = ModeResult("lexical", outcomes, [1, 3, 5, 10, 20])
    assert result.depth == 20
    assert result.curve(5) == pytest.approx([0.2, 0.4, 0.4, 0.4, 0.6])
    assert [o.question.id for o in result.misses()] == ["e"]  # k = 20
    assert [o.question.id for o in result.misses(5)] == ["d", "e"]
    assert result.doc_curve(3) == pytest.approx([0.5, 0.75, 0.75])
    by_type = result.by_type()
    assert list(by_type) == ["easy", "hard"]
    assert by_type["easy"]["recall@1"] == pytest.approx(0.5) and by_type["hard"]["recall@10"] == pytest.approx(0.5)


def test_failed_questions_count_as_misses_without_latency() -> None:
    m = summarize([Outcome(q("a"), [HIT], 5.0), Outcome(q("b"), [], 999.0, error="HTTP 422")], [1])
    assert m["recall@1"] == 0.5 and m["errors"] == 1 and m["latency_p95_ms"] == 5.0


def test_no_document_anywhere_means_no_document_recall() -> None:
    m = summarize([Outcome(q("a", doc=None), [HIT], 1.0)], [1])
    assert m["recall@1"] == 1.0 and "doc_recall@1" not in m
