"""Per-question outcomes and the aggregate metrics of one retrieval mode."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from evaluation.hits import doc_matches, is_hit
from evaluation.qa import Question

READING_BUDGET = 2000
BUDGET_KEY = f"recall@{READING_BUDGET}c"
RANK_CUTOFF = 10  # for MRR@10 and nDCG@10
HEADLINE_KS = (1, 5, 10)


@dataclass
class Returned:
    id: str
    source: str
    text: str
    section: str | None = None
    page_start: int | None = None


@dataclass
class Outcome:
    """What one question got back, and where (1-based) its first hit and gold document came.

    ``reading`` is the ranked list read for recall@2000c when ``returned`` holds fewer than
    2,000 characters although more passages exist; it starts with ``returned``.
    """

    question: Question
    returned: list[Returned]
    latency_ms: float
    reading: list[Returned] | None = None
    error: str | None = None
    first_hit: int | None = field(default=None, init=False)
    first_doc_hit: int | None = field(default=None, init=False)
    budget_hit: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        for rank, passage in enumerate(self.returned, 1):
            if self.first_doc_hit is None and doc_matches(self.question, passage.source):
                self.first_doc_hit = rank
            if self.first_hit is None and is_hit(self.question, passage.source, passage.text):
                self.first_hit = rank
            if self.first_hit is not None and self.first_doc_hit is not None:
                break
        self.budget_hit = budget_hit(self.question, self.reading if self.reading is not None else self.returned)

    def hit_within(self, k: int) -> bool:
        return self.first_hit is not None and self.first_hit <= k

    def doc_hit_within(self, k: int) -> bool:
        return self.first_doc_hit is not None and self.first_doc_hit <= k


def budget_hit(question: Question, passages: list[Returned], budget: int = READING_BUDGET) -> bool:
    """Read ``passages`` in order, stop after ``budget`` characters (cutting the last one
    there), and say whether a hit was read."""
    remaining = budget
    for passage in passages:
        if remaining <= 0:
            return False
        if is_hit(question, passage.source, passage.text[:remaining]):
            return True
        remaining -= len(passage.text)
    return False


def metric_names(ks: list[int]) -> list[str]:
    """The metrics of a result, in display order."""
    ks = sorted(set(ks) | set(HEADLINE_KS))
    return (
        [f"recall@{k}" for k in ks]
        + [f"mrr@{RANK_CUTOFF}", f"ndcg@{RANK_CUTOFF}", BUDGET_KEY, "median_passage_chars"]
        + [f"doc_recall@{k}" for k in ks]
        + ["latency_p50_ms", "latency_p95_ms"]
    )


def _share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else 0.0


def summarize(outcomes: list[Outcome], ks: list[int]) -> dict[str, float]:
    """recall@k, MRR@10, nDCG@10, recall@2000c, document recall@k, latency p50/p95.

    Each question has one relevant passage, the first hit: later hits repeat it, so
    nDCG@10 is 1/log2(1 + rank of the first hit) and, like MRR, 0 beyond rank 10.
    Document recall counts only the questions that name a document.
    """
    m: dict[str, float] = {}
    ks = sorted(set(ks) | set(HEADLINE_KS))
    for k in ks:
        m[f"recall@{k}"] = _share(o.hit_within(k) for o in outcomes)
    ranks = [o.first_hit if o.hit_within(RANK_CUTOFF) else None for o in outcomes]  # None beyond the cut-off
    m[f"mrr@{RANK_CUTOFF}"] = _share(1 / r if r else 0.0 for r in ranks)
    m[f"ndcg@{RANK_CUTOFF}"] = _share(1 / math.log2(1 + r) if r else 0.0 for r in ranks)
    m[BUDGET_KEY] = _share(o.budget_hit for o in outcomes)
    lengths = [len(p.text) for o in outcomes for p in o.returned[:RANK_CUTOFF]]
    m["median_passage_chars"] = float(statistics.median(lengths)) if lengths else 0.0
    with_doc = [o for o in outcomes if o.question.doc is not None]
    if with_doc:
        for k in ks:
            m[f"doc_recall@{k}"] = _share(o.doc_hit_within(k) for o in with_doc)
    latencies = [o.latency_ms for o in outcomes if o.error is None]
    if latencies:
        m["latency_p50_ms"] = float(np.percentile(latencies, 50))
        m["latency_p95_ms"] = float(np.percentile(latencies, 95))
    m["questions"] = len(outcomes)
    errors = sum(o.error is not None for o in outcomes)
    if errors:
        m["errors"] = errors
    return m


@dataclass
class ModeResult:
    mode: str
    outcomes: list[Outcome]
    ks: list[int]
    metrics: dict[str, float] = field(default_factory=dict)
    _by_type: dict[str, dict[str, float]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.metrics = summarize(self.outcomes, self.ks)

    @property
    def depth(self) -> int:
        return max(max(self.ks), RANK_CUTOFF)

    def curve(self, max_k: int | None = None) -> list[float]:
        """recall@k for k = 1..max_k."""
        return [_share(o.hit_within(k) for o in self.outcomes) for k in range(1, (max_k or self.depth) + 1)]

    def doc_curve(self, max_k: int | None = None) -> list[float]:
        """Document-level recall@k for k = 1..max_k, over the questions naming a document."""
        with_doc = [o for o in self.outcomes if o.question.doc is not None]
        return [_share(o.doc_hit_within(k) for o in with_doc) for k in range(1, (max_k or self.depth) + 1)]

    def misses(self, k: int | None = None) -> list[Outcome]:
        """Questions without a hit in the top ``k`` (default: the largest k asked for)."""
        k = k or max(self.ks)
        return [o for o in self.outcomes if not o.hit_within(k)]

    def by_type(self) -> dict[str, dict[str, float]]:
        """The metrics per question ``type`` (when the set has types)."""
        if self._by_type is None:
            groups: dict[str, list[Outcome]] = {}
            for o in self.outcomes:
                if o.question.type:
                    groups.setdefault(o.question.type, []).append(o)
            self._by_type = {kind: summarize(group, self.ks) for kind, group in sorted(groups.items())}
        return self._by_type
