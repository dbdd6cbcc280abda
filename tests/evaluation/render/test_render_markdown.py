"""The Markdown reports."""

from __future__ import annotations

from evaluation.grid import SweepResult
from evaluation.render.markdown import markdown_table, md_table, render_markdown, sweep_markdown
from evaluation.render.tables import Column, Table, TableRow
from evaluation.runner import EvalRun


def test_md_table_right_aligns_numbers() -> None:
    table = Table([Column("metric"), Column("lexical", numeric=True)], [TableRow(["recall@1", "0.200"])])
    assert md_table(table) == "| metric | lexical |\n|---|---:|\n| recall@1 | 0.200 |"


def test_report_holds_the_table_the_curve_and_the_misses(run: EvalRun) -> None:
    markdown = render_markdown(run)
    assert markdown.startswith("# clausewise eval: qa.jsonl")
    assert "| metric | lexical | hybrid |" in markdown and "| recall@1 | 0.200 |" in markdown
    assert markdown_table(run) in markdown
    assert "![recall@k per mode](recall-curve.svg)" in markdown
    assert "## Missed questions (no hit in the top 10)" in markdown and "### lexical: 2 of 5" in markdown
    assert (
        "- **q3** Which colour is the gondola ribbon? — the gold document is not in the top 10; got `charlie.txt`"
        in markdown
    )
    assert "## Invalid lines (skipped)" in markdown and "- line 6: missing 'answers'" in markdown
    assert "![" not in render_markdown(run, curve_file=None)


def test_sweep_report_lists_every_setting_the_winners_and_the_caveat(sweep: SweepResult) -> None:
    markdown = sweep_markdown(sweep)
    assert "| mode | passages | alpha | candidates | boost | recall@1 |" in markdown
    assert "| hybrid * | 24/0 | 0.5 | 100 | 0.2 | 0.250 |" in markdown
    assert "## Winner per metric" in markdown
    assert (
        "| recall@1 | hybrid · passages 24/0 · alpha 0.3 · candidates 100 · boost 0.2 | 0.500 | 0.250 | +1/−0 noise |"
        in markdown
    )
    assert "> **Caveat.** Overfitting" in markdown and "- note: passages 1000/0 become 206/0" in markdown
