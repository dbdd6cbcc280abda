""" "The documents don't say": an answer below the confidence threshold says so and quotes
nothing, and the confidence model behaves as its features say."""

from __future__ import annotations

from test_search_answer import hit

from service.search import answer as chat
from service.search.confidence import Confidence, calibrated


def test_an_answer_below_the_threshold_says_the_documents_do_not_answer_and_quotes_nothing() -> None:
    hits = [hit(1, "Preamble. A refugee shall have free access to the courts. End.", (10, 58), 1.0, pages=(3, 3))]
    answer = chat.compose_answer(hits, Confidence(value=0.1, answered=False, document_cosine=0.05, top_cosine=0.1))
    assert answer.summary == chat.ABSTAINED
    assert not answer.answered and answer.confidence == 0.1
    assert "free access to the courts" not in answer.markdown  # the nearest text is not quoted
    assert "[1] Convention — Article 1 — p. 3" in answer.markdown  # but it is named


def test_an_answer_above_the_threshold_quotes_as_before_and_carries_its_confidence() -> None:
    hits = [hit(1, "Preamble. A refugee shall have free access to the courts. End.", (10, 58), 1.0)]
    answer = chat.compose_answer(hits, Confidence(value=0.9, answered=True, document_cosine=0.6, top_cosine=0.7))
    assert answer.summary == "A refugee shall have free access to the courts. [1]"
    assert answer.answered and answer.confidence == 0.9


def test_confidence_rises_with_the_nearest_document_and_stays_a_probability() -> None:
    assert calibrated(0.1, 0.5) < calibrated(0.3, 0.5) < calibrated(0.6, 0.5)
    assert 0.0 < calibrated(-1.0, 1.0) < calibrated(1.0, 0.0) < 1.0
    assert calibrated(0.05, 0.2) < 0.5 < calibrated(0.5, 0.6)  # off-topic abstains, on-topic answers
