"""Runs to render: ``run`` asks the tiny index (``tests/evaluation/conftest.py``) in two modes;
``sweep`` is the hand-made sweep of ``eval_samples.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_samples import sweep_result

from evaluation.grid import SweepResult
from evaluation.qa import load_questions
from evaluation.runner import EvalRun, evaluate, in_process


@pytest.fixture
def run(tiny, tiny_retriever, qa_file: Path) -> EvalRun:
    loaded = load_questions(qa_file)
    results = evaluate(loaded.questions, in_process(tiny_retriever), ["lexical", "hybrid"], [1, 3, 10], per_doc=False)
    return EvalRun(
        str(qa_file),
        str(tiny.index_dir),
        False,
        [1, 3, 10],
        results,
        loaded.invalid,
        tiny.version,
        {"fusion_alpha": 0.5},
    )


@pytest.fixture
def sweep() -> SweepResult:
    return sweep_result()
