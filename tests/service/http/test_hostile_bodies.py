"""Hostile request bodies get a 4xx with a message, never a 500: bodies nesting deeper than a
parser can recurse, and questions of control characters, bidirectional controls or unpaired
surrogates, on every endpoint that takes a question (``/ask``, ``/v1/chat/completions``, MCP)."""

from __future__ import annotations

import json

import pytest
from service_support import KESTRELMOOR, assert_json_4xx

from service.http.mcp import search
from service.http.nesting import MAX_DEPTH, json_depth
from service.search.query import InvalidQuery, clean_question

pytestmark = pytest.mark.usefixtures("hermetic")
DEEP = b"[" * 100_000
JSON = {"Content-Type": "application/json"}


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth(b'{"a": [1, {"b": []}]}') == 4
    assert json_depth(b'{"q": "[[[[{{{{ \\" [[["}') == 1
    assert json_depth(b"[]" * 1000) == 1
    assert json_depth(DEEP) == MAX_DEPTH + 1  # counted no further than the limit


@pytest.mark.parametrize("path", ["/ask", "/v1/chat/completions", "/mcp", "/index/rebuild"])
def test_a_body_nesting_too_deeply_is_a_400(client, path: str) -> None:
    response = client.post(path, content=DEEP, headers=JSON)
    assert response.status_code == 400, response.text
    body = response.json()
    message = body["error"]["message"] if path.startswith("/v1/") else body["message"]
    assert f"deeper than {MAX_DEPTH} levels" in message


def test_a_body_within_the_limit_still_works(client) -> None:
    nested: object = "x"
    for _ in range(MAX_DEPTH - 3):
        nested = [nested]
    body = {"model": "clausewise", "messages": [{"role": "user", "content": KESTRELMOOR}], "tools": nested}
    assert client.post("/v1/chat/completions", json=body).status_code == 200


def test_the_query_contract_cleans_questions() -> None:
    assert clean_question(" Who\x00 may\x1b return\u202e?\u200b ") == "Who  may  return?"
    assert clean_question("caf\u00e9 \U0001f600 \u200d") == "caf\u00e9 \U0001f600 \u200d"  # a joiner stays
    assert clean_question("lone \udc80 surrogate") == "lone  surrogate"
    assert clean_question("\x01\x02\u2066\ufeff") == ""


def test_ask_cleans_or_refuses_control_characters_and_surrogates(client) -> None:
    raw = '{"question": "Who may return\\u0000 to Kestrelmoor\\u202e after the floods?\\ud800"}'
    response = client.post("/ask", content=raw.encode(), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["question"] == "Who may return  to Kestrelmoor after the floods?"
    body = assert_json_4xx(client.post("/ask", json={"question": "\x00\x07\u202e"}), 422)
    assert "question" in body["message"]


def test_chat_cleans_or_refuses_control_characters_and_surrogates(client) -> None:
    raw = json.dumps({"model": "clausewise", "messages": [{"role": "user", "content": KESTRELMOOR + "\x00\ud800"}]})
    response = client.post("/v1/chat/completions", content=raw.encode(), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["clausewise"]["question"] == KESTRELMOOR
    refused = client.post(
        "/v1/chat/completions", json={"model": "clausewise", "messages": [{"role": "user", "content": "\x00\x1b"}]}
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "empty_message"


def test_mcp_search_cleans_or_refuses_the_question(app, client) -> None:
    snapshot = app.state.engine.snapshot
    assert search(snapshot, KESTRELMOOR + "\u202e\x00\udc80").question == KESTRELMOOR
    with pytest.raises(InvalidQuery, match="blank"):
        search(snapshot, "\x00\u2066\ufeff")
