"""The parse workers: every file's outcome, whatever a file does to its parser, within its limits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pool_faults import misbehave

from ingest.chunker import ChunkParams
from ingest.embedding.source import resolve_source
from ingest.workers.parse import Failed, FastOffsets, Parsed, ParseJob
from ingest.workers.pool import ParseLimits, ParsePool

PARAMS = ChunkParams(160, 24)
TEXT = "Article 1\n\nEvery person has the right to seek asylum. The State shall examine each claim.\n"


def model_dir() -> Path:
    return resolve_source("all-MiniLM-L6-v2").path


def jobs(folder: Path, names: list[str]) -> list[ParseJob]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        path = folder / name
        path.write_text(TEXT, encoding="utf-8")
        out.append(ParseJob(path, name, "0" * 64, name.replace(".", "-")))
    return out


def test_each_misbehaving_file_is_reported_and_the_others_parse(tmp_path: Path) -> None:
    names = ["a.txt", "segfault.txt", "b.txt", "exits.txt", "hangs.txt", "hungry.txt", "raises.txt", "c.md"]
    limits = ParseLimits(workers=2, seconds=8, seconds_per_page=0, memory_bytes=1 << 30)
    started = time.monotonic()
    outcomes = {o.source: o for o in ParsePool(model_dir(), PARAMS, limits, misbehave).results(jobs(tmp_path, names))}
    assert set(outcomes) == set(names)
    for name in ("a.txt", "b.txt", "c.md"):
        parsed = outcomes[name]
        assert isinstance(parsed, Parsed) and "right to seek asylum" in parsed.passages[0].text
    reasons = {name: o.reason for name, o in outcomes.items() if isinstance(o, Failed)}
    assert "SIGSEGV" in reasons["segfault.txt"]
    assert "status 3" in reasons["exits.txt"]
    assert "took too long" in reasons["hangs.txt"]
    assert "out of memory" in reasons["hungry.txt"]
    assert "ZeroDivisionError: division by zero in a parser" in reasons["raises.txt"]
    # One stuck file costs its own limit, not the run: the others went on meanwhile.
    assert time.monotonic() - started < 8 + 30


def test_fast_tokenizer_offsets_equal_the_embedders(embedder) -> None:
    text = (
        "Article 33 — Prohibition of expulsion or return (“refoulement”). No Contracting State shall "
        "expel or return a refugee in any manner whatsoever to the frontiers of territories where his "
        "life or freedom would be threatened. Déjà vu, naïve façade, Straße, 難民, emoji 🙂, "
        "hyphen-ated words and numbers 1951/1967, e.g. Art. 1(A)(2). " * 20
    )
    fast = FastOffsets(model_dir() / "tokenizer.json")
    assert fast(text) == embedder.token_offsets(text)
    assert len(fast(text)) > 1000  # neither padded nor truncated


def test_a_pool_with_nothing_to_do_starts_no_worker(tmp_path: Path) -> None:
    assert list(ParsePool(model_dir(), PARAMS, ParseLimits(1, 1, 0, 0)).results([])) == []


@pytest.mark.parametrize("workers", [1, 3])
def test_outcomes_do_not_depend_on_the_number_of_workers(tmp_path: Path, workers: int) -> None:
    names = [f"f{i}.txt" for i in range(5)]
    limits = ParseLimits(workers=workers, seconds=60, seconds_per_page=0, memory_bytes=1 << 31)
    outcomes = list(ParsePool(model_dir(), PARAMS, limits).results(jobs(tmp_path, names)))
    assert sorted(o.source for o in outcomes) == names
    assert all(isinstance(o, Parsed) and o.document.passage_count == 1 for o in outcomes)


def test_long_texts_tokenized_in_pieces_keep_the_same_offsets(embedder) -> None:
    text = ("Every refugee has duties to the country in which he finds himself.\n" * 1200)[:70_000]
    assert FastOffsets(model_dir() / "tokenizer.json")(text) == embedder.token_offsets(text)
