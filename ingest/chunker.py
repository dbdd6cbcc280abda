"""Split a cleaned document into passages sized by the embedding model's tokenizer.

Passages follow the document's sections: a passage never spans two sections, except that a
section holding nothing but its heading (a Chapter line before its first Article) is folded
into the next one. Inside a section, sentences are packed up to ``max_tokens`` with up to
``overlap`` tokens of whole sentences carried over from the previous passage.

The size depends on the document's structure. A document with headings (a treaty's articles,
a report's sections) is cut to ``max_tokens``: each passage is embedded with its section path,
which sets it in context, and short passages keep a long section's paragraphs apart. A flat
document (fewer than three headings: a web page's privacy policy saved as text) has only its
title for context, and is cut to ``flat_max_tokens``, longer (docs/benchmarks.md, "Passage
size by document structure").
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ingest.types import CleanDocument, Passage

TokenOffsets = Callable[[str], Sequence[tuple[int, int]]]
"""Maps a text to the character spans of its tokens (special tokens excluded)."""
V = TypeVar("V")

_SENTENCE_END = re.compile(r"(?<=[.!?;])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])|\n+")
_ABBREVIATION = re.compile(
    r"\b(?:art|arts|no|nos|para|paras|e\.g|i\.e|mr|mrs|ms|dr|st|etc|cf|vol|p|pp|ch|sec|op|cit|v|vs|u\.s|u\.n)\.$",
    re.IGNORECASE,
)
MIN_SECTION_TOKENS = 12
MIN_HEADINGS = 3  # below it a document is flat


@dataclass(frozen=True)
class ChunkParams:
    max_tokens: int
    overlap: int
    flat_max_tokens: int | None = None  # documents without headings; None: max_tokens

    def for_document(self, doc: CleanDocument) -> ChunkParams:
        """The size this document is cut to: ``flat_max_tokens`` if it is flat."""
        if self.flat_max_tokens is None or not is_flat(doc):
            return self
        return ChunkParams(self.flat_max_tokens, self.overlap)


def is_flat(doc: CleanDocument) -> bool:
    """Whether the document has fewer than :data:`MIN_HEADINGS` distinct section paths."""
    return len({path for _, path in doc.section_marks if path}) < MIN_HEADINGS


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``; abbreviations such as "Art." do not end one."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        piece_end = match.start()
        if _ABBREVIATION.search(text[max(cursor, piece_end - 8) : piece_end]):
            continue
        if text[cursor:piece_end].strip():
            spans.append((cursor, piece_end))
        cursor = match.end()
    if text[cursor:end].strip():
        spans.append((cursor, end))
    return spans


def _sections(doc: CleanDocument) -> list[tuple[int, int, int]]:
    """``(start, end, paragraphs)`` of each run of consecutive paragraphs sharing a section."""
    starts = [offset for offset, _ in doc.section_marks]
    units: list[list[int]] = []
    last_key = None
    for p_start, p_end in doc.paragraphs:
        key = bisect.bisect_right(starts, p_start)
        if units and key == last_key:
            units[-1][1] = p_end
            units[-1][2] += 1
        else:
            units.append([p_start, p_end, 1])
        last_key = key
    return [(a, b, n) for a, b, n in units]


def _value_at(marks: Sequence[tuple[int, V]], starts: Sequence[int], offset: int) -> V | None:
    """The value of the last mark at or before ``offset``; ``starts`` are the marks' offsets,
    listed once per document by the caller (not once per call: that was quadratic)."""
    i = bisect.bisect_right(starts, offset) - 1
    return marks[i][1] if i >= 0 else None


def chunk(doc: CleanDocument, doc_id: str, token_offsets: TokenOffsets, params: ChunkParams) -> list[Passage]:
    text = doc.text
    params = params.for_document(doc)
    # 1. Sections. A heading with no text of its own (a Chapter line before its first
    # Article, a document title) is folded into the next section. So is a tiny section when
    # the next one sits inside it, so the passage is cited under the deeper path; a tiny
    # sibling with text ("Article 5\n\nDeleted.") stays a passage of its own.
    sections = _sections(doc)
    section_starts = [m[0] for m in doc.section_marks]
    units: list[tuple[int, int, list[int]]] = []
    carry: int | None = None
    for index, (start, end, paragraphs) in enumerate(sections):
        if carry is not None:
            start, carry = carry, None
        tokens = [start + a for a, _ in token_offsets(text[start:end])]  # where each token starts
        if len(tokens) < MIN_SECTION_TOKENS and index < len(sections) - 1:
            here = _value_at(doc.section_marks, section_starts, end - 1) or ""
            following = _value_at(doc.section_marks, section_starts, sections[index + 1][0]) or ""
            if paragraphs == 1 or following.startswith(here):
                carry = start
                continue
        units.append((start, end, tokens))

    # 2. Pack sentences inside each unit.
    spans: list[tuple[int, int]] = []
    for start, end, tokens in units:
        spans.extend(_pack(text, start, end, tokens, params))

    page_starts = [m[0] for m in doc.page_marks]
    passages = []
    for ordinal, (a, b) in enumerate(spans):
        body = text[a:b]
        first_page = doc.page_marks[max(0, bisect.bisect_right(page_starts, a) - 1)][1]
        last_page = doc.page_marks[max(0, bisect.bisect_right(page_starts, b - 1) - 1)][1]
        passages.append(
            Passage(
                id=f"{doc_id}:{ordinal:04d}",
                doc_id=doc_id,
                ordinal=ordinal,
                text=body,
                char_start=a,
                char_end=b,
                page_start=first_page,
                page_end=last_page,
                section=_value_at(doc.section_marks, section_starts, b - 1),
                content_hash=hashlib.sha1(body.encode()).hexdigest()[:16],
            )
        )
    return passages


def _pack(text: str, start: int, end: int, token_starts: list[int], params: ChunkParams) -> list[tuple[int, int]]:
    """Greedy sentence packing with whole-sentence overlap; over-long sentences are cut at
    token boundaries that fall on whitespace."""

    def n_tokens(a: int, b: int) -> int:
        return bisect.bisect_left(token_starts, b) - bisect.bisect_left(token_starts, a)

    pieces: list[tuple[int, int]] = []
    for a, b in sentence_spans(text, start, end):
        if n_tokens(a, b) <= params.max_tokens:
            pieces.append((a, b))
            continue
        first = bisect.bisect_left(token_starts, a)
        last = bisect.bisect_left(token_starts, b)
        cut = a
        i = first + params.max_tokens
        while i < last:
            j = i
            while j > first + 1 and text[token_starts[j] - 1 : token_starts[j]] != " ":
                j -= 1  # back up to a word start
            j = j if j > first + 1 else i
            pieces.append((cut, token_starts[j]))
            cut, first = token_starts[j], j
            i = j + params.max_tokens
        pieces.append((cut, b))
    pieces = [(a, b) for a, b in ((a, b - (len(text[a:b]) - len(text[a:b].rstrip()))) for a, b in pieces) if b > a]

    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        j = i
        total = 0
        while j < len(pieces) and (
            j == i or total < MIN_SECTION_TOKENS or total + n_tokens(*pieces[j]) <= params.max_tokens
        ):
            total += n_tokens(*pieces[j])
            j += 1
        chunks.append((pieces[i][0], pieces[j - 1][1]))
        if j >= len(pieces):
            break
        # Step back over whole sentences worth at most `overlap` tokens, always advancing.
        k, carried = j, 0
        while k - 1 > i and carried + n_tokens(*pieces[k - 1]) <= params.overlap:
            carried += n_tokens(*pieces[k - 1])
            k -= 1
        i = k
    return chunks
