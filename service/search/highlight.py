"""Mark the sentence(s) of a passage that best answer the question.

Scoring is lexical (stemmed query terms weighted by their BM25 IDF in the index) so that it
costs microseconds per passage; the passage itself was already chosen semantically.
"""

from __future__ import annotations

import numpy as np

from ingest.chunker import sentence_spans
from ingest.store.lexical import tokenize, tokenize_one


class Highlighter:
    def __init__(self, idf: dict[str, float]) -> None:
        self.idf = idf

    @staticmethod
    def terms(question: str) -> set[str]:
        """The question's content words, tokenised once per question, not once per passage."""
        return set(tokenize_one(question))

    def best_span(self, terms: set[str], text: str, section: str | None = None) -> tuple[int, int] | None:
        """``(start, end)`` in ``text`` of the best sentence, extended to a neighbour that
        scores nearly as well; ``None`` when no sentence shares a content word with the question.

        Heading lines (text that is part of the passage's ``section`` path, such as
        "Article 8") are not answers, however well they match "What does Article 8 say?".
        """
        if not terms:
            return None
        spans = sentence_spans(text, 0, len(text))
        if section:
            heading = section.casefold()
            body = [(a, b) for a, b in spans if text[a:b].strip().casefold() not in heading]
            spans = body or spans
        if not spans:
            return None
        tokens = tokenize([text[a:b] for a, b in spans])
        scores = [sum(self.idf.get(t, 0.0) for t in terms & set(toks)) for toks in tokens]
        best = int(np.argmax(scores))
        if scores[best] <= 0:
            return None
        start, end = spans[best]
        for neighbour in (best - 1, best + 1):
            if 0 <= neighbour < len(spans) and scores[neighbour] >= 0.8 * scores[best]:
                start, end = min(start, spans[neighbour][0]), max(end, spans[neighbour][1])
        return start, end
