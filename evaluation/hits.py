"""The hit definition of the shared question sets (shared/qa/README.md).

Text is folded before comparison: Unicode-normalised (NFKC, so "ﬁ" is "fi"), lower-cased,
hyphens inside a word joined (``fol- lowing``, ``fol-lowing`` → ``following``), and every
run of non-alphanumeric characters replaced by one space.

A passage is a hit when it comes from the gold document (or an alternative), its folded text
contains a folded answer, and, where evidence is given, it shares a contiguous
run of at least ``min(100, len(evidence), len(passage))`` folded characters with it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluation.qa import Question

EVIDENCE_RUN = 100
# A hyphen (or soft hyphen) between two word characters, with or without the space a line
# break left after it. Joining every in-word hyphen, not only line-break ones, keeps
# "self-\ndetermination" (which ingestion may write "self-determination") equal to an answer
# copied as "self- determination". Look-arounds, so "a- b- c" joins in one pass.
_HYPHEN = re.compile(r"(?<=\w)[-\u00ad\u2010\u2011]\s*(?=\w)")
_NON_ALNUM = re.compile(r"[\W_]+")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _HYPHEN.sub("", text)
    return _NON_ALNUM.sub(" ", text).strip()


def contains_answer(folded_text: str, folded_answer: str) -> bool:
    """Plain containment, as the shared definition says. Not whole words: some gold spans
    end inside a word ("disclose i", "advertising service vendor" for "vendors"); a short
    answer found inside another word ("ip" in "relationship") is held back by the evidence
    rule where a set has evidence."""
    return bool(folded_answer) and folded_answer in folded_text


def shares_run(a: str, b: str, length: int) -> bool:
    """Whether ``a`` and ``b`` have a common substring of ``length`` characters."""
    if length <= 0:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if length > len(short):
        return False
    return any(short[i : i + length] in long_ for i in range(len(short) - length + 1))


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def doc_matches(question: Question, source: str) -> bool:
    """``source`` is the gold document or one of its alternatives, by path or by file name.
    A question without ``doc`` accepts every document."""
    if question.doc is None:
        return True
    name = _name(source)
    return source == question.doc or name == _name(question.doc) or name in {_name(d) for d in question.alt_docs}


def text_is_hit(question: Question, text: str) -> bool:
    """Rules 2 and 3 of the hit definition: the answer, and the evidence overlap."""
    folded = fold(text)
    if not any(contains_answer(folded, fold(answer)) for answer in question.answers):
        return False
    if question.evidence:
        return any(
            shares_run(fold(ev), folded, min(EVIDENCE_RUN, len(fold(ev)), len(folded))) for ev in question.evidence
        )
    return True


def is_hit(question: Question, source: str, text: str) -> bool:
    return doc_matches(question, source) and text_is_hit(question, text)
