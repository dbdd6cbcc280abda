"""The recall@k curves."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from evaluation.render.svg import doc_recall_svg, recall_svg, svg_curve
from evaluation.runner import EvalRun


def test_svg_curve_points_sit_where_the_values_say() -> None:
    svg = svg_curve([("a", [0.0, 0.5, 1.0], "#000")], "t")
    points = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    xs = [float(p.split(",")[0]) for p in points]
    assert ys[0] > ys[1] > ys[2] and ys[0] - ys[1] == pytest.approx(ys[1] - ys[2])  # linear in recall
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])


def test_one_curve_per_mode_and_guides_at_the_ks_asked(run: EvalRun) -> None:
    svg = recall_svg(run)
    assert (
        svg.startswith("<svg") and svg.count("<polyline") == 2 and svg.count('stroke-dasharray="4 4"') == 2
    )  # k=3, 10
    assert ">lexical: 0.60 at k=10<" in svg


def test_no_document_curve_when_each_question_is_asked_of_its_own_document(run: EvalRun) -> None:
    assert "Document recall@k per mode" in doc_recall_svg(run)
    assert doc_recall_svg(replace(run, per_doc=True)) is None
