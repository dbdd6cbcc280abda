"""`clausewise eval --sweep`: the grid runs on copies, the user's index stays as it was."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest

from evaluation.grid import Grid
from evaluation.qa import load_questions
from evaluation.render import write_sweep_reports
from evaluation.sweep import SweepError, run_sweep
from ingest.errors import EvaluationError, ExitCode


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links resolved) with a digest of its bytes."""
    found = {}
    for root, _, files in os.walk(folder, followlinks=True):
        for name in files:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where the sweep's temporary indexes go, to check they are gone afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_sweep_tries_the_grid_on_copies_and_leaves_the_index_alone(
    tiny, qa_file: Path, shared_model, private_tmp: Path, tmp_path: Path
) -> None:
    before = _snapshot(tiny.index_dir)
    questions = load_questions(qa_file).questions
    grid = Grid(chunks=[(48, 0, 48)], alphas=[0.3], candidates=[], boosts=[])
    result = run_sweep(
        tiny.index_dir, str(qa_file), questions, tiny.settings, grid, ["hybrid", "lexical"], [1, 5], False
    )

    assert _snapshot(tiny.index_dir) == before
    assert list(private_tmp.iterdir()) == []  # the re-chunked copies are deleted
    configs = [(r.config.mode, r.config.chunk_tokens, r.config.fusion_alpha, r.baseline) for r in result.rows]
    assert configs == [
        ("hybrid", 24, 0.5, True),
        ("hybrid", 24, 0.3, False),
        ("lexical", 24, None, True),
        ("hybrid", 48, 0.5, False),
        ("hybrid", 48, 0.3, False),
        ("lexical", 48, None, False),
    ]
    assert all(r.config.candidates in (100, None) and r.config.article_boost in (0.2, None) for r in result.rows)
    lexical = result.baseline("lexical").result
    assert lexical.metrics["recall@1"] == pytest.approx(0.2) and lexical.metrics["recall@5"] == pytest.approx(0.6)
    # 48-token passages hold two sentences: the re-ingested copy really has other passages.
    rechunked = next(r for r in result.rows if r.config.mode == "lexical" and r.config.chunk_tokens == 48)
    assert rechunked.result.metrics["median_passage_chars"] > 1.5 * lexical.metrics["median_passage_chars"]

    winners = result.winners()
    assert set(winners) == {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "recall@2000c"}
    for metric, row in winners.items():
        assert row.result.metrics[metric] == max(r.result.metrics[metric] for r in result.rows)
    assert result.paired(result.baseline("hybrid"), "recall@1") == (0, 0)

    paths = write_sweep_reports(result, tmp_path / "out")
    for path in paths.values():
        text = path.read_text()
        assert "Overfitting" in text and "same 5 questions" in text
    assert "Winner per metric" in paths["markdown"].read_text()


def test_a_grid_value_can_size_flat_documents_apart(tiny, qa_file: Path, shared_model, private_tmp: Path) -> None:
    """The tiny corpus is flat (no headings): ``24+48/0`` cuts it as 48-token passages."""
    questions = load_questions(qa_file).questions
    grid = Grid(chunks=[(24, 0, 48)], alphas=[], candidates=[], boosts=[])
    result = run_sweep(tiny.index_dir, str(qa_file), questions, tiny.settings, grid, ["lexical"], [1], False)
    baseline, flat = result.rows
    assert (baseline.config.passages, flat.config.passages) == ("24/0", "24+48/0")
    assert flat.config.label() == "lexical · passages 24+48/0"
    assert flat.result.metrics["median_passage_chars"] > 1.5 * baseline.result.metrics["median_passage_chars"]


def test_a_grid_value_beyond_the_model_window_is_capped_and_said(
    tiny, qa_file: Path, shared_model, private_tmp: Path
) -> None:
    questions = load_questions(qa_file).questions
    grid = Grid(chunks=[(1000, 0, 1000)], alphas=[], candidates=[], boosts=[])
    result = run_sweep(tiny.index_dir, str(qa_file), questions, tiny.settings, grid, ["lexical"], [1], False)
    assert [r.config.chunk_tokens for r in result.rows] == [24, 206]  # 256 - 2 - 48 for the title prefix
    assert any("1000/0 become 206/0" in note for note in result.notes)


def test_sweep_needs_the_recorded_corpus(tiny, qa_file: Path, shared_model, private_tmp: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "index-copy"
    shutil.copytree(tiny.index_dir, copy, symlinks=True)
    manifest = next(copy.glob("generations/*/manifest.json"))
    manifest.write_text(manifest.read_text().replace(str(tiny.corpus), str(tmp_path / "gone")))
    questions = load_questions(qa_file).questions
    with pytest.raises(SweepError, match="none of the index's documents"):
        run_sweep(copy, str(qa_file), questions, tiny.settings, Grid(chunks=[(48, 0, 48)]), ["lexical"], [1], False)
    assert list(private_tmp.iterdir()) == []


def test_a_sweep_error_is_an_evaluation_error_of_exit_code_2() -> None:
    assert issubclass(SweepError, EvaluationError) and SweepError("x").exit_code == ExitCode.USAGE == 2


def test_cli_quick_sweep_prints_the_winners_and_the_caveat(
    eval_cli, tiny, qa_file: Path, shared_model, private_tmp: Path, tmp_path: Path
) -> None:
    result = eval_cli(
        str(qa_file), "--index", str(tiny.index_dir), "--sweep", "--quick", "--mode", "hybrid", "--out", "out"
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "winner per metric" in text and "Overfitting" in text
    assert (tmp_path / "out" / "sweep.html").is_file() and (tmp_path / "out" / "sweep.json").is_file()
