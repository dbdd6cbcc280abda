"""The Markdown reports: ``report.md`` of ``eval`` and ``sweep.md`` of ``--sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.render.format import caveat, scope_text, why_missed
from evaluation.render.tables import (
    TYPE_HEADER,
    TYPE_METRICS,
    Table,
    metric_table,
    question_types,
    settings_table,
    type_table,
    winner_table,
)

if TYPE_CHECKING:
    from evaluation.grid import SweepResult
    from evaluation.runner import EvalRun


def md_table(table: Table) -> str:
    """``table`` as a Markdown table, numbers right-aligned."""
    lines = [
        "| " + " | ".join(c.header for c in table.columns) + " |",
        "|" + "".join("---:|" if c.numeric else "---|" for c in table.columns),
    ]
    lines += ["| " + " | ".join(row.cells) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown_table(run: EvalRun) -> str:
    """The metrics per mode (``docs/benchmarks.md`` shows this table)."""
    return md_table(metric_table(run))


def _misses(run: EvalRun) -> list[str]:
    k = max(run.ks)
    lines = [f"## Missed questions (no hit in the top {k})", ""]
    for result in run.results:
        misses = result.misses(k)
        lines += [f"### {result.mode}: {len(misses)} of {len(result.outcomes)}", ""]
        for o in misses:
            top = o.returned[0] if o.returned else None
            got = f"got `{top.source}`" + (f" ({top.section})" if top and top.section else "") if top else "got nothing"
            lines.append(
                f"- **{o.question.id}** {o.question.question} — {why_missed(o, result.depth, run.missing_docs)}; {got}"
            )
        lines.append("")
    return lines


def render_markdown(run: EvalRun, curve_file: str | None = "recall-curve.svg") -> str:
    lines = [
        f"# clausewise eval: {Path(run.qa_path).name}",
        "",
        f"{run.questions} questions from `{run.qa_path}`, asked of `{run.target}` (index {run.index_version or '–'}), "
        + scope_text(run)
        + f", {run.created_at}."
        + (f" {len(run.invalid)} invalid lines skipped." if run.invalid else ""),
        "",
        markdown_table(run),
        "",
    ]
    if curve_file:
        lines += [f"![recall@k per mode]({curve_file})", ""]
    if question_types(run):
        by_type = type_table(run, TYPE_METRICS)
        lines += [f"## By question type ({TYPE_HEADER})", "", md_table(by_type), ""]
    lines += _misses(run)
    if run.invalid:
        lines += ["## Invalid lines (skipped)", ""] + [f"- line {line}: {why}" for line, why in run.invalid] + [""]
    return "\n".join(lines)


def sweep_markdown(result: SweepResult) -> str:
    lines = [
        f"# clausewise eval --sweep: {Path(result.qa_path).name}",
        "",
        f"{result.questions} questions, index `{result.index}`"
        + (", each asked of its own document" if result.per_doc else "")
        + f", {result.created_at}. `*` = current settings.",
        "",
        md_table(settings_table(result)),
        "",
        "## Winner per metric",
        "",
        md_table(winner_table(result)),
        "",
        f"> **Caveat.** {caveat(result)}",
        "",
    ]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    return "\n".join(lines)
