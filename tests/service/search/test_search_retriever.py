"""service.search.retriever over the session index: filters as masks, filtered rankings equal to exact
search over the matching passages, article rows, and de-duplication after ranking."""

from __future__ import annotations

import numpy as np
import pytest
from service_docs import (
    ARTICLE_7_SENTENCE,
    CHARTER_SOURCE,
    DEPOT_SOURCE,
    FERRY_SENTENCE,
    FERRY_SOURCES,
    GUIDE_SOURCE,
    PROTOCOL_SOURCE,
)
from service_support import KESTRELMOOR

from ingest.store.lexical import tokenize
from service.search.retriever import Filters

pytestmark = pytest.mark.usefixtures("hermetic")


def rows_of(retriever, sources: set[str]) -> set[int]:
    index = retriever.index
    wanted = {doc_id for doc_id, d in index.documents.items() if d.source in sources}
    return {row for doc_id in wanted for row in index.document_rows(doc_id)}


def masked(mask) -> set[int]:
    return set(np.flatnonzero(mask).tolist())


# -- masks ------------------------------------------------------------------------------------
def test_no_filter_is_no_mask(retriever) -> None:
    assert retriever.index.mask() is None
    assert retriever.index.mask(None, None, None) is None


@pytest.mark.parametrize(
    "source, expected",
    [
        (CHARTER_SOURCE, {CHARTER_SOURCE}),
        ("treaties/*.pdf", {CHARTER_SOURCE, PROTOCOL_SOURCE}),
        ("treaties/*", {CHARTER_SOURCE, PROTOCOL_SOURCE, "treaties/ferry-annex.txt"}),
        ("sub/*.md", {GUIDE_SOURCE}),
        ("sub/depot-notes.???", {DEPOT_SOURCE}),
        ("depot-notes.txt", {DEPOT_SOURCE}),  # a bare file name matches in any folder
        ("ferry-annex.txt", set(FERRY_SOURCES)),
        ("treaties", set()),
        ("TREATIES/*.PDF", set()),  # paths are case-sensitive
    ],
)
def test_source_mask(retriever, source, expected) -> None:
    assert masked(retriever.index.mask(source=source)) == rows_of(retriever, expected)


def test_doc_id_and_section_masks(retriever) -> None:
    index = retriever.index
    charter = next(d for d, doc in index.documents.items() if doc.source == CHARTER_SOURCE)
    assert masked(index.mask(doc_ids=[charter])) == rows_of(retriever, {CHARTER_SOURCE})
    assert masked(index.mask(doc_ids=[])) == set()
    assert masked(index.mask(doc_ids=["nope"])) == set()
    by_section = masked(index.mask(section="article 2"))
    sections = {p.section for p in index.passages(sorted(by_section))}
    assert sections == {"Chapter I — General Provisions > Article 2 — Scope", "Article 2 — Notification"}
    assert masked(index.mask(source="sub/*.md", section="article 2")) == set()
    both = masked(index.mask(doc_ids=[charter], section="ARTICLE 2"))
    assert {p.section for p in index.passages(sorted(both))} == {"Chapter I — General Provisions > Article 2 — Scope"}


# -- filtered rankings are exact over the matching passages ------------------------------------
@pytest.mark.parametrize("source", [DEPOT_SOURCE, "sub/*", "treaties/*.pdf"])
def test_filtered_dense_ranking_is_exact(retriever, embedder, source) -> None:
    mask = retriever.index.mask(source=source)
    rows, scores = retriever.dense(KESTRELMOOR, mask, 50)
    candidates = np.flatnonzero(mask)
    exact = retriever.index.vectors_of(candidates) @ embedder.embed_query(KESTRELMOOR)
    order = np.argsort(-exact, kind="stable")
    assert rows.tolist() == candidates[order].tolist()
    np.testing.assert_allclose(scores, exact[order], rtol=1e-5, atol=1e-6)


def test_unfiltered_dense_ranking_is_exact(retriever, embedder) -> None:
    rows, scores = retriever.dense(KESTRELMOOR, None, 10)
    exact = retriever.index.vectors_of(range(len(retriever.index))) @ embedder.embed_query(KESTRELMOOR)
    assert rows.tolist() == np.argsort(-exact, kind="stable")[:10].tolist()
    np.testing.assert_allclose(scores, np.sort(exact)[::-1][:10], rtol=1e-5, atol=1e-6)


def test_filtered_lexical_ranking_keeps_only_matching_scored_rows(retriever) -> None:
    question = "families travelled home once the roads reopened"
    everything = retriever.index.lexical.scores(question)
    mask = retriever.index.mask(source="sub/*")
    rows, scores = retriever.lexical(question, mask, 50)
    expected = [r for r in np.argsort(-everything, kind="stable").tolist() if mask[r] and everything[r] > 0]
    assert sorted(rows.tolist()) == sorted(expected)
    np.testing.assert_allclose(scores, everything[rows], rtol=1e-6)
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_rankings_never_leave_the_mask(retriever, mode) -> None:
    mask = retriever.index.mask(source="sub/*")
    ranked = retriever.rank("water roads ferry latrines radio", mode, mask, 100)
    assert ranked and all(mask[row] for row, _ in ranked)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_empty_mask_gives_no_hits(retriever, mode) -> None:
    assert retriever.run(KESTRELMOOR, 5, mode, Filters(doc_id=[])) == []
    assert retriever.run(KESTRELMOOR, 5, mode, Filters(source="no/such/*.pdf")) == []


