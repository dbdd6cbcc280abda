"""BM25 over the passages of several segments, with corpus-wide statistics.

Each segment stores its own term-frequency postings (:class:`Postings`: a CSC-like layout,
one run of ``(row, tf)`` per term, and every row's token count), written once when the
segment is written and memory-mapped when it is read. :class:`LexicalIndex` scores a query
over all live passages of a generation with the document frequencies and the average length
of the *whole* live corpus, summed at query time over the segments and net of deletions: the
same corpus ranks the same whether it was built at once or in a hundred updates.

The formula is bm25s's "lucene" variant (k1 = 1.5, b = 0.75, idf = ln(1 + (N - df + .5) /
(df + .5))), which the index used before it had segments, so rankings did not change.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

K1 = 1.5
B = 0.75
# Memory for the per-term BM25 contributions a generation keeps (LexicalIndex._impact), 8 bytes
# a posting: a word in a third of a million passages takes 2.7 MB. At a million passages the
# 475 words of the 445 shared questions take 167 MiB; evicting them made p99 five times worse.
# The serving default is ``Settings.bm25_cache_mib``; this one is for an index opened bare.
IMPACT_CACHE_BYTES = 512 << 20

# Keep one-character tokens: "Article 3" must index the "3".
_TOKEN = re.compile(r"(?u)\b\w+\b")
# Lucene's English stop set, the one bm25s's "en" uses (the index matched bm25s before it had
# segments; tests/ingest/store/test_store_lexical.py checks the two stay equal). Written out so
# that serving does not import bm25s, which imports scipy: 0.2–0.5 s of every cold start.
_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
_stemmer = Stemmer.Stemmer("english")

# The files of a segment's postings folder.
_VOCAB = "vocab.json"
_INDPTR = "indptr.npy"
_ROWS = "rows.npy"
_TF = "tf.npy"
_LENGTHS = "lengths.npy"


def tokenize_one(text: str) -> list[str]:
    """Lower-case word tokens, English stop words removed, Snowball-stemmed.

    Written out (rather than ``bm25s.tokenize``) because it runs on every query and every
    highlighted sentence, where bm25s's per-call set-up costs more than the work itself.
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer.stemWords(words)


def tokenize(texts: list[str]) -> list[list[str]]:
    return [tokenize_one(text) for text in texts]


def bm25_idf(df: np.ndarray | float, n: int) -> np.ndarray:
    return np.log1p((n - np.asarray(df, dtype=np.float64) + 0.5) / (np.asarray(df, dtype=np.float64) + 0.5))


