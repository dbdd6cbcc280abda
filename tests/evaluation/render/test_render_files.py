"""The report folders: the files `eval` and `--sweep` write."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.grid import SweepResult
from evaluation.render import write_reports, write_sweep_reports
from evaluation.render.html import render_html
from evaluation.render.svg import recall_svg
from evaluation.runner import EvalRun


def test_eval_writes_json_html_markdown_and_the_curve(run: EvalRun, tmp_path: Path) -> None:
    paths = write_reports(run, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "results.json",
        "report.html",
        "report.md",
        "recall-curve.svg",
    }
    assert set(paths) == {"json", "html", "markdown", "svg"}
    assert json.loads(paths["json"].read_text())["questions"] == 5
    assert paths["html"].read_text() == render_html(run)
    assert paths["markdown"].read_text().startswith("# clausewise eval: qa.jsonl")
    assert paths["svg"].read_text() == recall_svg(run) + "\n"


def test_sweep_writes_json_html_and_markdown(sweep: SweepResult, tmp_path: Path) -> None:
    paths = write_sweep_reports(sweep, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"sweep.json", "sweep.html", "sweep.md"}
    for path in paths.values():
        text = path.read_text()
        assert "Overfitting" in text and "same 4 questions" in text
    assert "Winner per metric" in paths["markdown"].read_text()
