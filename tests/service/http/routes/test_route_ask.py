"""POST /ask through the real app: answer shape, citations, highlights, filters, article
references, de-duplication, and a 4xx JSON message for every bad request."""

from __future__ import annotations

import itertools
import json

import pytest
from fastapi.testclient import TestClient
from service_docs import (
    ARTICLE_7_SENTENCE,
    ARTICLE_8_SENTENCE,
    ARTICLE_9_SENTENCE,
    CHARTER_SOURCE,
    CHARTER_TITLE,
    DEPOT_SECTIONS,
    DEPOT_SOURCE,
    FERRY_SENTENCE,
    FERRY_SOURCES,
    GUIDE_SOURCE,
    PROTOCOL_ARTICLE_2_SENTENCE,
    PROTOCOL_SOURCE,
    WATER_SENTENCE,
    write_pdf,
)
from service_support import KESTRELMOOR, assert_json_4xx, build_index, engine_for, make_ask

from service.http.app import create_app

pytestmark = pytest.mark.usefixtures("hermetic")

MODES = ["hybrid", "dense", "lexical"]
PASSAGE_KEYS = {"id", "rank", "score", "text", "highlight", "citation"}
CITATION_KEYS = {
    "doc_id",
    "title",
    "source",
    "page_start",
    "page_end",
    "section",
    "char_start",
    "char_end",
    "ocr",
    "url",
}

# Questions whose answers sit in one known sentence of one known document.
ANSWERS = [
    (KESTRELMOOR, CHARTER_SOURCE, ARTICLE_7_SENTENCE),
    (
        "Within how many days must separated children be reunited with their parents?",
        CHARTER_SOURCE,
        ARTICLE_8_SENTENCE,
    ),
    ("Which tribunal assesses compensation for destroyed homes?", CHARTER_SOURCE, ARTICLE_9_SENTENCE),
    ("How many litres of water per person per day must a settlement provide?", GUIDE_SOURCE, WATER_SENTENCE),
    ("When does the ferry across Lake Orrin depart?", None, FERRY_SENTENCE),
    (
        "How often do convoys report their position by radio?",
        DEPOT_SOURCE,
        DEPOT_SECTIONS["Radio Protocol"].split(". ")[0],
    ),
    (
        "How long before opening a new sluice on the river Tamsel must neighbours be notified?",
        PROTOCOL_SOURCE,
        PROTOCOL_ARTICLE_2_SENTENCE,
    ),
]


def sources(answer: dict) -> set[str]:
    return {p["citation"]["source"] for p in answer["passages"]}


# -- the answer ---------------------------------------------------------------------------------
def test_answer_has_the_contract_shape(ask, built) -> None:
    answer = ask(f"  {KESTRELMOOR}  ")
    assert set(answer) == {"question", "passages", "confidence", "answered", "index_version", "took_ms"}
    assert answer["question"] == KESTRELMOOR
    assert answer["index_version"] == built.version
    assert isinstance(answer["took_ms"], (int, float)) and answer["took_ms"] >= 0
    passages = answer["passages"]
    assert len(passages) == 5  # the default top_k
    assert [p["rank"] for p in passages] == [1, 2, 3, 4, 5]
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert len({p["id"] for p in passages}) == 5
    for p in passages:
        assert set(p) == PASSAGE_KEYS
        assert set(p["citation"]) == CITATION_KEYS
        assert isinstance(p["text"], str) and p["text"]
        c = p["citation"]
        assert c["char_end"] - c["char_start"] == len(p["text"])
        if p["highlight"] is not None:
            assert set(p["highlight"]) == {"start", "end", "text"}


@pytest.mark.parametrize("question, source, sentence", ANSWERS, ids=lambda v: str(v)[:30])
def test_best_passage_holds_the_answer_and_highlights_its_sentence(ask, question, source, sentence) -> None:
    best = ask(question)["passages"][0]
    if source is not None:
        assert best["citation"]["source"] == source
    assert sentence in best["text"]
    highlight = best["highlight"]
    assert highlight is not None
    assert best["text"][highlight["start"] : highlight["end"]] == highlight["text"]
    assert sentence in highlight["text"]


