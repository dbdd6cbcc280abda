"""Every parsing step is linear in its input: crafted files that made a step quadratic
(a regex backtracking over a long line, offsets rebuilt per call) parse in seconds.

The bound (20 s) catches a quadratic blow-up — these inputs took minutes to hours before —
not a slow machine; the scaling itself is measured by bench/parse_scaling.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.chunker import ChunkParams
from ingest.embedding.source import resolve_source
from ingest.workers.parse import FastOffsets, Parsed, ParseJob, parse_file

BOUND_S = 20.0


@pytest.fixture(scope="module")
def offsets() -> FastOffsets:
    return FastOffsets(resolve_source("all-MiniLM-L6-v2").path / "tokenizer.json")


def parse(path: Path, offsets: FastOffsets) -> tuple[Parsed, float]:
    started = time.perf_counter()
    outcome = parse_file(ParseJob(path, path.name, "0" * 64, path.stem), offsets, ChunkParams(160, 24))
    seconds = time.perf_counter() - started
    assert isinstance(outcome, Parsed), outcome
    return outcome, seconds


LONG = 300_000


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("words.txt", ("asylum seeker " * (LONG // 14))[:LONG]),
        ("one-word.txt", "a" * LONG + "!"),  # `(\w+)-$` retried from every letter
        ("one-word-hyphen.md", "b" * LONG + "-"),
        ("dots.txt", "Chapter 1 " + "." * LONG + " x"),  # a TOC pattern retried from every dot
        ("hashes-inside.md", "# Title " + "#" * LONG + " end"),  # `(.+?)\s*#*\s*$`
        ("spaces.md", "# " + "a " * (LONG // 2) + "#"),
    ],
)
def test_a_300000_character_line(tmp_path: Path, offsets: FastOffsets, name: str, line: str) -> None:
    path = tmp_path / name
    path.write_text(f"{line}\n\nA closing sentence of ordinary text.\n", encoding="utf-8")
    parsed, seconds = parse(path, offsets)
    assert seconds < BOUND_S
    assert "closing sentence" in parsed.passages[-1].text


def test_a_15_mib_single_line_file(tmp_path: Path, offsets: FastOffsets) -> None:
    path = tmp_path / "one-line.txt"
    words = "the state shall not expel a refugee lawfully in its territory save on grounds of national security "
    path.write_text((words * ((15 << 20) // len(words) + 1))[: 15 << 20], encoding="utf-8")
    parsed, seconds = parse(path, offsets)
    # 15 MiB is real work — the tokenizer alone takes about 1 µs a character — but linear
    # work: quadratic would take days.
    assert seconds < 6 * BOUND_S
    assert parsed.document.chars >= (15 << 20) - 1000


def test_ten_thousand_sections(tmp_path: Path, offsets: FastOffsets) -> None:
    path = tmp_path / "sections.md"
    path.write_text(
        "".join(f"## Section {i}\n\nThe {i}th rule applies to every claim lodged.\n\n" for i in range(10_000)),
        encoding="utf-8",
    )
    parsed, seconds = parse(path, offsets)
    assert seconds < BOUND_S
    assert (parsed.passages[-1].section or "").endswith("Section 9999")


def test_a_markdown_heading_of_100000_hashes(tmp_path: Path, offsets: FastOffsets) -> None:
    path = tmp_path / "hashes.md"
    path.write_text(
        "#" * 100_000 + " Title\n\nBody text of the guide.\n\n# Real Title\n\nMore text.\n", encoding="utf-8"
    )
    parsed, seconds = parse(path, offsets)
    assert seconds < BOUND_S
    # Seven or more '#' are not a heading (CommonMark): the line is text, the next one titles.
    assert parsed.document.title == "Real Title"


def test_a_long_pdf_line_of_split_capitals() -> None:
    """The PDF-only repair of split capitals ("B cd") on one 3.2 MB line: each of its 640,000
    candidates looks at what follows it in place (a copy of the rest of the line per candidate
    made it quadratic: hours at 15 MiB)."""
    from ingest.cleaning import repair_glyphs

    line = "B cd " * 640_000
    started = time.perf_counter()
    repaired = repair_glyphs([[line, "A closing sentence."]])
    assert time.perf_counter() - started < BOUND_S
    assert repaired[0][-1] == "A closing sentence."
