"""A document's title: the name its citations show, and the head every passage is embedded
and BM25-indexed under (:func:`ingest.store.writer.contextual_text`).

What a file declares is often not its title. PDF producers stamp their own defaults ("Layout
1", "Microsoft Word - g9946216.doc"), and the first heading of a document can be a job number
("GE.99-46216 (E)"), a date line ("Last Updated: October 3, 2014"), the cover's publisher
("The United Nations") or the signature under a foreword ("BAN Ki-moon"). A title names what
the document is about, so the document repeats its words: that is the evidence used here.

The order, each step taken only when the one before gives nothing that reads as a title:

1. the declared title (PDF metadata, a Markdown ``# `` line, HTML ``<title>``), when at least
   half of its words occur in the document (a Markdown title is in the text, so it always
   does: only the reading-as-a-title rules can set it aside), unless it shares no word with a
   descriptive file name (below) while an early heading does;
2. the headings of the document's first pages (numbered sections, Part/Chapter/Article headings
   and headings none of whose words the document writes again excepted). When the file name is made
   of words the document writes (``crc_convention_rights_of_the_child.pdf``), whoever named
   the file said what it holds: the heading sharing most words with it wins (the CRC's cover
   line "The United Nations" loses to "Convention on the Rights of the Child" on the next
   page), and with no heading sharing a word, the file name stands in. Otherwise the first
   heading;
3. the file name.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import PurePosixPath

# Producers' default names for a new file or its first page ("Layout 1", "Untitled Document").
_PRODUCER_DEFAULT = re.compile(
    r"^(?:(?:layout|document|doc|book|page|slide|sheet|presentation|powerpoint presentation|draft|print)"
    r"[\s_-]*\d*|untitled\b.*|(?:new|blank)\s+(?:document|page)[\s_-]*\d*)$",
    re.IGNORECASE,
)
# "Microsoft Word - g9946216.doc": the producer's name before a file name.
_PRODUCER_PREFIX = re.compile(r"^microsoft\s+(?:office\s+)?(?:word|powerpoint|excel)\s*-", re.IGNORECASE)
_FILE_NAME = re.compile(r"\.(?:docx?|pdf|rtf|odt|indd|qxd|qxp|pptx?|xlsx?|txt|html?|tex)$", re.IGNORECASE)
# "Last Updated: October 3, 2014", "Effective date: 1 May 2018": when the text was written, not
# what it is. A colon, "on", "as of" or a date must follow, so "Revised Guidelines on …" and
# "Effective Protection of Refugees" stay titles.
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_LINE = re.compile(
    r"^(?:last\s+)?(?:updated|modified|revised|changed|effective(?:\s+date)?|date(?:d)?|version\s+date)"
    rf"\s*(?::|\bon\b|\bas\s+of\b|\d|{_MONTH}\s+\d)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+")
# Scripts written without spaces between words, where a "word" here is a whole phrase.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
# Words that say nothing of what a title names.
_FUNCTION_WORDS = frozenset(
    "the and for with from into onto upon under over its their this that these those our your "
    "are was were has have had not but all any per via".split()
)
# Words of a file name that say nothing of what the file holds.
_FILE_FILLER = frozenset(
    "final draft report version copy scan scanned new old www com org net int edu gov html pdf doc "
    "file document rev".split()
)
_SITE = re.compile(r"[\w-]{2,}(?:\.[\w-]+)*\.(?:com|org|net|edu|gov|int|info|biz|io|co|eu|uk|us|ca|au|de|fr|ch)", re.I)
MAX_TITLE_CHARS = 400  # Regulation (EU) No 604/2013's full title is 330
# A paged document's title stands on its first pages with text, an unpaged one's among its
# first headings (ingest.structure keeps at most EARLY_HEADINGS of them).
FIRST_PAGES = 2
FIRST_HEADINGS = 3


def content_words(text: str) -> list[str]:
    """The words of three letters or more that are not function words, lower-cased."""
    return [w for w in (m.lower() for m in _WORD.findall(text)) if len(w) >= 3 and w not in _FUNCTION_WORDS]


def _stems(text: str) -> set[str]:
    """Content words cut to five letters: "rights" meets "right", "children" meets "child"."""
    return {w[:5] for w in content_words(text)}


def word_counts(text: str) -> Counter[str]:
    """How often the document writes each word (lower-cased letters only); linear in ``text``."""
    return Counter(m.lower() for m in _WORD.findall(text))


def reads_as_title(text: str) -> bool:
    """Whether ``text`` could be a document's title at all, whatever the document says."""
    text = " ".join(text.split())
    if not 3 <= len(text) <= MAX_TITLE_CHARS or len(content_words(text)) < 1:
        return False
    if _PRODUCER_DEFAULT.match(text) or _PRODUCER_PREFIX.match(text) or _FILE_NAME.search(text):
        return False
    if _DATE_LINE.match(text):
        return False
    # Mostly letters, not a job number ("GE.99-46216 (E)"); punctuation is not counted, so
    # "Directive 2011/95/EU" and "Regulation (EU) 2016/679" pass.
    alnum = [c for c in text if c.isalnum()]
    return sum(c.isalpha() for c in alnum) >= 0.6 * len(alnum)


