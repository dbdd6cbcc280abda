"""Everything, for machines: ``results.json`` of ``eval`` and ``sweep.json`` of ``--sweep``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.grid import beyond_noise
from evaluation.render.format import caveat

if TYPE_CHECKING:
    from evaluation.grid import SweepResult
    from evaluation.metrics import Outcome
    from evaluation.runner import EvalRun


def _outcome_json(o: Outcome) -> dict:
    return {
        "id": o.question.id,
        "first_hit": o.first_hit,
        "first_doc_hit": o.first_doc_hit,
        "budget_hit": o.budget_hit,
        "latency_ms": round(o.latency_ms, 3),
        "error": o.error,
        "returned": [
            {
                "rank": rank,
                "id": p.id,
                "source": p.source,
                "section": p.section,
                "page": p.page_start,
                "chars": len(p.text),
            }
            for rank, p in enumerate(o.returned, 1)
        ],
    }


def to_json(run: EvalRun) -> dict:
    """Metrics, curves, and per question the rank of the first hit, of the gold document, and
    the passages returned."""
    return {
        "qa": run.qa_path,
        "target": run.target,
        "index_version": run.index_version,
        "per_doc": run.per_doc,
        "scope": run.scope,
        "ks": run.ks,
        "created_at": run.created_at,
        "settings": run.settings,
        "questions": run.questions,
        "invalid_lines": [{"line": line, "error": why} for line, why in run.invalid],
        "modes": {
            r.mode: {
                "metrics": r.metrics,
                "curve": r.curve(),
                "doc_curve": r.doc_curve() if "doc_recall@1" in r.metrics else None,
                "by_type": r.by_type(),
                "misses": [o.question.id for o in r.misses()],
                "questions": [_outcome_json(o) for o in r.outcomes],
            }
            for r in run.results
        },
    }


def sweep_json(result: SweepResult) -> dict:
    """Every setting with its metrics (without latencies), and
    the winner per metric with its gained/lost questions."""
    return {
        "qa": result.qa_path,
        "index": result.index,
        "questions": result.questions,
        "per_doc": result.per_doc,
        "ks": result.ks,
        "created_at": result.created_at,
        "notes": result.notes,
        "caveat": caveat(result),
        "rows": [
            {
                **row.config.as_dict(),
                "current": row.baseline,
                "metrics": {k: v for k, v in row.result.metrics.items() if not k.startswith("latency")},
            }
            for row in result.rows
        ],
        "winners": {
            metric: {
                **row.config.as_dict(),
                "value": row.result.metrics[metric],
                "current": row.baseline,
                "gained_lost": list(result.paired(row, metric)),
                "beyond_noise": beyond_noise(*result.paired(row, metric)),
            }
            for metric, row in result.winners().items()
        },
    }
