"""The official ``openai`` Python client against a real running clausewise server."""

from __future__ import annotations

import pytest
from test_chat_server import CLIMATE_SOURCE, PDF_SOURCE, PDF_TITLE, STATELESS_SOURCE, chat_server

pytestmark = pytest.mark.live

openai = pytest.importorskip("openai", reason="the openai client is a test dependency: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    server = chat_server(tmp_path_factory, embedder)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="anything", timeout=60, max_retries=0) as client:
        yield client


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["clausewise", "clausewise-dense", "clausewise-lexical"]
    assert client.models.retrieve("clausewise").owned_by == "clausewise"


def test_a_plain_completion_cites_the_right_document(client):
    response = client.chat.completions.create(
        model="clausewise",
        messages=[{"role": "user", "content": "Do displaced persons have free access to the courts of law?"}],
    )
    content = response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert "free access to the courts of law" in content.splitlines()[0]
    assert f"[1] **{PDF_TITLE}" in content and "Article 16" in content
    # The structured citations ride along as an extra field.
    citations = response.model_extra["citations"]
    assert citations[0]["citation"]["source"] == PDF_SOURCE and citations[0]["citation"]["page_start"] == 1


def test_a_streamed_completion_cites_the_right_document(client):
    stream = client.chat.completions.create(
        model="clausewise",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "What is the ultimate objective of the mountain climate convention?"}],
    )
    pieces, finish, usage, citations = [], None, None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        if chunk.model_extra.get("citations"):
            citations = chunk.model_extra["citations"]
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            finish = choice.finish_reason or finish
    text = "".join(pieces)
    assert len(pieces) > 5 and finish == "stop" and usage.total_tokens > 0
    assert "stabilization of glacier melt" in text.splitlines()[0]
    assert "Framework Convention on Mountain Climate" in text and "Article 2" in text
    assert citations[0]["citation"]["source"] == CLIMATE_SOURCE


def test_a_follow_up_conversation(client):
    response = client.chat.completions.create(
        model="clausewise",
        messages=[
            {"role": "user", "content": "Do displaced persons have free access to the courts of law?"},
            {"role": "assistant", "content": "A displaced person shall have free access to the courts of law [1]"},
            {"role": "user", "content": "What about stateless travellers?"},
        ],
        extra_body={"top_k": 2},
    )
    citations = response.model_extra["citations"]
    assert len(citations) == 2 and citations[0]["citation"]["source"] == STATELESS_SOURCE
    assert response.model_extra["clausewise"]["followup"] is True


def test_errors_raise_the_clients_own_exceptions(client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="clausewise", messages=[])
    assert empty.value.param == "messages"
