"""The reports: a terminal table, JSON, a self-contained HTML page with the curve, Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from evaluation.qa import load_questions
from evaluation.report import print_table, svg_curve, write_reports
from evaluation.runner import EvalRun, evaluate, in_process


@pytest.fixture
def run(tiny, tiny_retriever, qa_file: Path) -> EvalRun:
    loaded = load_questions(qa_file)
    results = evaluate(loaded.questions, in_process(tiny_retriever), ["lexical", "hybrid"], [1, 3, 10], per_doc=False)
    return EvalRun(str(qa_file), str(tiny.index_dir), False, [1, 3, 10], results, loaded.invalid, tiny.version,
                   {"fusion_alpha": 0.5})


def test_report_files_hold_the_numbers_the_curve_and_the_misses(run: EvalRun, tmp_path: Path) -> None:
    paths = write_reports(run, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"results.json", "report.html", "report.md", "recall-curve.svg"}

    data = json.loads(paths["json"].read_text())
    lexical = data["modes"]["lexical"]
    assert lexical["metrics"]["recall@1"] == pytest.approx(0.2) and lexical["metrics"]["recall@3"] == pytest.approx(0.6)
    assert lexical["curve"] == pytest.approx([0.2, 0.4, 0.6] + [0.6] * 7)
    assert lexical["misses"] == ["q3", "q4"]
    assert [q["first_hit"] for q in lexical["questions"]] == [1, 2, None, None, 3]
    assert data["invalid_lines"] == [
        {"line": 3, "error": data["invalid_lines"][0]["error"]}, {"line": 6, "error": "missing 'answers'"}
    ]
    assert data["index_version"] == run.index_version and data["questions"] == 5

    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and not re.search(r"""(?:src|href)=["']?https?:""", page)  # self-contained
    svg = page[page.index("<svg"): page.index("</svg>")]
    assert svg.count("<polyline") == 2  # one recall@k line per mode
    assert "Passage recall@k per mode" in svg and ">lexical: 0.60 at k=10<" in svg
    misses = page[page.index("Missed questions"):]
    assert "lexical: 2 of 5 missed" in misses
    assert "q3: Which colour is the gondola ribbon?" in misses
    assert "The gondola ribbon is green" in misses  # what came back instead
    assert "q4: What does the warden keep in the ledger?" in misses
    assert "the gold document comes at rank 1, but no passage of it in the top 10 holds the answer" in misses
    assert "the gold document is not in the top 10" in misses  # q3
    assert "line 3:" in page and "line 6: missing &#x27;answers&#x27;" in page

    markdown = paths["markdown"].read_text()
    assert "| metric | lexical | hybrid |" in markdown and "| recall@1 | 0.200 |" in markdown
    assert "![recall@k per mode](recall-curve.svg)" in markdown
    assert "- **q3** Which colour is the gondola ribbon?" in markdown
    assert paths["svg"].read_text().startswith("<svg")


def test_terminal_table_lists_every_metric_side_by_side(run: EvalRun) -> None:
    console = Console(record=True, width=120)
    print_table(run, console)
    text = console.export_text()
    assert "5 questions, whole index" in text
    row = next(line for line in text.splitlines() if line.startswith("│ recall@3 "))
    assert "0.600" in row
    for name in ("recall@1", "recall@10", "MRR@10", "nDCG@10", "recall@2000c", "median passage chars",
                 "doc recall@1", "latency p50 ms", "latency p95 ms"):
        assert f"│ {name} " in text, name


def test_svg_curve_points_sit_where_the_values_say() -> None:
    svg = svg_curve([("a", [0.0, 0.5, 1.0], "#000")], "t")
    points = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    xs = [float(p.split(",")[0]) for p in points]
    assert ys[0] > ys[1] > ys[2] and ys[0] - ys[1] == pytest.approx(ys[1] - ys[2])  # linear in recall
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])