@pytest.mark.parametrize("mode", MODES)
def test_highlights_lie_inside_their_passage(ask, mode) -> None:
    for question, _, _ in ANSWERS:
        for p in ask(question, top_k=10, mode=mode)["passages"]:
            h = p["highlight"]
            if h is None:
                continue
            assert 0 <= h["start"] < h["end"] <= len(p["text"])
            assert p["text"][h["start"] : h["end"]] == h["text"]
            assert h["text"] == h["text"].strip()  # whole sentences, no dangling whitespace


def test_no_highlight_when_the_question_has_no_content_word(ask) -> None:
    passages = ask("What is it?", mode="dense")["passages"]
    assert passages
    assert all(p["highlight"] is None for p in passages)


def test_citations_point_at_page_and_section(ask, doc_ids) -> None:
    expected = {
        KESTRELMOOR: (ARTICLE_7_SENTENCE, 2, ["Chapter II — Movement and Return", "Article 7 — Right of return"]),
        "Which family members must be kept together during evacuation?": (
            ARTICLE_8_SENTENCE,
            3,
            ["Article 8 — Family unity"],
        ),
        "Who assesses compensation for homes that were destroyed?": (
            ARTICLE_9_SENTENCE,
            3,
            ["Article 9 — Compensation"],
        ),
        "Who counts as a displaced person and what is habitual residence?": (
            "six months before departure",
            1,
            ["Chapter I — General Provisions", "Article 1 — Definitions"],
        ),
    }
    for question, (sentence, page, section_parts) in expected.items():
        best = ask(question, filters={"source": CHARTER_SOURCE})["passages"][0]
        assert sentence in best["text"], question
        c = best["citation"]
        assert (c["doc_id"], c["title"], c["source"]) == (doc_ids[CHARTER_SOURCE], CHARTER_TITLE, CHARTER_SOURCE)
        assert (c["page_start"], c["page_end"]) == (page, page), question
        for part in section_parts:
            assert part in c["section"], (question, c["section"])


def test_unpaged_documents_cite_section_without_pages(ask) -> None:
    best = ask("How many litres of water per person per day?")["passages"][0]
    c = best["citation"]
    assert c["source"] == GUIDE_SOURCE
    assert c["page_start"] is None and c["page_end"] is None
    assert c["section"] == "Water Supply"


# -- top_k and modes ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("top_k", [1, 3, 50])
def test_top_k_bounds_the_answer(ask, mode, top_k) -> None:
    passages = ask("Which rights do displaced families have when they return home?", top_k=top_k, mode=mode)["passages"]
    assert 1 <= len(passages) <= top_k
    if top_k <= 3 and mode != "lexical":
        assert len(passages) == top_k
    assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1))


def test_top_k_50_returns_many_distinct_passages(ask, built) -> None:
    passages = ask("displaced families returning home", top_k=50, mode="dense")["passages"]
    assert len(passages) > 30  # most of the corpus: only near-duplicates are left out
    assert len({p["id"] for p in passages}) == len(passages)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_finds_a_distinctive_fact(ask, mode) -> None:
    best = ask("When does the ferry across Lake Orrin depart?", mode=mode)["passages"][0]
    assert FERRY_SENTENCE in best["text"]


# -- filters ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source, expected",
    [
        (DEPOT_SOURCE, {DEPOT_SOURCE}),  # exact relative path
        ("sub/*.md", {GUIDE_SOURCE}),  # glob
        ("treaties/*.pdf", {CHARTER_SOURCE, PROTOCOL_SOURCE}),
        ("sub/*", {GUIDE_SOURCE, DEPOT_SOURCE, "sub/ferry-annex.txt"}),
        ("archive/return-casebook.txt", {"archive/return-casebook.txt"}),
    ],
)
def test_source_filter(ask, source, expected) -> None:
    answer = ask("What must be provided and by whom?", top_k=50, filters={"source": source})
    assert sources(answer) == expected


def test_source_filter_matching_nothing_is_an_empty_answer(ask) -> None:
    assert ask(KESTRELMOOR, filters={"source": "nowhere/*.pdf"})["passages"] == []


def test_doc_id_filter(ask, doc_ids) -> None:
    wanted = [doc_ids[GUIDE_SOURCE], doc_ids[PROTOCOL_SOURCE]]
    answer = ask("What must be provided and by whom?", top_k=50, filters={"doc_id": wanted})
    assert {p["citation"]["doc_id"] for p in answer["passages"]} == set(wanted)
    assert ask(KESTRELMOOR, filters={"doc_id": ["no-such-document"]})["passages"] == []
    assert ask(KESTRELMOOR, filters={"doc_id": []})["passages"] == []