@dataclass
class Postings:
    """One segment's term frequencies: for term id ``t``, ``rows[indptr[t]:indptr[t+1]]`` are
    the (segment-local, ascending) rows holding it and ``tf`` the counts; ``lengths[r]`` is
    row ``r``'s token count. Immutable once written."""

    vocab: dict[str, int]
    indptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray

    @classmethod
    def build(cls, tokens: Sequence[Sequence[str]]) -> Postings:
        """Postings of tokenised passages, row ``i`` being ``tokens[i]``."""
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        row_ids: list[int] = []
        counts: list[int] = []
        for row, words in enumerate(tokens):
            for word, count in Counter(words).items():
                term_ids.append(vocab.setdefault(word, len(vocab)))
                row_ids.append(row)
                counts.append(count)
        lengths = np.fromiter((len(w) for w in tokens), dtype=np.int32, count=len(tokens))
        return cls.from_triplets(
            vocab,
            np.asarray(term_ids, np.int64),
            np.asarray(row_ids, np.int32),
            np.asarray(counts, np.float32),
            lengths,
        )

    @classmethod
    def from_triplets(
        cls, vocab: dict[str, int], terms: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray
    ) -> Postings:
        """Postings from parallel ``(term, row, tf)`` arrays in any order (a merge's input)."""
        order = np.lexsort((rows, terms))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
        return cls(vocab, indptr, rows[order].astype(np.int32), tf[order].astype(np.float32), lengths)

    def triplets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(term, row, tf)`` of every posting: what a merge re-uses instead of re-tokenising."""
        terms = np.repeat(np.arange(len(self.vocab), dtype=np.int64), np.diff(self.indptr))
        return terms, np.asarray(self.rows), np.asarray(self.tf)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _VOCAB).write_text(json.dumps(self.vocab, ensure_ascii=False))
        np.save(folder / _INDPTR, self.indptr)
        np.save(folder / _ROWS, self.rows)
        np.save(folder / _TF, self.tf)
        np.save(folder / _LENGTHS, self.lengths)

    @classmethod
    def load(cls, folder: Path) -> Postings:
        vocab = json.loads((folder / _VOCAB).read_text())
        if not isinstance(vocab, dict):
            raise TypeError(f"{folder / _VOCAB} is not a JSON object")
        # Plain ndarray views of the maps: still backed by the file, without numpy.memmap's
        # per-slice bookkeeping (a query slices the postings a few dozen times a segment).
        arrays = [np.asarray(np.load(folder / name, mmap_mode="r")) for name in (_INDPTR, _ROWS, _TF, _LENGTHS)]
        return cls(vocab, *arrays)

    def run(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding ``term`` and its counts there (empty when the segment lacks it)."""
        t = self.vocab.get(term)
        if t is None:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        start, end = int(self.indptr[t]), int(self.indptr[t + 1])
        return np.asarray(self.rows[start:end]), np.asarray(self.tf[start:end])


@dataclass
class _Part:
    """A segment's postings as one generation sees them: ``global_rows[r]`` is local row
    ``r``'s row in the generation, or -1 when deleted."""

    postings: Postings
    global_rows: np.ndarray
    deleted: bool  # whether any row is deleted (then runs are filtered)

    @property
    def offset(self) -> int:
        """Without deletions a segment's rows are numbered on from its first: local row + offset."""
        return int(self.global_rows[0]) if len(self.global_rows) else 0

    def frequency(self, term: str) -> int:
        """How many live rows of the segment hold ``term``."""
        t = self.postings.vocab.get(term)
        if t is None:
            return 0
        if not self.deleted:
            return int(self.postings.indptr[t + 1] - self.postings.indptr[t])
        rows, _ = self.postings.run(term)
        return int((self.global_rows[rows] >= 0).sum())


