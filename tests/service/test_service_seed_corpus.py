"""The seed corpus end to end: `corpus/` (one text file) ingested with the real model and
asked through the real app, as `make run` serves it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("hermetic")

SOURCE = "iom-policies.txt"
QUESTION = "How often does the IOM Council meet?"
ANSWER = "three times a year"


def test_seed_index_is_ready(seed_client, seed_built) -> None:
    ready = seed_client.get("/readyz").json()
    assert (ready["status"], ready["documents"], ready["passages"]) == ("ready", 1, seed_built.passages)
    [document] = seed_client.get("/documents").json()
    assert document["source"] == SOURCE and document["kind"] == "text"


def test_council_question_is_answered_and_highlighted(seed_ask) -> None:
    answer = seed_ask(QUESTION)
    best = answer["passages"][0]
    assert best["citation"]["source"] == SOURCE
    assert ANSWER in best["text"]
    highlight = best["highlight"]
    assert highlight is not None and ANSWER in highlight["text"]
    assert best["text"][highlight["start"] : highlight["end"]] == highlight["text"]
    assert "Council" in highlight["text"]


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_council_question_in_single_modes(seed_ask, mode) -> None:
    passages = seed_ask(QUESTION, mode=mode, top_k=3)["passages"]
    hits = [p for p in passages if p["highlight"] and ANSWER in p["highlight"]["text"]]
    assert hits, [p["text"][:80] for p in passages]
    assert all(p["citation"]["source"] == SOURCE for p in passages)
