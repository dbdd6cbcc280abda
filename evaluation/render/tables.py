"""The tables of ``eval`` and ``--sweep``, built once and drawn by every format.

A :class:`Table` holds text cells only; :func:`evaluation.render.terminal.rich_table`,
:func:`evaluation.render.markdown.md_table` and :func:`evaluation.render.html.html_table`
draw it. The builders here decide what the tables say: the metrics per mode, the results
per question type, every setting of a sweep, and its winner per metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evaluation.grid import Config, SweepResult, beyond_noise
from evaluation.metrics import BUDGET_KEY, RANK_CUTOFF, metric_names
from evaluation.render.format import fmt, label

if TYPE_CHECKING:
    from evaluation.runner import EvalRun


@dataclass(frozen=True)
class Column:
    header: str
    numeric: bool = False  # right-aligned
    no_wrap: bool = False  # in the terminal


@dataclass
class TableRow:
    cells: list[str]
    best: frozenset[int] = frozenset()  # columns where this row holds the best value (bold in HTML)
    strong: bool = False  # the whole row stands out (bold in the terminal)


@dataclass
class Table:
    columns: list[Column]
    rows: list[TableRow] = field(default_factory=list)
    title: str | None = None  # drawn by the terminal; the documents write a heading instead


# -- eval --------------------------------------------------------------------------------


def _best(metric: str, values: list[float | None]) -> float | None:
    """The best value of a metric row: the highest, the lowest for latencies, none for
    counts and lengths (they are read, not ranked)."""
    present = [v for v in values if v is not None]
    if not present or metric in ("median_passage_chars", "errors"):
        return None
    return min(present) if metric.startswith("latency") else max(present)


def metric_table(run: EvalRun) -> Table:
    """One row per metric, one column per mode; the best value of a row is marked when
    several modes are compared."""
    names = [m for m in metric_names(run.ks) if any(m in r.metrics for r in run.results)]
    if any("errors" in r.metrics for r in run.results):
        names.append("errors")
    table = Table([Column("metric")] + [Column(r.mode, numeric=True) for r in run.results])
    for metric in names:
        values = [r.metrics.get(metric) for r in run.results]
        best = _best(metric, values) if len(run.results) > 1 else None
        marked = frozenset(i + 1 for i, v in enumerate(values) if best is not None and v == best)
        table.rows.append(TableRow([label(metric)] + [fmt(metric, v) for v in values], marked))
    return table


# What every format shows per question type: the first passage (R@1, MRR) before the wider
# nets, so that a type whose answer is found but rarely first shows as such.
TYPE_METRICS = ("recall@1", f"mrr@{RANK_CUTOFF}", "recall@5", "recall@10")
TYPE_HEADER = "r@1 / MRR / r@5 / r@10"


def question_types(run: EvalRun) -> list[str]:
    return list(run.results[0].by_type()) if run.results else []


def type_table(
    run: EvalRun, metrics: Sequence[str], sep: str = " / ", header: str | None = None, title: str | None = None
) -> Table:
    """One row per question type: its count, and ``metrics`` per mode in one cell joined by
    ``sep`` (two decimals). ``header`` is added to each mode's column name."""
    table = Table([Column("type", no_wrap=True), Column("n", numeric=True)], title=title)
    table.columns += [
        Column(f"{r.mode} {header}" if header else r.mode, numeric=True, no_wrap=True) for r in run.results
    ]
    for kind in question_types(run):
        cells = [sep.join(f"{r.by_type()[kind][m]:.2f}" for m in metrics) for r in run.results]
        table.rows.append(TableRow([kind, f"{run.results[0].by_type()[kind]['questions']:.0f}"] + cells))
    return table


# -- sweep -------------------------------------------------------------------------------

