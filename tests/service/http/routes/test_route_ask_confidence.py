""" "The documents don't say" through the real app: /ask, the OpenAI-compatible answer and MCP
carry a confidence, and a question the documents have nothing on is flagged, not answered."""

from __future__ import annotations

import pytest
from service_support import KESTRELMOOR

from service.http import mcp

pytestmark = pytest.mark.usefixtures("hermetic")

OFF_TOPIC = "What is the best way to bake sourdough bread at home?"


def test_ask_flags_a_question_the_documents_do_not_answer(ask) -> None:
    on, off = ask(KESTRELMOOR), ask(OFF_TOPIC)
    assert on["answered"] is True and off["answered"] is False
    assert 0.0 <= off["confidence"] < on["confidence"] <= 1.0
    assert off["passages"]  # the nearest text is still there, flagged


def test_the_chat_says_the_documents_do_not_answer_instead_of_quoting(client) -> None:
    body = {"model": "clausewise", "messages": [{"role": "user", "content": OFF_TOPIC}]}
    reply = client.post("/v1/chat/completions", json=body).json()
    content = reply["choices"][0]["message"]["content"]
    assert content.startswith("The indexed documents do not appear to answer this question.")
    assert reply["clausewise"]["answered"] is False
    answered = client.post(
        "/v1/chat/completions", json={**body, "messages": [{"role": "user", "content": KESTRELMOOR}]}
    ).json()
    assert answered["clausewise"]["answered"] is True and answered["clausewise"]["confidence"] > 0.5


def test_mcp_search_reports_the_confidence(app) -> None:
    snapshot = app.state.engine.snapshot
    assert mcp.search(snapshot, KESTRELMOOR).answered
    off = mcp.search(snapshot, OFF_TOPIC)
    assert not off.answered and "do not answer" in mcp.search_text(off)
