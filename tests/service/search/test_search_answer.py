"""The pure functions of ``service.search.answer``: follow-up resolution and the extractive answer."""

from __future__ import annotations

import pytest

from ingest.types import Passage
from service.search import answer as chat
from service.search.retriever import Hit
from service.search.types import Citation


def hit(
    rank: int,
    text: str,
    highlight: tuple[int, int] | None,
    score: float,
    *,
    title: str = "Convention",
    section: str | None = "Article 1",
    pages: tuple[int | None, int | None] = (1, 1),
) -> Hit:
    passage = Passage(
        id=f"doc:{rank:04d}",
        doc_id="doc",
        ordinal=rank,
        text=text,
        char_start=0,
        char_end=len(text),
        page_start=pages[0],
        page_end=pages[1],
        section=section,
        content_hash=str(rank),
    )
    citation = Citation(
        doc_id="doc",
        title=title,
        source="doc.pdf",
        page_start=pages[0],
        page_end=pages[1],
        section=section,
        char_start=0,
        char_end=len(text),
    )
    return Hit(passage=passage, citation=citation, score=score, rank=rank, highlight=highlight)


@pytest.mark.parametrize(
    ("message", "followup"),
    [
        ("and stateless persons?", True),
        ("What about children?", True),
        ("How about the EU Charter?", True),
        ("Are there exceptions?", True),
        ("Which article?", True),
        ("Does it also cover their family members?", True),
        ("Also, is there an appeal?", True),
        ("What does Article 33 say?", False),
        ("Can a refugee be expelled to a country where his life is threatened?", False),
        ("What does the EU Charter say about protection of personal data?", False),
    ],
)
def test_what_reads_as_a_follow_up(message, followup):
    assert (chat.followup_reason(message) is not None) == followup


def test_a_follow_up_is_searched_with_the_topic_before_it():
    first = "Do refugees have access to the courts?"
    resolution = chat.resolve_question([first, "And what about stateless persons?"])
    assert resolution.followup and resolution.reason == "starts with 'and'"
    assert resolution.query == f"{first} And what about stateless persons? stateless persons"
    assert resolution.question == "And what about stateless persons?"
    # A chain keeps the opening topic; a standalone question starts afresh; history can be off.
    chain = chat.resolve_question([first, "and stateless persons?", "what about housing?"])
    assert chain.query.startswith(first) and chain.query.endswith("what about housing? housing")
    fresh = chat.resolve_question(
        [first, "and stateless persons?", "What does Article 33 of the refugee convention say?"]
    )
    assert not fresh.followup and fresh.query == "What does Article 33 of the refugee convention say?"
    alone = chat.resolve_question([first, "and stateless persons?"], use_history=False)
    assert not alone.followup and alone.query == "and stateless persons?"
    assert chat.resolve_question(["  ", first]).reason == "first question"
    with pytest.raises(ValueError):
        chat.resolve_question(["", "  "])


def test_the_query_is_cut_to_the_limit_from_the_left():
    turns = ["word " * 300 + "refugees courts", "and stateless persons?"]
    query = chat.resolve_question(turns, max_chars=100).query
    assert len(query) <= 100 and query.endswith("stateless persons")


def test_the_answer_quotes_the_highlights_with_markers_then_the_sources():
    first = "Preamble text. A refugee shall have free access to the courts. More text."
    second = "Another passage. Stateless persons shall have access to courts too."
    third = "Unrelated passage about *housing* [see annex] <b>."
    hits = [
        hit(1, first, (15, 62), 1.0, pages=(3, 4)),
        hit(2, second, (17, 67), 0.9, section=None, pages=(None, None)),
        hit(3, third, None, 0.2, title="Charter"),
    ]
    answer = chat.compose_answer(hits)
    assert answer.summary == (
        "A refugee shall have free access to the courts. [1] Stateless persons shall have access to courts too. [2]"
    )
    lines = answer.markdown.splitlines()
    assert lines[0] == answer.summary and lines[2] == "**Sources**"
    assert "[1] **Convention — Article 1 — pp. 3–4**  " in lines
    assert "[2] **Convention**  " in lines  # no section, no pages
    assert "[3] **Charter — Article 1 — p. 1**  " in lines
    assert "> Preamble text. **A refugee shall have free access to the courts.** More text." in lines
    # Passage text cannot inject Markdown or HTML.
    assert r"> Unrelated passage about \*housing\* \[see annex\] \<b>." in lines
    assert [s.number for s in answer.sources] == [1, 2, 3]


def test_a_weak_second_passage_stays_out_of_the_short_answer():
    hits = [hit(1, "One. The answer is here. Two.", (5, 24), 1.0), hit(2, "Other. Another answer. End.", (7, 22), 0.5)]
    assert chat.compose_answer(hits).summary == "The answer is here. [1]"


def test_no_highlight_and_no_hit():
    answer = chat.compose_answer([hit(1, "An opening sentence that shares nothing. " * 20, None, 1.0)])
    assert answer.summary.startswith("An opening sentence") and answer.summary.endswith("… [1]")
    none = chat.compose_answer([])
    assert none.summary == none.markdown == chat.NO_ANSWER and none.sources == []


def test_source_json_and_stream_pieces():
    one = chat.compose_answer([hit(1, "Before. The answer. After.", (8, 19), 1.0)]).sources[0]
    data = chat.source_json(one)
    assert data["highlight"] == {"start": 8, "end": 19, "text": "The answer."}
    assert data["label"] == "Convention — Article 1 — p. 1" and data["citation"]["source"] == "doc.pdf"
    text = "A few words here,\n\nthen **more** [1] words."
    pieces = list(chat.stream_pieces(text, words_per_piece=2))
    assert "".join(pieces) == text and len(pieces) > 2


def test_openai_errors_outside_the_happy_path():
    """No index loaded (503) and an unexpected exception (500) under /v1/ take OpenAI's shape;
    the rest of the app keeps its own (no model is loaded: the lifespan does not run)."""
    from fastapi.testclient import TestClient

    from ingest.settings import Settings
    from service.http.app import create_app

    app = create_app(Settings(index_dir="/nonexistent", reload_interval_s=0))

    def boom():
        raise RuntimeError("boom")

    app.add_api_route("/v1/boom", boom)
    app.add_api_route("/boom", boom)
    client = TestClient(app, raise_server_exceptions=False, base_url="http://localhost")
    loading = client.get("/v1/models")
    assert loading.status_code == 503 and loading.json()["error"]["code"] == "not_ready"
    broken = client.get("/v1/boom")
    assert broken.status_code == 500 and broken.json()["error"]["type"] == "server_error"
    assert client.get("/boom").json()["error"] == "internal_error"
    assert client.get("/readyz").status_code == 503
