"""An English word list for the cleaning rules a document's own words cannot decide.

:mod:`ingest.cleaning` repairs pypdf's broken words with the document as its dictionary: "C
entral" joins because the document writes "Central" and never "entral". Some pieces occur once,
so the document says nothing about them: "the c hild" (written whole only once), "A gudas
Israel" (a name the document never writes whole), "S ex" (a form's label). For those the rules
ask this list: Webster's Second International of 1934 as BSD systems ship it (``web2``, 234,000
words, public domain), through the ``english-words`` package, loaded once on first use (~0.1 s).
It has many rare words ("lo", "st") and no plurals or verb endings, which :func:`is_word`
adds by rule ("rights", "welcomed"): a piece ("wards" of "to wards") is a word when a word of
the list is its base. It is asked only of documents that show the
artefacts and read as English (:func:`mostly_english`), since "A partir" is two French words
that no English list knows.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

# Share of a document's words of three letters or more that the list knows, at least: the
# shared English treaty PDFs score 0.77-0.88 as cleaned (the list has no plurals), French,
# German and Spanish text 0.50, 0.32 and 0.13.
ENGLISH_SHARE = 0.7


@cache
def english_words() -> frozenset[str]:
    """Lower-case alphabetic English words."""
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["web2"], lower=True, alpha=True))


# Regular English endings and what a word's base ends with before them: "rights" -> "right",
# "welcomed" -> "welcome", "applied" -> "apply", "stopping" -> "stop".
_ENDINGS = (
    ("ies", "y"),
    ("ied", "y"),
    ("es", ""),
    ("s", ""),
    ("ed", ""),
    ("ed", "e"),
    ("ing", ""),
    ("ing", "e"),
    ("ly", ""),
    ("er", ""),
    ("ers", ""),
)


def _bases(word: str) -> set[str]:
    bases = set()
    for ending, base_end in _ENDINGS:
        stem = word[: -len(ending)]
        if word.endswith(ending) and len(stem) >= 2:
            bases.add(stem + base_end)
            if len(stem) >= 3 and stem[-1] == stem[-2]:  # "stopped" -> "stop"
                bases.add(stem[:-1])
    return bases


def in_list(piece: str) -> bool:
    """``piece`` (lower-case) is in the list as it stands (no endings added), or is "a" or
    "i": the strict test, for evidence that a document sets words in pieces ("gener" is no
    word, though "gen" + "er" would make one)."""
    return piece in ("a", "i") if len(piece) == 1 else piece in english_words()


def is_word(piece: str) -> bool:
    """``piece`` (lower-case) is an English word, or one with a regular ending ("rights",
    "welcomed", the list has neither); of single letters only "a" and "i" are, the list's
    entries for the letters of the alphabet aside."""
    if len(piece) == 1:
        return piece in ("a", "i")
    words = english_words()
    return piece in words or not words.isdisjoint(_bases(piece))


def mostly_english(words: Counter[str]) -> bool:
    """``words`` (lower-case, with their counts) read as English text."""
    known = english_words()
    total = listed = 0
    for word, count in words.items():
        if len(word) > 2:
            total += count
            listed += count if word in known else 0
    return total > 0 and listed >= ENGLISH_SHARE * total
