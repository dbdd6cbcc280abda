"""The embedding feed (ingest/workers/feed.py): files parsed in any order come back with their
own vectors in passage order, and small files are embedded together, not file by file."""

from __future__ import annotations

import numpy as np

from ingest.store.writer import contextual_text
from ingest.types import Document, Passage
from ingest.workers.feed import BATCHES_PER_CALL, EmbedFeed
from ingest.workers.parse import Parsed

WORDS = "refugee asylum border return persecution protection state court detention family".split()


def _parsed(source: str, passages: int, seed: int) -> Parsed:
    rng = np.random.default_rng(seed)
    doc_id = f"doc-{seed}"
    texts = [" ".join(rng.choice(WORDS, size=8 + 3 * i)) for i in range(passages)]
    cut = [
        Passage(f"{doc_id}-{i}", doc_id, i, text, 0, len(text), 1, 1, f"Article {i + 1}", f"h{seed}-{i}")
        for i, text in enumerate(texts)
    ]
    document = Document(doc_id, source, f"Title {seed}", "txt", f"hash{seed}", None, passages)
    return Parsed(source, document, cut)


class _Calls:
    """The real embedder, with the size of every call it was given written down."""

    def __init__(self, embedder) -> None:
        self.embedder, self.batch_size, self.sizes = embedder, embedder.batch_size, []

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.sizes.append(len(texts))
        return self.embedder.embed_passages(texts)


def test_every_file_gets_its_own_vectors_in_passage_order(embedder) -> None:
    # More passages than one call takes, so that files are embedded in a call made while others
    # still arrive as well as in the last one; arriving in shuffled order, as parse workers finish.
    per_call = BATCHES_PER_CALL * embedder.batch_size
    files = [_parsed(f"f{i}.txt", passages=1 + i % 7, seed=i) for i in range(per_call // 4 + 40)]
    assert sum(len(f.passages) for f in files) > per_call
    np.random.default_rng(7).shuffle(files)
    feed = EmbedFeed(embedder, contextualize=True, notify=lambda *_: None)
    for parsed in files:
        feed.add(parsed)
    vectors = feed.finish()

    assert set(vectors) == {parsed.source for parsed in files}
    texts = [contextual_text(p, parsed.document.title) for parsed in files for p in parsed.passages]
    expected = iter(embedder.embed_passages(texts))  # the same texts, in one call of their own
    for parsed in files:
        got = vectors[parsed.source]
        assert got.shape == (len(parsed.passages), embedder.dimension)
        for row in got:
            assert float(row @ next(expected)) > 0.999


def test_small_files_are_embedded_together(embedder) -> None:
    calls = _Calls(embedder)
    per_call = BATCHES_PER_CALL * embedder.batch_size
    files = [_parsed(f"f{i}.txt", passages=3, seed=i) for i in range(per_call // 3 + 5)]
    feed = EmbedFeed(calls, contextualize=False, notify=lambda *_: None)
    for parsed in files:
        feed.add(parsed)
    feed.finish()

    assert sum(calls.sizes) == 3 * len(files)
    assert len(calls.sizes) == 2  # one full call while files arrive, the rest at the end
    assert calls.sizes[0] >= per_call
