"""The report folders: what ``eval`` and ``--sweep`` write, under which names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.render.html import render_html, sweep_html
from evaluation.render.json import sweep_json, to_json
from evaluation.render.markdown import render_markdown, sweep_markdown
from evaluation.render.svg import recall_svg

if TYPE_CHECKING:
    from evaluation.grid import SweepResult
    from evaluation.runner import EvalRun


def _dump(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def write_reports(run: EvalRun, out: Path) -> dict[str, Path]:
    """``results.json``, ``report.html``, ``report.md`` and ``recall-curve.svg`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "html": out / "report.html",
        "markdown": out / "report.md",
        "svg": out / "recall-curve.svg",
    }
    paths["json"].write_text(_dump(to_json(run)), encoding="utf-8")
    paths["html"].write_text(render_html(run), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(run), encoding="utf-8")
    paths["svg"].write_text(recall_svg(run) + "\n", encoding="utf-8")
    return paths


def write_sweep_reports(result: SweepResult, out: Path) -> dict[str, Path]:
    """``sweep.json``, ``sweep.html`` and ``sweep.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "sweep.json", "html": out / "sweep.html", "markdown": out / "sweep.md"}
    paths["json"].write_text(_dump(sweep_json(result)), encoding="utf-8")
    paths["html"].write_text(sweep_html(result), encoding="utf-8")
    paths["markdown"].write_text(sweep_markdown(result), encoding="utf-8")
    return paths
