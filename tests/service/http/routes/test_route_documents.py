"""GET /documents, /documents/{doc_id} and /passages/{id} (with neighbours)."""

from __future__ import annotations

import pytest
from service_docs import (
    ALL_SOURCES,
    ARTICLE_7_SENTENCE,
    ARTICLE_8_SENTENCE,
    CHARTER_SOURCE,
    CHARTER_TITLE,
    DEPOT_SOURCE,
    GUIDE_SOURCE,
    GUIDE_TITLE,
    PROTOCOL_SOURCE,
    PROTOCOL_TITLE,
)
from service_support import KESTRELMOOR, assert_json_4xx

pytestmark = pytest.mark.usefixtures("hermetic")

DOCUMENT_KEYS = {"doc_id", "title", "source", "kind", "pages", "passage_count"}


@pytest.fixture(scope="module")
def documents(client) -> dict[str, dict]:
    response = client.get("/documents")
    assert response.status_code == 200
    return {d["source"]: d for d in response.json()}


def test_documents_lists_every_ingested_file(client, documents, built) -> None:
    listed = client.get("/documents").json()
    assert [d["source"] for d in listed] == ALL_SOURCES  # sorted by source
    assert all(set(d) == DOCUMENT_KEYS for d in listed)
    assert len({d["doc_id"] for d in listed}) == len(listed)
    assert sum(d["passage_count"] for d in listed) == built.passages
    assert all(d["passage_count"] >= 1 for d in listed)


@pytest.mark.parametrize(
    "source, title, kind, pages, passages",
    [
        (CHARTER_SOURCE, CHARTER_TITLE, "pdf", 3, None),
        (PROTOCOL_SOURCE, PROTOCOL_TITLE, "pdf", 1, None),
        (GUIDE_SOURCE, GUIDE_TITLE, "markdown", None, None),
        (DEPOT_SOURCE, "Depot Operations Notes", "text", None, 4),
    ],
)
def test_document_details(client, documents, source, title, kind, pages, passages) -> None:
    listed = documents[source]
    assert (listed["title"], listed["kind"], listed["pages"]) == (title, kind, pages)
    if passages is not None:
        assert listed["passage_count"] == passages
    response = client.get(f"/documents/{listed['doc_id']}")
    assert response.status_code == 200
    assert response.json() == listed


@pytest.mark.parametrize("doc_id", ["no-such-document", "treaties", "%2e%2e", "a b", "x" * 300])
def test_unknown_document_is_a_404_with_a_message(client, doc_id) -> None:
    body = assert_json_4xx(client.get(f"/documents/{doc_id}"), 404)
    assert body["error"] == "not_found"


def _article_7(ask) -> dict:
    best = ask(KESTRELMOOR, filters={"source": CHARTER_SOURCE})["passages"][0]
    assert ARTICLE_7_SENTENCE in best["text"]
    return best


def test_passage_matches_what_ask_returned(client, ask) -> None:
    hit = _article_7(ask)
    response = client.get(f"/passages/{hit['id']}")
    assert response.status_code == 200
    passage = response.json()
    assert set(passage) == {"id", "text", "citation", "previous", "next"}
    assert (passage["id"], passage["text"], passage["citation"]) == (hit["id"], hit["text"], hit["citation"])


def test_passage_neighbours(client, ask) -> None:
    hit = _article_7(ask)
    passage = client.get(f"/passages/{hit['id']}").json()  # context=1 by default
    [before], [after] = passage["previous"], passage["next"]
    assert "Article 2 — Scope" in before["citation"]["section"] and before["citation"]["page_start"] == 1
    assert ARTICLE_8_SENTENCE in after["text"] and after["citation"]["page_start"] == 3
    for neighbour in (before, after):
        assert set(neighbour) == {"id", "text", "citation"}
        assert neighbour["citation"]["doc_id"] == hit["citation"]["doc_id"]
    assert before["citation"]["char_end"] <= hit["citation"]["char_end"]
    assert after["citation"]["char_start"] >= hit["citation"]["char_start"]

    wide = client.get(f"/passages/{hit['id']}", params={"context": 10}).json()
    assert [p["id"] for p in wide["previous"]][-1] == before["id"]
    assert wide["next"][0]["id"] == after["id"]
    assert len(wide["previous"]) == 3 and len(wide["next"]) == 2  # the Charter holds 6 passages

    alone = client.get(f"/passages/{hit['id']}", params={"context": 0}).json()
    assert alone["previous"] == [] and alone["next"] == []


def test_walking_next_visits_a_whole_document_in_order(client, documents) -> None:
    document = documents[CHARTER_SOURCE]
    ask_first = client.post(
        "/ask", json={"question": "Charter preamble", "top_k": 50, "filters": {"doc_id": [document["doc_id"]]}}
    ).json()["passages"]
    first = min(ask_first, key=lambda p: p["citation"]["char_start"])
    assert client.get(f"/passages/{first['id']}").json()["previous"] == []  # the first passage
    seen, current = [], first["id"]
    while current is not None:
        passage = client.get(f"/passages/{current}").json()
        seen.append(passage)
        current = passage["next"][0]["id"] if passage["next"] else None
    assert len(seen) == document["passage_count"]
    starts = [p["citation"]["char_start"] for p in seen]
    assert starts == sorted(starts)
    pages = [p["citation"]["page_start"] for p in seen]
    assert pages == sorted(pages) and pages[0] == 1 and seen[-1]["citation"]["page_end"] == 3


@pytest.mark.parametrize("passage_id", ["no-such-passage", "treaties--return-charter.pdf:9999", "0", "%00"])
def test_unknown_passage_is_a_404_with_a_message(client, passage_id) -> None:
    assert_json_4xx(client.get(f"/passages/{passage_id}"), 404)


@pytest.mark.parametrize("context", ["-1", "11", "two", "1.5"])
def test_bad_context_is_a_422_with_a_message(client, ask, context) -> None:
    hit = _article_7(ask)
    body = assert_json_4xx(client.get(f"/passages/{hit['id']}", params={"context": context}), 422)
    assert "context" in body["message"]
