"""Per-question outcomes and the aggregate metrics of one retrieval mode."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from service.evaluation.hits import doc_matches, is_hit
from service.evaluation.qa import Question

READING_BUDGET = 2000


@dataclass
class Returned:
    id: str
    source: str
    text: str
    section: str | None = None
    page_start: int | None = None


@dataclass
class Outcome:
    question: Question
    returned: list[Returned]
    latency_ms: float
    first_hit: int | None = None  # 1-based rank
    first_doc_hit: int | None = None
    budget_hit: bool = False

    def __post_init__(self) -> None:
        for rank, passage in enumerate(self.returned, 1):
            if self.first_doc_hit is None and doc_matches(self.question, passage.source):
                self.first_doc_hit = rank
            if self.first_hit is None and is_hit(self.question, passage.source, passage.text):
                self.first_hit = rank
        remaining = READING_BUDGET
        for passage in self.returned:
            if remaining <= 0:
                break
            if is_hit(self.question, passage.source, passage.text[:remaining]):
                self.budget_hit = True
                break
            remaining -= len(passage.text)


@dataclass
class ModeResult:
    mode: str
    outcomes: list[Outcome]
    ks: list[int]
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.outcomes)
        m: dict[str, float] = {}
        for k in sorted(set(self.ks) | {1, 5, 10}):
            m[f"recall@{k}"] = sum(o.first_hit is not None and o.first_hit <= k for o in self.outcomes) / n
            m[f"doc_recall@{k}"] = sum(o.first_doc_hit is not None and o.first_doc_hit <= k for o in self.outcomes) / n
        m["mrr@10"] = sum(1 / o.first_hit for o in self.outcomes if o.first_hit and o.first_hit <= 10) / n
        # One gold passage per question: nDCG@10 = 1 / log2(1 + rank of the first hit).
        m["ndcg@10"] = sum(1 / math.log2(1 + o.first_hit) for o in self.outcomes if o.first_hit and o.first_hit <= 10) / n
        m[f"recall@{READING_BUDGET}c"] = sum(o.budget_hit for o in self.outcomes) / n
        latencies = [o.latency_ms for o in self.outcomes]
        m["latency_p50_ms"] = float(np.percentile(latencies, 50))
        m["latency_p95_ms"] = float(np.percentile(latencies, 95))
        lengths = [len(p.text) for o in self.outcomes for p in o.returned]
        m["median_passage_chars"] = float(statistics.median(lengths)) if lengths else 0.0
        m["questions"] = n
        self.metrics = m

    def curve(self, max_k: int) -> list[float]:
        """recall@k for k = 1..max_k."""
        n = len(self.outcomes)
        return [sum(o.first_hit is not None and o.first_hit <= k for o in self.outcomes) / n for k in range(1, max_k + 1)]

    def misses(self, k: int) -> list[Outcome]:
        return [o for o in self.outcomes if o.first_hit is None or o.first_hit > k]
