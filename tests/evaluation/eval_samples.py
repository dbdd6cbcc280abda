"""Hand-made results, no model: a mode's result from the rank of each question's first hit,
and a small sweep whose winners can be worked out by hand.

==========================  ============  =====================================
row                         first hits    recall@1 / @5 / MRR@10
==========================  ============  =====================================
hybrid 24/0 a0.5 (current)  1, –, 3, –    0.25 / 0.50 / 0.333
hybrid 24/0 a0.3            1, 2, 1, –    0.50 / 0.75 / 0.625  (every winner)
lexical 24/0 (current)      –, –, 1, –    0.25 / 0.25 / 0.250
==========================  ============  =====================================
"""

from __future__ import annotations

from evaluation.grid import Config, Row, SweepResult
from evaluation.metrics import ModeResult, Outcome, Returned
from evaluation.qa import Question

KS = [1, 5, 10]
CREATED = "2026-01-01T00:00:00+00:00"


def question(i: int, kind: str | None = None) -> Question:
    return Question(f"q{i}", f"question {i}?", ["needle"], "gold.txt", type=kind)


def mode_result(
    mode: str, first_hits: list[int | None], ks: list[int] = KS, kinds: list[str] | None = None
) -> ModeResult:
    """Each question gets ten passages of gold.txt, the answer in the one at its first hit."""
    outcomes = []
    for i, hit in enumerate(first_hits, 1):
        texts = ["the needle" if rank == hit else "only hay" for rank in range(1, 11)]
        returned = [Returned(f"q{i}:{rank}", "gold.txt", text) for rank, text in enumerate(texts, 1)]
        outcomes.append(Outcome(question(i, kinds[i - 1] if kinds else None), returned, 10.0 * i))
    return ModeResult(mode, outcomes, ks)


def sweep_result() -> SweepResult:
    rows = [
        Row(Config(24, 0, "hybrid", 0.5, 100, 0.2), mode_result("hybrid", [1, None, 3, None]), baseline=True),
        Row(Config(24, 0, "hybrid", 0.3, 100, 0.2), mode_result("hybrid", [1, 2, 1, None])),
        Row(Config(24, 0, "lexical"), mode_result("lexical", [None, None, 1, None]), baseline=True),
    ]
    return SweepResult("qa/set.jsonl", "/idx", 4, KS, False, rows, ["note: passages 1000/0 become 206/0"], CREATED)
