"""The words and numbers every output shares: metric labels, number formats, mode colours,
and the sentences that describe a run (its scope, why a question was missed, the sweep's
overfitting caveat)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.metrics import RANK_CUTOFF

if TYPE_CHECKING:
    from evaluation.grid import SweepResult
    from evaluation.metrics import Outcome
    from evaluation.runner import EvalRun

COLORS = {"hybrid": "#1f63b4", "dense": "#c8331e", "lexical": "#2a8c3a"}
_FALLBACK = ["#8a4fbf", "#b8860b", "#17a2b8", "#555555"]

LABELS = {
    f"mrr@{RANK_CUTOFF}": f"MRR@{RANK_CUTOFF}",
    f"ndcg@{RANK_CUTOFF}": f"nDCG@{RANK_CUTOFF}",
    "median_passage_chars": "median passage chars",
    "latency_p50_ms": "latency p50 ms",
    "latency_p95_ms": "latency p95 ms",
}


def label(metric: str) -> str:
    """How a metric is named to a reader: ``mrr@10`` is ``MRR@10``."""
    if metric.startswith("doc_recall@"):
        return f"doc recall@{metric.split('@')[1]}"
    return LABELS.get(metric, metric)


def fmt(metric: str, value: float | None) -> str:
    """A metric's value as shown: three decimals, whole characters, tenths of milliseconds."""
    if value is None:
        return "–"
    if metric.startswith("latency"):
        return f"{value:.1f}"
    if metric in ("median_passage_chars", "questions", "errors"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def color(mode: str, i: int) -> str:
    return COLORS.get(mode, _FALLBACK[i % len(_FALLBACK)])


def scope_text(run: EvalRun) -> str:
    if run.per_doc:
        return "each question asked of its own document"
    return f"sources {run.scope}" if run.scope else "whole index"


def why_missed(o: Outcome, depth: int, missing: list[str] | tuple[str, ...] = ()) -> str:
    """Why a question got no hit in the top ``depth``, in the words of the report."""
    if o.question.doc in missing:
        return "the gold document is not in the index (not ingested, or it failed to load)"
    if o.error:
        return f"the service refused the question: {o.error}"
    if not o.returned:
        return "nothing was returned"
    if o.question.doc is None:
        return f"no passage in the top {depth} contains an answer"
    if o.first_doc_hit is None:
        return f"the gold document is not in the top {depth}"
    return (
        f"the gold document comes at rank {o.first_doc_hit}, but no passage of it in the top {depth} holds the answer"
        + (" with the evidence" if o.question.evidence else "")
    )


def caveat(result: SweepResult) -> str:
    """The overfitting caveat of a sweep, with the numbers of the run."""
    n = result.questions
    return (
        f"Overfitting: the winners are picked and scored on the same {n} questions. One question moves a "
        f"recall by {100 / n:.1f} points, and among {len(result.rows)} settings some look better by chance "
        "alone. The gained/lost counts show how many questions a winner really changes against the "
        "current settings; a net gain below twice the square root of the questions changed (a sign test at "
        "about 95 %) is marked noise. Before changing a default, confirm the winner on another question set "
        "(or on a part of this one held out from the choice), and keep the current setting when the gain is "
        "noise."
    )
