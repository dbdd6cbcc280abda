"""What a sweep tries and what came of it: the :class:`Grid` of values, one :class:`Config`
per setting tried, its :class:`Row` of results, and the :class:`SweepResult` that picks a
winner per metric and counts the questions it gains and loses against the current settings.
Running the grid is :mod:`evaluation.sweep`; showing it, :mod:`evaluation.render`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from evaluation.metrics import BUDGET_KEY, RANK_CUTOFF, ModeResult, metric_names


def passages_label(tokens: int, overlap: int, flat: int | None = None) -> str:
    """``160/48``, or ``160+206/48`` when flat documents are cut to another size."""
    extra = "" if flat in (None, tokens) else f"+{flat}"
    return f"{tokens}{extra}/{overlap}"


@dataclass
class Grid:
    """The values to try. ``chunks`` are ``(tokens, overlap, flat tokens)``: the passage size
    of documents with headings, the overlap, and the size of flat documents (see
    :mod:`ingest.chunker`). The index's own passages and the current retrieval settings are
    always tried as well."""

    chunks: list[tuple[int, int, int]] = field(default_factory=lambda: [(96, 16, 96), (200, 32, 200)])
    alphas: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    candidates: list[int] = field(default_factory=lambda: [50, 100, 200])
    boosts: list[float] = field(default_factory=list)  # empty: only the current article_boost

    @classmethod
    def quick(cls) -> Grid:
        """No re-chunking (no re-embedding): fusion weight only, on the index as it is."""
        return cls(chunks=[], alphas=[0.3, 0.5, 0.7], candidates=[], boosts=[])


@dataclass(frozen=True)
class Config:
    chunk_tokens: int
    chunk_overlap: int
    mode: str
    fusion_alpha: float | None = None  # None for dense and lexical, which do not fuse
    candidates: int | None = None
    article_boost: float | None = None
    chunk_tokens_flat: int | None = None  # None: the same as chunk_tokens

    @property
    def passages(self) -> str:
        return passages_label(self.chunk_tokens, self.chunk_overlap, self.chunk_tokens_flat)

    def label(self) -> str:
        text = f"{self.mode} · passages {self.passages}"
        if self.mode == "hybrid":
            text += f" · alpha {self.fusion_alpha:g} · candidates {self.candidates} · boost {self.article_boost:g}"
        return text

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap": self.chunk_overlap,
            "chunk_tokens_flat": self.chunk_tokens_flat or self.chunk_tokens,
            "fusion_alpha": self.fusion_alpha,
            "candidates": self.candidates,
            "article_boost": self.article_boost,
        }


@dataclass
class Row:
    config: Config
    result: ModeResult
    baseline: bool = False


@dataclass
class SweepResult:
    qa_path: str
    index: str
    questions: int
    ks: list[int]
    per_doc: bool
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def metrics(self) -> list[str]:
        return [
            m
            for m in metric_names(self.ks)
            if m.startswith("recall@") or m in (f"mrr@{RANK_CUTOFF}", f"ndcg@{RANK_CUTOFF}")
        ]

    def baseline(self, mode: str | None = None) -> Row:
        rows = [r for r in self.rows if r.baseline and (mode is None or r.config.mode == mode)]
        return rows[0] if rows else next(r for r in self.rows if r.baseline)

    def winners(self) -> dict[str, Row]:
        """The best row per metric; a tie goes to the baseline, then to the earlier row."""
        ordered = sorted(self.rows, key=lambda r: not r.baseline)  # stable: baselines first
        return {metric: max(ordered, key=lambda r: r.result.metrics[metric]) for metric in self.metrics}

    def paired(self, row: Row, metric: str) -> tuple[int, int]:
        """For a recall metric: questions this row finds that its mode's baseline misses, and
        the reverse."""
        if not metric.startswith("recall@"):
            return (0, 0)
        base = self.baseline(row.config.mode)
        if metric == BUDGET_KEY:
            mine = [o.budget_hit for o in row.result.outcomes]
            theirs = [o.budget_hit for o in base.result.outcomes]
        else:
            k = int(metric.split("@")[1])
            mine = [o.hit_within(k) for o in row.result.outcomes]
            theirs = [o.hit_within(k) for o in base.result.outcomes]
        gained = sum(a and not b for a, b in zip(mine, theirs))
        lost = sum(b and not a for a, b in zip(mine, theirs))
        return gained, lost


def beyond_noise(gained: int, lost: int) -> bool:
    """The net gain passes a two-sided sign test at about 95 %: gained - lost >= 2 sqrt(gained + lost)."""
    return gained + lost > 0 and gained - lost >= 2 * math.sqrt(gained + lost)
