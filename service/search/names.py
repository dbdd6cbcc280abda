"""Which document a question names: "Article 10 of the ICCPR", "under the children's rights
convention", "the Dublin III Regulation".

A question that names its instrument wants that instrument's passages, yet the passages of
another document that quote the name rank beside them ("In accordance with the 1989 United
Nations Convention on the Rights of the Child …" in Dublin III's recitals), and an article
boost lifts every candidate document's Article 10 alike. Each document gets a *name field*:
its title, the words of its file name (``crc_convention_rights_of_the_child.pdf``) and its
title's acronym ("ICCPR" of "International Covenant on Civil and Political Rights"), scored
against the question's last sentence, its article references taken out ("Article 4" is no
mention of "Protocol No. 4"), with BM25 over the documents (so "convention", in most names,
weighs little, and a 330-character official title is length-normalised). A document
*qualifies* when the question writes its acronym, or matches two distinct words of its name
and scores at least :data:`MIN_UNIQUE` times the idf of a word only one name holds: one shared
topic word ("refugees", "child") names nothing. It is *named* when it is the only one that
qualifies and scores :data:`LEAD` times the runner-up; a question naming two instruments names
neither.
Measured in docs/benchmarks.md ("The document a question names").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePosixPath

import numpy as np

from ingest.store.lexical import tokenize_one

MIN_UNIQUE = 1.25
LEAD = 1.5
K1, B = 1.2, 0.75
# Words an acronym skips: "Convention on the Rights of the Child" → CRC.
_ACRONYM_SKIPS = frozenset("on of the and to for in against relating by a an its all no".split())
_TITLE_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
# A sentence ends at . ? ! before a capital letter, not after an abbreviation ("Art. 10").
_SENTENCE_END = re.compile(r"(?<!\bart\.)(?<!\bno\.)(?<!\be\.g\.)(?<=[.?!])\s+(?=[A-Z])", re.IGNORECASE)
# The articles a question names ("Article 10", "Art. 4", "article xiv"), their numbers as the
# group: the article boost of both retrievers reads them, and they name no document.
ARTICLE_REF = re.compile(r"\b(?:article|art\.?)\s*(\d{1,3}[a-z]?|[ivxlc]{1,6})\b", re.IGNORECASE)


def acronym(title: str) -> str | None:
    """The initials of a title's capitalised words, function words skipped, if two or more."""
    capitals = [w for w in _TITLE_WORD.findall(title) if w[0].isupper() and w.lower() not in _ACRONYM_SKIPS]
    return "".join(w[0] for w in capitals).lower() if len(capitals) >= 2 else None


def name_terms(title: str, source: str) -> tuple[list[str], str | None]:
    """A document's name field as BM25 terms, and its acronym's term (stemmed as a question's
    words are: "CITES" is "cite"), if it has one of three letters or more."""
    stem = PurePosixPath(source).stem
    terms = tokenize_one(f"{title} {' '.join(re.split(r'[_.-]+', stem))}")
    short = acronym(title)
    stemmed = tokenize_one(short) if short and len(short) >= 3 else []
    return (terms + stemmed, stemmed[0]) if stemmed else (terms, None)


class DocumentNames:
    """BM25 over the documents' name fields; :meth:`named` gives the document a question names."""

    def __init__(self, documents: Iterable[tuple[str, str, str]]) -> None:
        """``documents``: (doc_id, title, source) of every document in the index."""
        named = [(doc_id, name_terms(title, source)) for doc_id, title, source in documents]
        self.doc_ids = [doc_id for doc_id, _ in named]
        fields = [Counter(terms) for _, (terms, _) in named]
        self.acronyms: dict[str, list[int]] = {}
        for i, (_, (_, short)) in enumerate(named):
            if short:
                self.acronyms.setdefault(short, []).append(i)
        n = len(fields)
        lengths = np.array([sum(f.values()) for f in fields], dtype=np.float64)
        mean = float(lengths.mean()) if n else 0.0
        df = Counter(term for f in fields for term in f)
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for i, field in enumerate(fields):
            norm = K1 * (1 - B + B * lengths[i] / mean) if mean else K1
            for term, tf in field.items():
                idf = math.log1p((n - df[term] + 0.5) / (df[term] + 0.5))
                docs, weights = postings.setdefault(term, ([], []))
                docs.append(i)
                weights.append(idf * tf * (K1 + 1) / (tf + norm))
        self.postings = {t: (np.array(d, dtype=np.int64), np.array(w)) for t, (d, w) in postings.items()}
        self.min_score = MIN_UNIQUE * math.log1p((n - 1 + 0.5) / 1.5)

    def named(self, question: str) -> int | None:
        """The position, in the order given, of the document ``question`` names, if exactly one
        stands out. Of several sentences only the last counts: a chat's follow-up is searched
        with the turn before it ("What does the refugee convention say about naturalization?
        And for stateless people?"), and the turn before names another document."""
        if len(self.doc_ids) < 2:
            return None
        last = _SENTENCE_END.split(question.strip())[-1]
        terms = set(tokenize_one(ARTICLE_REF.sub(" ", last)))
        scores = np.zeros(len(self.doc_ids))
        matched = np.zeros(len(self.doc_ids), dtype=np.int64)  # distinct name words matched
        for term in terms:
            found = self.postings.get(term)
            if found is not None:
                scores[found[0]] += found[1]  # a term's documents are distinct: no np.add.at
                matched[found[0]] += 1
        by_acronym = np.zeros(len(self.doc_ids), dtype=bool)  # an acronym is a name by itself
        for term in terms & self.acronyms.keys():
            by_acronym[self.acronyms[term]] = True
        qualified = np.flatnonzero(by_acronym | ((scores >= self.min_score) & (matched >= 2)))
        if len(qualified) != 1:
            return None
        first = int(qualified[0])
        best = scores[first]
        scores[first] = -np.inf
        return first if best >= LEAD * scores.max() else None
