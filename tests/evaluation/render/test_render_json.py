"""The JSON files, for machines."""

from __future__ import annotations

import json

import pytest

from evaluation.grid import SweepResult
from evaluation.render.json import sweep_json, to_json
from evaluation.runner import EvalRun


def test_results_hold_the_numbers_and_every_question(run: EvalRun) -> None:
    data = json.loads(json.dumps(to_json(run)))  # plain JSON
    lexical = data["modes"]["lexical"]
    assert lexical["metrics"]["recall@1"] == pytest.approx(0.2) and lexical["metrics"]["recall@3"] == pytest.approx(0.6)
    assert lexical["curve"] == pytest.approx([0.2, 0.4, 0.6] + [0.6] * 7)
    assert lexical["misses"] == ["q3", "q4"]
    assert [q["first_hit"] for q in lexical["questions"]] == [1, 2, None, None, 3]
    assert lexical["questions"][0]["returned"][0]["source"] == "alpha.txt"
    assert data["invalid_lines"] == [
        {"line": 3, "error": data["invalid_lines"][0]["error"]},
        {"line": 6, "error": "missing 'answers'"},
    ]
    assert data["index_version"] == run.index_version and data["questions"] == 5
    assert data["settings"] == {"fusion_alpha": 0.5}


def test_sweep_holds_every_setting_and_the_winners(sweep: SweepResult) -> None:
    data = json.loads(json.dumps(sweep_json(sweep)))
    assert [(r["mode"], r["fusion_alpha"], r["current"]) for r in data["rows"]] == [
        ("hybrid", 0.5, True),
        ("hybrid", 0.3, False),
        ("lexical", None, True),
    ]
    assert not any(k.startswith("latency") for r in data["rows"] for k in r["metrics"])
    winner = data["winners"]["recall@1"]
    assert (winner["fusion_alpha"], winner["value"], winner["gained_lost"], winner["beyond_noise"]) == (
        0.3,
        0.5,
        [1, 0],
        False,
    )
    assert "same 4 questions" in data["caveat"] and data["notes"] == sweep.notes