@pytest.mark.parametrize("section", ["water supply", "WATER SUPPLY", "ater Sup"])
def test_section_filter_is_a_case_insensitive_substring(ask, section) -> None:
    passages = ask("How far may a water point be from a shelter?", top_k=50, filters={"section": section})["passages"]
    assert passages
    assert {p["citation"]["section"] for p in passages} == {"Water Supply"}


def test_section_filter_on_article_headings(ask) -> None:
    passages = ask("return", top_k=50, filters={"section": "article 7"})["passages"]
    assert passages
    assert all("Article 7" in p["citation"]["section"] for p in passages)
    assert ARTICLE_7_SENTENCE in passages[0]["text"]


def test_filters_combine_with_and(ask, doc_ids) -> None:
    both_articles_2 = {
        (CHARTER_SOURCE, "Chapter I — General Provisions > Article 2 — Scope"),
        (PROTOCOL_SOURCE, "Article 2 — Notification"),
    }
    answer = ask("scope and notification", top_k=50, filters={"source": "treaties/*.pdf", "section": "article 2"})
    assert {(p["citation"]["source"], p["citation"]["section"]) for p in answer["passages"]} == both_articles_2
    answer = ask(
        "scope and notification",
        top_k=50,
        filters={"doc_id": [doc_ids[PROTOCOL_SOURCE], doc_ids[GUIDE_SOURCE]], "section": "article 2"},
    )
    assert {(p["citation"]["source"], p["citation"]["section"]) for p in answer["passages"]} == {
        (PROTOCOL_SOURCE, "Article 2 — Notification")
    }
    # Contradictory filters match nothing rather than ignoring one of them.
    assert ask(KESTRELMOOR, filters={"doc_id": [doc_ids[CHARTER_SOURCE]], "source": "sub/*.md"})["passages"] == []
    # An explicit null or empty filter object filters nothing.
    assert (
        ask(KESTRELMOOR, filters=None)["passages"]
        == ask(KESTRELMOOR, filters={})["passages"]
        == ask(KESTRELMOOR)["passages"]
    )


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_filtering_happens_before_ranking(ask, doc_ids, mode) -> None:
    """The Kestrelmoor question's best passages are the Charter's and the casebook's; the depot
    notes rank last. Filtered to the depot notes, it still gets the best top_k of them."""
    unfiltered = ask(KESTRELMOOR, top_k=20, mode=mode)
    assert DEPOT_SOURCE not in sources(unfiltered)  # so filtering after ranking would find nothing
    depot = {"doc_id": [doc_ids[DEPOT_SOURCE]]}
    for top_k, expected in [(1, 1), (3, 3), (4, 4), (10, 4)]:  # the depot notes hold 4 passages
        passages = ask(KESTRELMOOR, top_k=top_k, mode=mode, filters=depot)["passages"]
        assert len(passages) == expected
        assert {p["citation"]["source"] for p in passages} == {DEPOT_SOURCE}
        assert [p["rank"] for p in passages] == list(range(1, expected + 1))
    by_source = ask(KESTRELMOOR, top_k=4, mode=mode, filters={"source": DEPOT_SOURCE})["passages"]
    assert [p["id"] for p in by_source] == [p["id"] for p in passages]


def test_lexical_filtering_happens_before_ranking(ask) -> None:
    """ "roads" is in all thirty casebook notes and in one depot section; the casebook fills any
    unfiltered top 20, and the filtered query still finds the depot's one passage."""
    question = "families travelled home once the roads reopened"
    assert DEPOT_SOURCE not in sources(ask(question, top_k=20, mode="lexical"))
    passages = ask(question, top_k=5, mode="lexical", filters={"source": DEPOT_SOURCE})["passages"]
    assert [p["citation"]["section"] for p in passages] == ["Vehicle Maintenance"]
    assert "roads" in passages[0]["highlight"]["text"]


