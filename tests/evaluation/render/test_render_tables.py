"""The tables every format draws: what they hold, which values they mark."""

from __future__ import annotations

from eval_samples import mode_result

from evaluation.grid import SweepResult
from evaluation.render.tables import metric_table, settings_table, short_label, type_table, varying, winner_table
from evaluation.runner import EvalRun


def _run(*results) -> EvalRun:
    return EvalRun("qa.jsonl", "/idx", False, [1, 5, 10], list(results))


def test_metric_table_marks_the_best_mode_per_row() -> None:
    table = metric_table(_run(mode_result("hybrid", [1, 2, None]), mode_result("dense", [3, 1, None])))
    assert [c.header for c in table.columns] == ["metric", "hybrid", "dense"]
    assert [c.numeric for c in table.columns] == [False, True, True]
    rows = {row.cells[0]: row for row in table.rows}
    assert rows["recall@1"].cells == ["recall@1", "0.333", "0.333"] and rows["recall@1"].best == {1, 2}
    assert rows["MRR@10"].best == {1}  # (1 + 1/2) / 3 against (1/3 + 1) / 3
    assert rows["latency p50 ms"].best == {1, 2}  # the lowest; equal here
    assert rows["median passage chars"].best == frozenset()  # read, not ranked
    assert "errors" not in rows


def test_one_mode_marks_nothing_and_errors_get_a_row() -> None:
    result = mode_result("lexical", [1, None])
    result.outcomes[1].error = "HTTP 422"
    result.metrics["errors"] = 1
    table = metric_table(_run(result))
    assert all(not row.best for row in table.rows)
    assert table.rows[-1].cells == ["errors", "1"]


def test_type_table_joins_the_metrics_of_a_mode_in_one_cell() -> None:
    run = _run(mode_result("hybrid", [1, 5, None], kinds=["easy", "hard", "hard"]))
    table = type_table(run, ("recall@1", "recall@5"), sep="/", header="r@1 / r@5", title="by type")
    assert [c.header for c in table.columns] == ["type", "n", "hybrid r@1 / r@5"]
    assert [row.cells for row in table.rows] == [["easy", "1", "1.00/1.00"], ["hard", "2", "0.00/0.50"]]
    assert table.title == "by type"


def test_settings_table_in_full_and_compact(sweep: SweepResult) -> None:
    full = settings_table(sweep)
    assert [c.header for c in full.columns][:6] == ["mode", "passages", "alpha", "candidates", "boost", "recall@1"]
    assert full.rows[0].cells[:5] == ["hybrid *", "24/0", "0.5", "100", "0.2"]
    assert full.rows[2].cells[:5] == ["lexical *", "24/0", "–", "–", "–"]
    assert [row.strong for row in full.rows] == [False, True, False]
    assert full.rows[1].best == {5, 6, 7, 8, 9, 10}  # every metric column but the passage length
    compact = settings_table(sweep, compact=True)
    assert [c.header for c in compact.columns] == ["setting", "r@1", "r@5", "r@10", "MRR", "r@2000c", "chars"]
    assert [row.cells[0] for row in compact.rows] == ["hybrid 24/0 a0.5 *", "hybrid 24/0 a0.3", "lexical 24/0 *"]


def test_short_labels_show_what_varies(sweep: SweepResult) -> None:
    assert varying(sweep) == ["fusion_alpha"]
    assert short_label(sweep.rows[0].config) == "hybrid 24/0 a0.5 c100 b0.2"
    assert short_label(sweep.rows[0].config, []) == "hybrid 24/0"


def test_winner_table_counts_the_questions_gained_and_lost(sweep: SweepResult) -> None:
    full = winner_table(sweep)
    assert [c.header for c in full.columns][-1] == "questions gained / lost"
    first = full.rows[0].cells
    assert first == [
        "recall@1",
        "hybrid · passages 24/0 · alpha 0.3 · candidates 100 · boost 0.2",
        "0.500",
        "0.250",
        "+1/−0 noise",
    ]
    noise = "+1/−0 noise"
    assert [row.cells[-1] for row in full.rows] == [noise, noise, noise, "–", "–", noise]  # MRR, nDCG: no counts
    compact = winner_table(sweep, compact=True)
    assert compact.rows[0].cells[1] == "hybrid 24/0 a0.3" and compact.title.startswith("winner per metric")


def test_every_format_shows_recall_at_1_and_mrr_by_question_type() -> None:
    from evaluation.render.tables import TYPE_METRICS

    run = _run(mode_result("hybrid", [1, 2, None], kinds=["easy", "hard", "hard"]))
    table = type_table(run, TYPE_METRICS)
    assert TYPE_METRICS[:2] == ("recall@1", "mrr@10")
    # hard: one first hit at rank 2 (MRR 0.5 / 2 questions), none at rank 1.
    assert [row.cells for row in table.rows] == [
        ["easy", "1", "1.00 / 1.00 / 1.00 / 1.00"],
        ["hard", "2", "0.00 / 0.25 / 0.50 / 0.50"],
    ]
