"""Passages: exact character offsets into the cleaned text, right page numbers, sensible sizes."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from docgen import paginate, treaty_lines, wrap, write_pdf

from ingest.chunker import ChunkParams, chunk, is_flat
from ingest.loaders import load
from ingest.structure import build
from ingest.types import CleanDocument, Passage

NUMBERS = ["one", "two", "three", "four", "five", "six"]
SHEET = re.compile(r"on sheet (\w+)")


def _chunk(path: Path, embedder, params: ChunkParams) -> tuple[CleanDocument, list[Passage]]:
    doc = build(load(path, path.name))
    return doc, chunk(doc, "doc", embedder.token_offsets, params)


def sheet_pdf(path: Path, pages: int, sentences_per_page: int = 8, blank: set[int] = frozenset()) -> Path:
    """Every sentence names the page it is printed on ("... on sheet three ..."), and no
    sentence crosses a page break, so each passage's true page range can be read off its text."""
    content: list[list[str]] = []
    for number in range(1, pages + 1):
        if number in blank:
            content.append([])
            continue
        word = NUMBERS[number - 1]
        sentences = [
            f"Clause {k} printed on sheet {word} concerns the rights of applicants at stage {k}."
            for k in range(1, sentences_per_page + 1)
        ]
        content.append(wrap(" ".join(sentences)))
    return write_pdf(path, content, header="Reception Conditions Directive (recast)", page_numbers=True)


def pages_named(text: str) -> list[int]:
    return [NUMBERS.index(word) + 1 for word in SHEET.findall(text)]


@pytest.mark.parametrize("params", [ChunkParams(160, 24), ChunkParams(48, 8), ChunkParams(24, 0)])
def test_page_numbers_of_passages_match_the_pages_they_come_from(tmp_path: Path, embedder, params: ChunkParams) -> None:
    path = sheet_pdf(tmp_path / "sheets.pdf", pages=5)
    _, passages = _chunk(path, embedder, params)
    seen: set[int] = set()
    for passage in passages:
        named = pages_named(passage.text)
        assert named, f"passage without a sentence: {passage.text!r}"
        assert (passage.page_start, passage.page_end) == (min(named), max(named)), passage.text
        seen.update(named)
    assert seen == {1, 2, 3, 4, 5}


def test_a_passage_that_runs_over_a_page_break_spans_both_pages(tmp_path: Path, embedder) -> None:
    path = sheet_pdf(tmp_path / "sheets.pdf", pages=3, sentences_per_page=4)
    _, passages = _chunk(path, embedder, ChunkParams(160, 24))
    spanning = [p for p in passages if p.page_start != p.page_end]
    assert spanning, "with small pages and 160-token passages some passage must cross a page break"
    for passage in spanning:
        assert passage.page_start < passage.page_end
        assert set(pages_named(passage.text)) == set(range(passage.page_start, passage.page_end + 1))


def test_blank_pages_do_not_shift_page_numbers(tmp_path: Path, embedder) -> None:
    path = sheet_pdf(tmp_path / "sheets.pdf", pages=5, sentences_per_page=3, blank={2, 4})
    _, passages = _chunk(path, embedder, ChunkParams(24, 0))
    assert {p.page_start for p in passages} == {1, 3, 5}
    for passage in passages:
        named = pages_named(passage.text)
        assert (passage.page_start, passage.page_end) == (min(named), max(named))


def test_treaty_article_crossing_a_page_break_is_cited_with_both_pages(treaty_pdf: Path, embedder) -> None:
    _, passages = _chunk(treaty_pdf, embedder, ChunkParams(160, 24))
    article_33 = [p for p in passages if "meadow" in p.text]
    assert len(article_33) == 1
    assert (article_33[0].page_start, article_33[0].page_end) == (2, 3)
    assert all((p.page_start, p.page_end) == (1, 1) for p in passages if "lighthouse" in p.text or "orchard" in p.text)
    assert all((p.page_start, p.page_end) == (3, 3) for p in passages if "harbour" in p.text)


def _documents(tmp_path: Path, treaty_pdf: Path) -> list[Path]:
    md = tmp_path / "handbook.md"
    md.write_text(
        "# Handbook\n\nIntro text for the handbook, which is short.\n\n## Part A\n\n"
        + "\n".join(wrap("Officers shall record every claim. " * 30, 70))
        + "\n\n- first item of a list\n- second item of a list\n\n## Part B\n\nClosing words.\n",
        encoding="utf-8",
    )
    txt = tmp_path / "notes.txt"
    txt.write_text(
        "Summary Record\n\n"
        + ("The representative of France said that the text was a compromise, i.e. a balanced one. " * 12)
        + "\n\nArt. 5\n\nNothing in this Convention shall impair any rights granted apart from it.\n",
        encoding="utf-8",
    )
    long_words = " ".join(f"item{n}" for n in range(600))  # one 'sentence' far above the budget
    run_on = tmp_path / "schedule.txt"
    run_on.write_text(f"Schedule of tariffs\n\n{long_words}\n", encoding="utf-8")
    paged = write_pdf(tmp_path / "paged.pdf", paginate(treaty_lines(), 9), header="Official Text", page_numbers=True)
    return [treaty_pdf, md, txt, run_on, paged]


@pytest.mark.parametrize("params", [ChunkParams(160, 24), ChunkParams(40, 10)])
def test_offsets_point_at_the_passage_text_in_the_cleaned_document(
    tmp_path: Path, treaty_pdf: Path, embedder, params: ChunkParams
) -> None:
    for path in _documents(tmp_path, treaty_pdf):
        doc, passages = _chunk(path, embedder, params)
        assert passages, path.name
        for passage in passages:
            assert doc.text[passage.char_start : passage.char_end] == passage.text, (path.name, passage.ordinal)