class Evidence:
    """What the document's own text says of a candidate title."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.counts = word_counts(text)

    @cached_property
    def written(self) -> set[str]:
        """The stems of every word the document writes (built only when a title needs it)."""
        return {w[:5] for w in self.counts}

    def mentioned(self, title: str) -> bool:
        """Whether at least half of the words of ``title`` occur in the document, in some form
        ("Water Sharing" in a text that writes "waters"); in a script without spaces, whether
        the document writes the title."""
        if _UNSPACED.search(title):
            return " ".join(title.split()) in self.text
        words = _stems(title)
        return bool(words) and 2 * len(words & self.written) >= len(words)

    def repeated(self, title: str) -> bool:
        """Whether the document writes a word of ``title`` again, beyond ``title`` itself: a
        foreword's signature ("BAN Ki-moon") names no one twice."""
        if _UNSPACED.search(title):
            return self.text.count(" ".join(title.split())) > 1
        return any(self.counts[w] > 1 for w in content_words(title))

    def described(self, name: str) -> set[str]:
        """The stems of the words of a file name that the document writes, fillers aside."""
        return {w[:5] for w in content_words(name) if w not in _FILE_FILLER and w[:5] in self.written}


def file_title(source: str) -> str:
    """A title from the file name: ``crc_convention_rights_of_the_child.pdf`` → "crc convention
    rights of the child"; a site's name keeps its dots and hyphens (``sci-news.com.txt``)."""
    stem = PurePosixPath(source).stem
    if _SITE.fullmatch(stem):
        return stem
    return " ".join(re.split(r"[_\-\s.]+", stem)).strip() or source


def choose_title(declared: str | None, headings: Sequence[tuple[str, bool]], text: str, source: str) -> str:
    """The title of the document whose cleaned text is ``text`` (see the module's docstring).
    ``headings`` are its early headings in order, each with whether it is structural: a
    Part/Chapter/Article heading or a numbered section ("I. NORMATIVE CONTENT", "1 Introduction")."""
    evidence = Evidence(text)
    candidates = [
        " ".join(label.split())
        for label, structural in headings
        if not structural and reads_as_title(label) and evidence.repeated(label)
    ]
    named = file_title(source)
    # A file name of two or more words the document writes was given by someone who knew what
    # it holds: it picks among the headings, and stands in when none shares a word with it.
    described = evidence.described(named)
    if declared:
        declared = " ".join(unicodedata.normalize("NFKC", declared).split())
        # A declared title sharing no word with such a file name, where a heading does, is a
        # publisher's or another document's ("United Nations" in the CRC's metadata).
        displaced = (
            len(described) >= 2 and not _stems(declared) & described and any(_stems(c) & described for c in candidates)
        )
        if reads_as_title(declared) and evidence.mentioned(declared) and not displaced:
            return declared
    if len(described) >= 2:
        overlap = [(len(_stems(c) & described), -i, c) for i, c in enumerate(candidates)]
        best = max(overlap, default=None)
        return best[2] if best is not None and best[0] > 0 else named
    return candidates[0] if candidates else named
