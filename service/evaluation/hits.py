"""The hit definition of the shared question sets (shared/qa/README.md).

Text is folded (lower-cased, line-break hyphens joined, non-alphanumeric runs to one space).
A passage is a hit when it comes from the gold document (or an alternative), contains a
folded answer, and, where evidence is given, shares a contiguous run of at least
``min(100, len(evidence), len(passage))`` folded characters with it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from service.evaluation.qa import Question

_HYPHEN = re.compile(r"(\w)-\s+(\w)")
_NON_ALNUM = re.compile(r"[\W_]+")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    text = _HYPHEN.sub(r"\1\2", text.lower())
    return _NON_ALNUM.sub(" ", text).strip()


def _shares_run(a: str, b: str, length: int) -> bool:
    if length <= 0:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return any(short[i: i + length] in long_ for i in range(len(short) - length + 1))


def doc_matches(question: Question, source: str) -> bool:
    if question.doc is None:
        return True
    name = source.rsplit("/", 1)[-1]
    return name == question.doc or name in question.alt_docs or source == question.doc


def is_hit(question: Question, source: str, text: str) -> bool:
    if not doc_matches(question, source):
        return False
    folded = fold(text)
    if not any(fold(answer) and fold(answer) in folded for answer in question.answers):
        return False
    if question.evidence:
        return any(
            _shares_run(fold(ev), folded, min(100, len(fold(ev)), len(folded))) for ev in question.evidence
        )
    return True