@pytest.mark.parametrize("params", [ChunkParams(160, 24), ChunkParams(40, 10)])
def test_passages_cover_the_whole_document_in_order(
    tmp_path: Path, treaty_pdf: Path, embedder, params: ChunkParams
) -> None:
    for path in _documents(tmp_path, treaty_pdf):
        doc, passages = _chunk(path, embedder, params)
        assert [p.ordinal for p in passages] == list(range(len(passages)))
        assert len({p.id for p in passages}) == len(passages)
        starts = [p.char_start for p in passages]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        covered = bytearray(len(doc.text))
        for passage in passages:
            assert passage.text and passage.text == passage.text.strip(), (path.name, passage.text)
            covered[passage.char_start : passage.char_end] = b"\x01" * (passage.char_end - passage.char_start)
        lost = "".join(ch for ch, hit in zip(doc.text, covered) if not hit and not ch.isspace())
        assert lost == "", f"{path.name}: text in no passage: {lost[:80]!r}"


def test_passages_respect_the_token_budget(tmp_path: Path, treaty_pdf: Path, embedder) -> None:
    params = ChunkParams(40, 10)
    for path in _documents(tmp_path, treaty_pdf):
        _, passages = _chunk(path, embedder, params)
        for passage in passages:
            # A short heading may ride along with the first sentence of its section.
            assert len(embedder.token_offsets(passage.text)) <= params.max_tokens + 12, (path.name, passage.text)


def test_an_over_long_sentence_is_cut_between_words(tmp_path: Path, embedder) -> None:
    path = tmp_path / "schedule.txt"
    path.write_text(" ".join(f"item{n}" for n in range(600)) + "\n", encoding="utf-8")
    _doc, passages = _chunk(path, embedder, ChunkParams(64, 8))
    assert len(passages) > 5
    words = []
    for passage in passages:
        assert re.fullmatch(r"item\d+( item\d+)*", passage.text), passage.text[:60]
        words += passage.text.split()
    assert words == [f"item{n}" for n in range(600)]


def test_consecutive_passages_overlap_by_whole_sentences(tmp_path: Path, embedder) -> None:
    sentences = [f"Sentence number {n} explains one more duty of the receiving State." for n in range(40)]
    path = tmp_path / "duties.txt"
    path.write_text(" ".join(sentences) + "\n", encoding="utf-8")
    _, passages = _chunk(path, embedder, ChunkParams(60, 20))
    assert len(passages) > 3
    for before, after in itertools.pairwise(passages):
        assert after.char_start < before.char_end, "no overlap between neighbouring passages"
        assert after.char_start > before.char_start, "a passage must move forward"
        first = after.text.split(". ")[0] + "."
        assert first in sentences, f"overlap does not start at a sentence: {first!r}"


def test_abbreviations_do_not_end_sentences(tmp_path: Path, embedder) -> None:
    """ "Art. 33" and "i.e." never become a passage boundary."""
    text = " ".join(
        f"Paragraph {n} refers to Art. {n + 10} of the Convention, i.e. the rule on expulsion." for n in range(30)
    )
    path = tmp_path / "refs.txt"
    path.write_text(text + "\n", encoding="utf-8")
    _, passages = _chunk(path, embedder, ChunkParams(48, 0))
    assert len(passages) > 3
    for passage in passages:
        assert passage.text.startswith("Paragraph "), passage.text[:40]
        assert passage.text.endswith("the rule on expulsion."), passage.text[-40:]


def _rules(k: int) -> str:
    return " ".join(f"The authority shall decide claim {k}.{j} within thirty days of its receipt." for j in range(12))


def test_a_document_with_headings_and_a_flat_one_are_cut_to_their_own_sizes(tmp_path: Path, embedder) -> None:
    """A treaty's passages carry their article in context, so they stay short; a flat policy's
    passages have only the title, so they are cut longer."""
    treaty = tmp_path / "convention.txt"
    treaty.write_text("\n\n".join(f"Article {k}\n\n{_rules(k)}" for k in range(1, 7)) + "\n", encoding="utf-8")
    policy = tmp_path / "policy.txt"
    policy.write_text("\n\n".join(_rules(k) for k in range(1, 7)) + "\n", encoding="utf-8")
    params = ChunkParams(40, 0, flat_max_tokens=120)
    treaty_doc, treaty_passages = _chunk(treaty, embedder, params)
    policy_doc, policy_passages = _chunk(policy, embedder, params)
    assert not is_flat(treaty_doc) and is_flat(policy_doc)

    def longest(passages: list[Passage]) -> int:
        return max(len(embedder.token_offsets(p.text)) for p in passages)

    assert longest(treaty_passages) <= 40 + 12
    assert 60 < longest(policy_passages) <= 120
    assert len(policy_passages) * 2 < len(treaty_passages)
    # Without a flat size, every document is cut to max_tokens.
    _, uniform = _chunk(policy, embedder, ChunkParams(40, 0))
    assert longest(uniform) <= 40 + 12


@pytest.mark.parametrize(
    ("paths", "flat"),
    [
        ([], True),
        (["Privacy Policy"], True),
        (["Privacy Policy", "Privacy Policy > Cookies"], True),
        (["Introduction", "Who we are", "Your rights"], False),
        ([f"Chapter I > Article {k} — Scope" for k in range(1, 6)], False),
    ],
)
def test_a_document_is_flat_below_three_headings(paths: list[str], flat: bool) -> None:
    marks = [(k, path) for k, path in enumerate(paths)] + [(len(paths), paths[0] if paths else None)]
    doc = CleanDocument("x" * 100, [(0, 100)], [(0, 1)], marks)
    assert is_flat(doc) is flat