# -- articles ---------------------------------------------------------------------------------
def test_article_rows_cover_every_article_heading(retriever) -> None:
    index = retriever.index
    for number, expected_sections in {
        "1": {"Chapter I — General Provisions > Article 1 — Definitions", "Article 1 — Purpose"},
        "2": {"Chapter I — General Provisions > Article 2 — Scope", "Article 2 — Notification"},
        "7": {"Chapter II — Movement and Return > Article 7 — Right of return"},
        "8": {"Chapter II — Movement and Return > Article 8 — Family unity"},
        "9": {"Chapter II — Movement and Return > Article 9 — Compensation"},
        "31": {"Article 31 — Entry into force"},
    }.items():
        rows = retriever._article_rows[number].tolist()
        assert {p.section for p in index.passages(rows)} == expected_sections, number
    assert "3" not in retriever._article_rows  # "Article 31" is not an "Article 3"


def test_article_boost_lifts_the_named_article(retriever) -> None:
    ranked = retriever.rank("What does Article 8 of the Charter say?", "hybrid", None, 20)
    best = retriever.index.passages([ranked[0][0]])[0]
    assert "Article 8" in best.section
    plain = dict(retriever.rank("What does the Charter say?", "hybrid", None, 20))
    assert ranked[0][1] > plain.get(ranked[0][0], 0.0)


# -- de-duplication ---------------------------------------------------------------------------
def test_run_drops_what_rank_keeps(retriever) -> None:
    """rank() has both Sanitation passages and both ferry copies; run() keeps one of each."""
    index = retriever.index
    question = "latrine inspections, and the ferry across Lake Orrin"
    ranked = [row for row, _ in retriever.rank(question, "hybrid", None, 50)]
    by_row = dict(zip(ranked, index.passages(ranked)))
    sanitation = [r for r in ranked if by_row[r].section == "Sanitation"]
    ferries = [r for r in ranked if FERRY_SENTENCE in by_row[r].text]
    assert len(sanitation) == 2 and len(ferries) == 2

    hits = retriever.run(question, 50, "hybrid")
    kept = [h.passage for h in hits]
    assert sum(p.section == "Sanitation" for p in kept) == 1
    assert sum(FERRY_SENTENCE in p.text for p in kept) == 1
    # The better-ranked of each pair is the one kept, and the order of the rest is unchanged.
    kept_ids = [p.id for p in kept]
    assert by_row[min(sanitation, key=ranked.index)].id in kept_ids
    assert by_row[min(ferries, key=ranked.index)].id in kept_ids
    dropped = {by_row[max(sanitation, key=ranked.index)].id, by_row[max(ferries, key=ranked.index)].id}
    assert kept_ids == [by_row[r].id for r in ranked if by_row[r].id not in dropped][: len(kept_ids)]


def test_hits_carry_citation_and_highlight(retriever) -> None:
    [hit] = retriever.run(KESTRELMOOR, 1)
    assert ARTICLE_7_SENTENCE in hit.passage.text
    assert hit.rank == 1 and hit.citation.page_start == 2 and hit.citation.source == CHARTER_SOURCE
    start, end = hit.highlight
    assert ARTICLE_7_SENTENCE in hit.passage.text[start:end]
    terms = set(tokenize([KESTRELMOOR])[0])
    assert terms & set(tokenize([hit.passage.text[start:end]])[0])


# -- confidence ---------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [None, GUIDE_SOURCE])
def test_past_the_exact_limit_the_nearest_document_is_found_among_the_nearest_passages(
    retriever, embedder, monkeypatch, source
) -> None:
    """With more documents than EXACT_DOCS, only the documents of the question's nearest
    passages are compared: for these questions the nearest document is the one every
    document's comparison finds."""
    from service.search import confidence
    from service.search.query import Query

    centroids = confidence.DocumentCentroids(retriever.index)
    questions = [KESTRELMOOR, FERRY_SENTENCE, ARTICLE_7_SENTENCE, "Which depot stores the winter grain?"]
    filters = Filters(source=source) if source else None
    exact = []
    for question in questions:
        mask = retriever.index.mask(source=source)
        exact.append(centroids.nearest(embedder.embed_query(question), mask))
    monkeypatch.setattr(confidence, "EXACT_DOCS", 1)
    monkeypatch.setattr(retriever, "_centroids", centroids)  # cached_property: a fresh instance
    assert not centroids.exhaustive
    for question, expected in zip(questions, exact):
        query = Query.build(question, settings=retriever.settings, filters=filters)
        found = retriever.confidence(query, retriever.search(query))
        assert found.document_cosine == pytest.approx(expected, abs=1e-6), question
