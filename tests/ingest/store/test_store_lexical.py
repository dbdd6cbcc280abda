"""BM25 over segments: the same scores as bm25s over one index (what the index used before
segments), and the same scores however the corpus is split into segments and deletions."""

from __future__ import annotations

import itertools
from pathlib import Path

import bm25s
import numpy as np
import pytest
from bm25s.stopwords import STOPWORDS_EN

from ingest.settings import Settings
from ingest.store import lexical
from ingest.store.lexical import LexicalIndex, Postings, tokenize, tokenize_one

TEXTS = [
    "Every refugee has duties to the country in which he finds himself.",
    "The Contracting States shall not expel a refugee lawfully in their territory.",
    "No Contracting State shall expel or return a refugee to the frontiers of territories.",
    "Refugees shall enjoy freedom of religion and freedom of religious education.",
    "Article 3 applies without discrimination as to race, religion or country of origin.",
    "The unity of the family, the natural and fundamental group unit of society, is an essential right.",
    "Stateless persons shall be issued identity papers; identity papers identity.",
    "",
    "Climate change and its adverse effects are a common concern of humankind.",
]
QUESTIONS = ["expel a refugee", "freedom of religion religion", "identity papers", "climate", "article 3", "zebra"]


def test_scores_are_bm25s_lucene_scores() -> None:
    reference = bm25s.BM25()
    reference.index(tokenize(TEXTS), show_progress=False)
    postings = Postings.build(tokenize(TEXTS))
    index = LexicalIndex([(postings, np.arange(len(TEXTS)))], len(TEXTS))
    for question in QUESTIONS:
        ids = reference.get_tokens_ids(tokenize([question])[0])
        expected = reference.get_scores_from_ids(ids) if ids else np.zeros(len(TEXTS))
        np.testing.assert_allclose(index.scores(question), expected, rtol=1e-5, atol=1e-6)


def test_stop_words_are_bm25s_english_ones() -> None:
    """The stop list is written out (serving must not import bm25s, which imports scipy); it
    must stay bm25s's, or "the" and "of" would start scoring."""
    assert frozenset(STOPWORDS_EN) == lexical._STOPWORDS
    assert tokenize_one(" ".join(STOPWORDS_EN)) == []
    assert tokenize_one("refugee status of persons") == ["refuge", "status", "person"]


def _split(texts: list[str], cuts: list[int]) -> list[tuple[Postings, list[str]]]:
    bounds = [0, *cuts, len(texts)]
    return [(Postings.build(tokenize(texts[a:b])), texts[a:b]) for a, b in itertools.pairwise(bounds)]


def test_segments_with_deletions_score_as_one_index_of_the_live_passages(tmp_path: Path) -> None:
    """Three segments, one of whose passages were replaced by a later segment: every live
    passage scores exactly as in a single index built of the live passages alone."""
    stale = ["Refugee refugee refugee: an old text withdrawn later.", "Religion, withdrawn too."]
    corpus = TEXTS[:4] + stale + TEXTS[4:]
    parts = _split(corpus, [3, 7])
    dead = {4, 5}  # the stale passages, in the second segment
    segments, live = [], 0
    start = 0
    for n, (postings, texts) in enumerate(parts):
        postings.save(tmp_path / str(n))  # as written, and read back memory-mapped
        mapping = np.full(len(texts), -1, dtype=np.int64)
        for i in range(len(texts)):
            if start + i not in dead:
                mapping[i], live = live, live + 1
        segments.append((Postings.load(tmp_path / str(n)), mapping))
        start += len(texts)
    split = LexicalIndex(segments, live)
    live_texts = [t for i, t in enumerate(corpus) if i not in dead]
    whole = LexicalIndex([(Postings.build(tokenize(live_texts)), np.arange(len(live_texts)))], len(live_texts))
    assert split.average_length == pytest.approx(whole.average_length)
    for question in [*QUESTIONS, "withdrawn"]:
        np.testing.assert_allclose(split.scores(question), whole.scores(question), rtol=1e-6, atol=1e-7)
    (refuge,), (withdrawn,) = tokenize(["refugees", "withdrawn"])
    holding = sum(refuge in words for words in tokenize(live_texts))
    assert split.document_frequencies([refuge, withdrawn]) == {refuge: holding, withdrawn: 0}
    assert split.idf([withdrawn]) == {}  # no live passage holds it


