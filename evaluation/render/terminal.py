"""What ``eval`` and ``--sweep`` print: the tables of :mod:`evaluation.render.tables`, drawn
with rich. The sweep's are compact enough for 80 columns; every metric is in the reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from evaluation.render.format import caveat, scope_text
from evaluation.render.tables import (
    LONG_NAMES,
    SHORT_NAMES,
    TYPE_HEADER,
    TYPE_METRICS,
    Table,
    metric_table,
    question_types,
    settings_table,
    type_table,
    varying,
    winner_table,
)

if TYPE_CHECKING:
    from evaluation.grid import SweepResult
    from evaluation.runner import EvalRun


def rich_table(table: Table, compact: bool = False) -> RichTable:
    """``table`` for the terminal; ``compact``: no frame, one space between columns."""
    options: dict = {"box": box.SIMPLE_HEAD, "padding": (0, 1), "pad_edge": False} if compact else {}
    drawn = RichTable(title=table.title, title_justify="left", **options)
    for column in table.columns:
        drawn.add_column(column.header, justify="right" if column.numeric else "left", no_wrap=column.no_wrap)
    for row in table.rows:
        drawn.add_row(*row.cells, style="bold" if row.strong else None)
    return drawn


def print_table(run: EvalRun, console: Console) -> None:
    console.print(f"[bold]clausewise eval[/bold]: {run.questions} questions, {scope_text(run)}")
    console.print(rich_table(metric_table(run)))
    if question_types(run):
        title = f"{TYPE_HEADER} by question type"
        console.print(rich_table(type_table(run, TYPE_METRICS, sep="/", title=title)))


def _legend(result: SweepResult) -> str:
    names = varying(result)
    hybrid = next((r.config for r in result.rows if r.config.mode == "hybrid"), None)
    legend = [f"{SHORT_NAMES[n]}: {LONG_NAMES[n]}" for n in names]
    if hybrid is not None:
        legend += [f"{LONG_NAMES[n]} {getattr(hybrid, n):g} throughout" for n in SHORT_NAMES if n not in names]
    return "; ".join(legend + ["passages: tokens/overlap", "* current settings", "bold: a winner"]) + "."


def print_sweep(result: SweepResult, console: Console) -> None:
    console.print(f"[bold]clausewise eval --sweep[/bold]: {result.questions} questions, {len(result.rows)} settings")
    console.print(rich_table(settings_table(result, compact=True), compact=True))
    console.print(_legend(result))
    console.print(rich_table(winner_table(result, compact=True), compact=True))
    console.print(f"[yellow]{caveat(result)}[/yellow]")