# -- article references -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question, source, section",
    [
        ("What does Article 8 of the Charter say?", CHARTER_SOURCE, "Article 8 — Family unity"),
        ("What does Article 2 of the Water Protocol require?", PROTOCOL_SOURCE, "Article 2 — Notification"),
        ("What does Article 31 of the Water Protocol provide?", PROTOCOL_SOURCE, "Article 31 — Entry into force"),
        ("Article 31", PROTOCOL_SOURCE, "Article 31 — Entry into force"),
        ("What does Article 2 of the Charter on Displacement and Return cover?", CHARTER_SOURCE, "Article 2 — Scope"),
        ("Summarise Art. 9 of the Charter", CHARTER_SOURCE, "Article 9 — Compensation"),
        ("article 1 of the charter", CHARTER_SOURCE, "Article 1 — Definitions"),
    ],
)
def test_question_naming_an_article_finds_it(ask, question, source, section) -> None:
    best = ask(question)["passages"][0]
    assert best["citation"]["source"] == source
    assert best["citation"]["section"].endswith(section)


# -- near-duplicates ----------------------------------------------------------------------------
def _overlap(a: dict, b: dict) -> int:
    return min(a["char_end"], b["char_end"]) - max(a["char_start"], b["char_start"])


def test_hybrid_drops_overlapping_chunks(ask, app, doc_ids) -> None:
    """The Sanitation section is cut into two passages, the second mostly a repeat of the end
    of the first; a question matching both gets only one of them."""
    index = app.state.engine.snapshot.index
    guide = index.document_passages(doc_ids[GUIDE_SOURCE])
    sanitation = [p for p in guide if p.section == "Sanitation"]
    assert len(sanitation) == 2
    first, second = sanitation
    overlap = first.char_end - second.char_start
    assert overlap > 0.5 * min(len(first.text), len(second.text))  # the premise of this test

    for question in ["How often are latrine inspections held?", "latrines soap handwashing sanitation"]:
        passages = ask(question, top_k=50)["passages"]
        ids = [p["id"] for p in passages]
        assert (first.id in ids) != (second.id in ids), question
        for a, b in itertools.combinations(passages, 2):
            ca, cb = a["citation"], b["citation"]
            if ca["doc_id"] == cb["doc_id"]:
                shorter = min(ca["char_end"] - ca["char_start"], cb["char_end"] - cb["char_start"])
                assert _overlap(ca, cb) <= 0.5 * shorter, (a["id"], b["id"])


def test_hybrid_drops_verbatim_repeats_across_documents(ask) -> None:
    passages = ask("When does the ferry across Lake Orrin depart?", top_k=10)["passages"]
    ferry = [p for p in passages if FERRY_SENTENCE in p["text"]]
    assert len(ferry) == 1
    assert len({p["text"] for p in passages}) == len(passages)
    # Each copy is still reachable when the filter singles it out.
    for source in FERRY_SOURCES:
        best = ask("When does the ferry across Lake Orrin depart?", filters={"source": source})["passages"][0]
        assert best["citation"]["source"] == source
        assert FERRY_SENTENCE in best["text"]


# -- bad requests -------------------------------------------------------------------------------
OK = {"question": "When does the ferry depart?"}
BAD_BODIES = [
    ("missing question", {}, "question"),
    ("empty question", {"question": ""}, "question"),
    ("blank question", {"question": " \n\t "}, "question"),
    ("over-long question", {"question": "x" * 2001}, "2000"),
    ("null question", {"question": None}, "question"),
    ("number question", {"question": 42}, "question"),
    ("list question", {"question": ["a", "b"]}, "question"),
    ("top_k 0", {**OK, "top_k": 0}, "top_k"),
    ("top_k 51", {**OK, "top_k": 51}, "top_k"),
    ("top_k -1", {**OK, "top_k": -1}, "top_k"),
    ("top_k huge", {**OK, "top_k": 10**30}, "top_k"),
    ("top_k word", {**OK, "top_k": "five"}, "top_k"),
    ("top_k fraction", {**OK, "top_k": 2.5}, "top_k"),
    ("top_k null", {**OK, "top_k": None}, "top_k"),
    ("top_k boolean", {**OK, "top_k": True}, "top_k"),
    ("top_k list", {**OK, "top_k": [5]}, "top_k"),
    ("unknown mode", {**OK, "mode": "fuzzy"}, "mode"),
    ("mode case", {**OK, "mode": "Hybrid"}, "mode"),
    ("mode number", {**OK, "mode": 1}, "mode"),
    ("unknown filter", {**OK, "filters": {"author": "Smith"}}, "author"),
    ("filters string", {**OK, "filters": "treaties/*.pdf"}, "filters"),
    ("filters list", {**OK, "filters": [{"source": "a"}]}, "filters"),
    ("doc_id string", {**OK, "filters": {"doc_id": "a"}}, "doc_id"),
    ("doc_id numbers", {**OK, "filters": {"doc_id": [1, 2]}}, "doc_id"),
    ("source list", {**OK, "filters": {"source": ["a", "b"]}}, "source"),
    ("section number", {**OK, "filters": {"section": 7}}, "section"),
    ("unknown field", {**OK, "colour": "red"}, "colour"),
]
BAD_RAW = [
    ("truncated JSON", b'{"question": "x"', "application/json"),
    ("not JSON", b"question=what", "application/json"),
    ("trailing comma", b'{"question": "x",}', "application/json"),
    ("invalid UTF-8", b'{"question": "\xff\xfe"}', "application/json"),
    ("empty body", b"", "application/json"),
    ("JSON null", b"null", "application/json"),
    ("JSON list", b'["question"]', "application/json"),
    ("JSON string", b'"When does the ferry depart?"', "application/json"),
    ("form body", b"question=When+does+the+ferry+depart", "application/x-www-form-urlencoded"),
    ("plain text body", b"When does the ferry depart?", "text/plain"),
]