def test_merged_postings_are_the_postings_of_the_live_rows() -> None:
    """What a merge does: triplets re-used, rows renumbered, deleted rows dropped."""
    first, second = Postings.build(tokenize(TEXTS[:5])), Postings.build(tokenize(TEXTS[5:]))
    vocab: dict[str, int] = {}
    terms, rows, tfs = [], [], []
    for offset, postings, keep in ((0, first, [0, 2, 3, 4]), (4, second, [0, 1, 2, 3])):
        t, r, f = postings.triplets()
        local = sorted(postings.vocab.items(), key=lambda item: item[1])
        to_merged = np.array([vocab.setdefault(term, len(vocab)) for term, _ in local])
        renumber = np.full(len(postings.lengths), -1)
        renumber[keep] = offset + np.arange(len(keep))
        alive = renumber[r] >= 0
        terms.append(to_merged[t[alive]])
        rows.append(renumber[r[alive]])
        tfs.append(f[alive])
    lengths = np.concatenate([first.lengths[[0, 2, 3, 4]], second.lengths])
    merged = Postings.from_triplets(vocab, np.concatenate(terms), np.concatenate(rows), np.concatenate(tfs), lengths)
    live = [TEXTS[i] for i in (0, 2, 3, 4)] + TEXTS[5:]
    fresh = Postings.build(tokenize(live))
    for question in QUESTIONS:
        a = LexicalIndex([(merged, np.arange(len(live)))], len(live)).scores(question)
        b = LexicalIndex([(fresh, np.arange(len(live)))], len(live)).scores(question)
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_warming_scores_the_commonest_words_first_within_its_budget_and_changes_no_score() -> None:
    texts = ["harbour fee at night", "harbour toll", "harbour master", "forest trail", "forest ranger", "tide"]
    postings = Postings.build(tokenize(texts))
    index = LexicalIndex([(postings, np.arange(len(texts)))], len(texts))
    cold = LexicalIndex([(postings, np.arange(len(texts)))], len(texts))
    # A budget one word's row fills: the commonest word, and only it.
    assert index.warm(budget=1) == 1
    assert list(index._impacts) == ["harbour"]
    assert index.warm(budget=1 << 20) == len(postings.vocab)  # everything fits: every word scored once
    assert list(index._impacts)[1] == "forest"  # the second commonest (two passages) next
    for question in ["harbour toll at night", "forest trail", "tide harbour", "zebra"]:
        np.testing.assert_array_equal(index.scores(question), cold.scores(question))


def test_the_cache_stays_within_its_bytes_and_warming_fills_three_quarters_of_it() -> None:
    texts = ["harbour fee at night", "harbour toll", "harbour master", "forest trail", "forest ranger", "tide"]
    postings = Postings.build(tokenize(texts))
    posting = 8  # a cached posting: its int32 row and float32 contribution
    cold = LexicalIndex([(postings, np.arange(len(texts)))], len(texts))
    small = LexicalIndex([(postings, np.arange(len(texts)))], len(texts), cache_bytes=3 * posting)
    np.testing.assert_array_equal(small.scores("harbour"), cold.scores("harbour"))
    np.testing.assert_array_equal(small.scores("forest"), cold.scores("forest"))  # harbour no longer fits beside it
    assert list(small._impacts) == ["forest"] and small._impacts_bytes <= 3 * posting
    np.testing.assert_array_equal(small.scores("harbour forest"), cold.scores("harbour forest"))
    # Three quarters of four postings: the commonest word (three postings), then no more.
    warmed = LexicalIndex([(postings, np.arange(len(texts)))], len(texts), cache_bytes=4 * posting)
    assert warmed.warm() == 1 and list(warmed._impacts) == ["harbour"]


def test_a_bare_index_and_the_service_default_to_the_same_bm25_cache() -> None:
    """Benchmarks and tools that open an index without settings measure what the service runs."""
    assert Settings.model_fields["bm25_cache_mib"].default << 20 == lexical.IMPACT_CACHE_BYTES


def test_a_dropped_cache_is_computed_again_with_the_same_scores() -> None:
    texts = ["harbour fee at night", "harbour toll", "forest trail"]
    postings = Postings.build(tokenize(texts))
    index = LexicalIndex([(postings, np.arange(len(texts)))], len(texts))
    before = index.scores("harbour toll")
    index.drop_cache()
    assert not index._impacts and index._impacts_bytes == 0
    np.testing.assert_array_equal(index.scores("harbour toll"), before)