class LexicalIndex:
    """BM25 over the live passages of every segment of a generation, rows numbered as the
    generation numbers them (see :class:`~ingest.store.reader.StoredIndex`)."""

    def __init__(
        self, parts: list[tuple[Postings, np.ndarray]], size: int, cache_bytes: int = IMPACT_CACHE_BYTES
    ) -> None:
        """``parts``: each segment's postings and its local→generation row map (-1: deleted).
        ``cache_bytes``: memory for the words' contributions (:meth:`_impact`)."""
        self.size = size
        self.cache_bytes = cache_bytes
        self._parts = [_Part(p, rows, bool((rows < 0).any())) for p, rows in parts]
        # Summed as integers: exact, so the same live corpus has the same average however split.
        total = sum(int(np.asarray(p.lengths)[rows >= 0].sum(dtype=np.int64)) for p, rows in parts)
        self.average_length = total / size if size else 0.0
        # BM25's length normalisation of every row, once per generation (float32, like the
        # scores): a word's contributions are then one gather and one division per posting.
        norm = K1 * (1 - B)
        slope = K1 * B / self.average_length if self.average_length else 0.0
        self._denominators = [
            (norm + slope * np.asarray(part.postings.lengths, dtype=np.float64)).astype(np.float32)
            for part in self._parts
        ]
        # A generation never changes: a term's frequency is summed over the segments once.
        self._frequency = functools.lru_cache(maxsize=1 << 16)(self._live_frequency)
        self._impacts: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._impacts_bytes = 0
        self._impacts_lock = threading.Lock()

    def _live_frequency(self, term: str) -> int:
        return sum(part.frequency(term) for part in self._parts)

    def _runs(self, term: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per segment, the live postings of ``term``: generation rows, tf, and each row's
        length normalisation (``k1 · (1 − b + b · length / average)``)."""
        runs = []
        for part, denominators in zip(self._parts, self._denominators):
            rows, tf = part.postings.run(term)
            if not len(rows):
                continue
            norms = denominators[rows]
            if part.deleted:
                where = part.global_rows[rows]
                live = where >= 0
                where, tf, norms = where[live], tf[live], norms[live]
            else:
                where = rows + part.offset
            runs.append((where, tf, norms))
        return runs

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """How many live passages hold each of ``terms`` (summed over the segments)."""
        return {term: self._frequency(term) for term in set(terms)}

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25 idf of each of ``terms`` over the live corpus (what highlighting weighs words by)."""
        return {t: float(bm25_idf(df, self.size)) for t, df in self.document_frequencies(terms).items() if df}

    def _impact(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The live rows holding ``term`` and its BM25 contribution to each (idf included), or
        ``None`` when no live row holds it. Fixed for a generation, so kept in a small LRU: the
        words questions share ("state", "refugee", "data") are scored once, not per question."""
        with self._impacts_lock:
            cached = self._impacts.get(term)
            if cached is not None:
                self._impacts.move_to_end(term)
                return cached
        df = self._frequency(term)
        if not df:
            return None
        weight = np.float32(bm25_idf(df, self.size))
        rows, values = [], []
        for where, tf, norms in self._runs(term):
            rows.append(where)
            values.append(weight * (tf / (norms + tf)))
        entry = (np.concatenate(rows).astype(np.int32), np.concatenate(values))  # rows < 2**31
        with self._impacts_lock:
            self._impacts[term] = entry
            self._impacts_bytes += entry[0].nbytes + entry[1].nbytes
            while self._impacts_bytes > self.cache_bytes and len(self._impacts) > 1:
                _, (old_rows, old_values) = self._impacts.popitem(last=False)
                self._impacts_bytes -= old_rows.nbytes + old_values.nbytes
        return entry

    def drop_cache(self) -> None:
        """Forget every word's contributions (a generation about to be replaced); words
        asked afterwards are computed again, so scores do not change."""
        with self._impacts_lock:
            self._impacts.clear()
            self._impacts_bytes = 0

    def warm(self, budget: int | None = None) -> int:
        """Score ahead of any question the words with the most postings, until their
        contributions take ``budget`` bytes of the cache (default: three quarters of it, so
        that the words of new questions still find room); how many words were scored.

        A word's first question costs ~15 ns a posting (read, normalise, weigh), every later
        one a third of that: at a million passages a question's words hold about a million
        postings, so a fresh server's first questions took 20 ms more in BM25 alone. The
        commonest words are the dearest and the likeliest to be asked, whatever the questions;
        words never asked are the first the LRU drops."""
        budget = self.cache_bytes * 3 // 4 if budget is None else budget
        totals: Counter[str] = Counter()
        for part in self._parts:
            lengths = np.diff(np.asarray(part.postings.indptr)).tolist()
            for term, t in part.postings.vocab.items():
                totals[term] += lengths[t]
        scored = 0
        for term, _ in totals.most_common():
            if self._impacts_bytes >= budget:
                break
            if self._impact(term) is not None:
                scored += 1
        return scored

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every live passage for ``query`` (zeros when no query term is indexed).
        A term said twice counts twice, as in bm25s."""
        scores = np.zeros(self.size, dtype=np.float32)
        for term, repeats in Counter(tokenize_one(query)).items():
            impact = self._impact(term)
            if impact is None:
                continue
            rows, values = impact
            # Unbuffered, and rows are unique within a term: twice as fast as `scores[rows] += values`.
            np.add.at(scores, rows, values if repeats == 1 else values * np.float32(repeats))
        return scores
