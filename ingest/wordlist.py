"""An English word list for the cleaning rules a document's own words cannot decide.

:mod:`ingest.cleaning` repairs pypdf's broken words with the document as its dictionary: "C
entral" joins because the document writes "Central" and never "entral". Some pieces occur once,
so the document says nothing about them: "the c hild" (written whole only once), "A gudas
Israel" (a name the document never writes whole), "S ex" (a form's label). For those the rules
ask this list: Webster's Second International of 1934 as BSD systems ship it (``web2``, 234,000
words, public domain), through the ``english-words`` package, loaded once on first use (~0.1 s).
It has no plurals and many rare words ("lo", "st"), which keeps it cautious: a join needs the
list to know the whole word and not the piece. It is asked only of documents that show the
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


def is_word(piece: str) -> bool:
    """``piece`` (lower-case) is an English word; of single letters only "a" and "i" are, the
    list's entries for the letters of the alphabet aside."""
    return piece in ("a", "i") if len(piece) == 1 else piece in english_words()


def mostly_english(words: Counter[str]) -> bool:
    """``words`` (lower-case, with their counts) read as English text."""
    long = {word: count for word, count in words.items() if len(word) > 2}
    total = sum(long.values())
    known = english_words()
    return total > 0 and sum(count for word, count in long.items() if word in known) >= ENGLISH_SHARE * total