SHORT_NAMES = {"fusion_alpha": "a", "candidates": "c", "article_boost": "b"}
LONG_NAMES = {
    "fusion_alpha": "fusion weight of the dense side",
    "candidates": "candidates per side before fusion",
    "article_boost": "article boost",
}
TERMINAL_METRICS = {
    "recall@1": "r@1",
    "recall@5": "r@5",
    "recall@10": "r@10",
    f"mrr@{RANK_CUTOFF}": "MRR",
    BUDGET_KEY: "r@2000c",
    "median_passage_chars": "chars",
}
CONFIG_HEADERS = ["mode", "passages", "alpha", "candidates", "boost"]


def sweep_columns(result: SweepResult) -> list[str]:
    """The metrics a sweep shows for every setting."""
    return result.metrics + ["median_passage_chars"]


def varying(result: SweepResult) -> list[str]:
    """The fusion settings that take more than one value among the hybrid rows."""
    hybrid = [r.config for r in result.rows if r.config.mode == "hybrid"]
    return [name for name in SHORT_NAMES if len({getattr(c, name) for c in hybrid}) > 1]


def short_label(config: Config, varying: list[str] | None = None) -> str:
    """``hybrid 160/24 a0.7 c100``: the passage sizes and the fusion settings that vary."""
    text = f"{config.mode} {config.passages}"
    if config.mode == "hybrid":
        for name in SHORT_NAMES if varying is None else varying:
            text += f" {SHORT_NAMES[name]}{getattr(config, name):g}"
    return text


def _config_cells(config: Config) -> list[str]:
    hybrid = config.mode == "hybrid"
    return [
        config.mode,
        config.passages,
        f"{config.fusion_alpha:g}" if hybrid else "–",
        str(config.candidates) if hybrid else "–",
        f"{config.article_boost:g}" if hybrid else "–",
    ]


def settings_table(result: SweepResult, compact: bool = False) -> Table:
    """One row per setting tried. In full, the settings one per column and every metric;
    ``compact`` (80 columns): a short label and the headline metrics. A winner's row is
    strong, and each value that wins its column is marked best."""
    won: dict[int, set[str]] = {}
    for metric, row in result.winners().items():
        won.setdefault(id(row), set()).add(metric)
    shown, names = sweep_columns(result), varying(result)
    if compact:
        metrics = [m for m in TERMINAL_METRICS if m in shown]
        columns = [Column("setting", no_wrap=True)] + [Column(TERMINAL_METRICS[m], True, True) for m in metrics]
    else:
        metrics = shown
        columns = [Column(h) for h in CONFIG_HEADERS] + [Column(label(m), numeric=True) for m in metrics]
    table = Table(columns)
    for row in result.rows:
        mark = " *" if row.baseline else ""
        first = [short_label(row.config, names) + mark] if compact else _config_cells(row.config)
        if not compact:
            first[0] += mark
        wins = won.get(id(row), set())
        best = frozenset(len(first) + i for i, m in enumerate(metrics) if m in wins)
        cells = first + [fmt(m, row.result.metrics[m]) for m in metrics]
        table.rows.append(TableRow(cells, best, strong=bool(wins)))
    return table


def winner_table(result: SweepResult, compact: bool = False) -> Table:
    """The winner per metric beside the current value of its mode, with the questions it
    gains and loses (recall metrics), marked ``noise`` or ``clear`` by the sign test."""
    names = varying(result)
    headers = ["metric", "winner", "value", "current", "questions" if compact else "questions gained / lost"]
    title = "winner per metric, against the current settings of its mode" if compact else None
    table = Table([Column(h, numeric=h in ("value", "current"), no_wrap=True) for h in headers], title=title)
    for metric, row in result.winners().items():
        base = result.baseline(row.config.mode)
        gained, lost = result.paired(row, metric)
        change = "–"
        if metric.startswith("recall@"):
            change = f"+{gained}/−{lost}" + (
                "" if row.baseline else " clear" if beyond_noise(gained, lost) else " noise"
            )
        if compact:
            winner = short_label(row.config, names) + (" *" if row.baseline else "")
        else:
            winner = row.config.label() + (" (current)" if row.baseline else "")
        values = [fmt(metric, row.result.metrics[metric]), fmt(metric, base.result.metrics[metric])]
        table.rows.append(TableRow([label(metric), winner, *values, change]))
    return table