@pytest.mark.parametrize("body, needle", [(b, n) for _, b, n in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES])
def test_bad_request_body_gets_422_with_a_message(client, body, needle) -> None:
    message = assert_json_4xx(client.post("/ask", json=body), 422)["message"]
    assert needle in message


@pytest.mark.parametrize("content, content_type", [(c, t) for _, c, t in BAD_RAW], ids=[i for i, _, _ in BAD_RAW])
def test_malformed_body_gets_4xx_with_a_message(client, content, content_type) -> None:
    assert_json_4xx(client.post("/ask", content=content, headers={"content-type": content_type}))


def test_question_at_the_length_limit_is_answered(client) -> None:
    question = ("How often does the ferry cross the lake? " * 60)[:2000]
    assert len(question) == 2000
    response = client.post("/ask", json={"question": question, "top_k": 1})
    assert response.status_code == 200, response.text
    assert len(response.json()["passages"]) == 1
    # Surrounding whitespace does not count against the limit.
    assert client.post("/ask", json={"question": f"  {question}\n "}).status_code == 200


def test_wrong_method_gets_405_with_a_message(client) -> None:
    assert_json_4xx(client.get("/ask"), 405)


def test_odd_but_valid_questions_are_answered(ask) -> None:
    for question in [
        "?",
        "the of and",
        "Article",
        "Article 999 of nothing",
        "Kestrelmoor " * 150,
        "réfugiés — droit au retour ✈",
        "\u0000 null byte",
        "SELECT * FROM passages;",
    ]:
        answer = ask(question, top_k=3)
        assert len(answer["passages"]) <= 3
        json.dumps(answer)


# -- a treaty whose pages begin with article headings -------------------------------------------
@pytest.fixture(scope="module")
def article_pages_ask(tmp_path_factory, embedder):
    """Every page of this PDF opens with an "Article N" heading, as treaty pages often do;
    the headings must not be mistaken for running headers (same text bar the number)."""
    root = tmp_path_factory.mktemp("article-pages")
    pages = [
        ["Article 1", "Purpose", "This Accord protects persons displaced by the drought in the northern provinces."],
        ["Article 2", "Registration", "Registration offices shall open in every district capital within ten days."],
        ["Article 3", "Return", "Displaced herders may return to the Saltmarsh grazing lands once the wells refill."],
        ["Article 4", "Review", "The parties shall review this Accord every two years at a public meeting."],
    ]
    write_pdf(root / "docs" / "drought-accord.pdf", pages, "Drought Accord")
    built = build_index(root / "docs", root / "index", embedder)
    with TestClient(
        create_app(built.settings, engine_for(built.settings, embedder)), base_url="http://localhost"
    ) as client:
        yield make_ask(client)


@pytest.mark.parametrize(
    "question, page, section",
    [
        ("When may herders return to the Saltmarsh grazing lands?", 3, "Article 3 — Return"),
        ("Where do registration offices open?", 2, "Article 2 — Registration"),
        ("What does Article 4 of the Drought Accord say?", 4, "Article 4 — Review"),
    ],
)
def test_citations_when_pages_begin_with_article_headings(article_pages_ask, question, page, section) -> None:
    best = article_pages_ask(question)["passages"][0]
    c = best["citation"]
    assert (c["page_start"], c["page_end"]) == (page, page)
    assert c["section"] == section
