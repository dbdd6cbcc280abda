"""What `clausewise eval` and `--sweep` print."""

from __future__ import annotations

from rich.console import Console

from evaluation.grid import SweepResult
from evaluation.render.tables import Column, Table, TableRow
from evaluation.render.terminal import print_sweep, print_table, rich_table
from evaluation.runner import EvalRun


def _text(draw) -> str:
    console = Console(record=True, width=120)
    draw(console)
    return console.export_text()


def test_terminal_table_lists_every_metric_side_by_side(run: EvalRun) -> None:
    text = _text(lambda console: print_table(run, console))
    assert "5 questions, whole index" in text
    row = next(line for line in text.splitlines() if line.startswith("│ recall@3 "))
    assert "0.600" in row
    for name in (
        "recall@1",
        "recall@10",
        "MRR@10",
        "nDCG@10",
        "recall@2000c",
        "median passage chars",
        "doc recall@1",
        "latency p50 ms",
        "latency p95 ms",
    ):
        assert f"│ {name} " in text, name
    assert "by question type" not in text  # the tiny set has no types


def test_rich_table_right_aligns_numbers_and_bolds_strong_rows() -> None:
    table = Table(
        [Column("name"), Column("value", numeric=True)], [TableRow(["a", "1"]), TableRow(["bb", "22"], strong=True)]
    )
    drawn = rich_table(table, compact=True)
    assert [c.justify for c in drawn.columns] == ["left", "right"] and drawn.rows[1].style == "bold"
    lines = [line.strip() for line in _text(lambda console: console.print(drawn)).splitlines()]
    a, bb = (
        next(line for line in lines if line.startswith("a ")),
        next(line for line in lines if line.startswith("bb ")),
    )
    assert a.endswith(" 1") and bb.endswith(" 22") and len(a) == len(bb)  # right-aligned


def test_sweep_prints_settings_legend_winners_and_the_caveat(sweep: SweepResult) -> None:
    text = " ".join(_text(lambda console: print_sweep(sweep, console)).split())
    assert "clausewise eval --sweep: 4 questions, 3 settings" in text
    assert "hybrid 24/0 a0.5 * 0.250 0.500" in text and "lexical 24/0 *" in text
    assert "a: fusion weight of the dense side; candidates per side before fusion 100 throughout;" in text
    assert "winner per metric" in text and "recall@1 hybrid 24/0 a0.3 0.500 0.250 +1/−0 noise" in text
    assert "Overfitting: the winners are picked and scored on the same 4 questions" in text
