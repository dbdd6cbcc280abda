"""Sections: every passage knows the Chapter/Article (or heading path) it sits under."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docgen import TREATY_ARTICLES, TREATY_TITLE, paginate, wrap, write_pdf

from ingest.chunker import ChunkParams, chunk
from ingest.loaders import load
from ingest.structure import build
from ingest.types import PageText, Passage, RawDocument

PARAMS = ChunkParams(max_tokens=160, overlap=24)


def passages_of(path: Path, embedder, params: ChunkParams = PARAMS) -> list[Passage]:
    return chunk(build(load(path, path.name)), "doc", embedder.token_offsets, params)


def section_of(passages: list[Passage], needle: str) -> str | None:
    hits = {p.section for p in passages if needle in p.text}
    assert hits, f"{needle!r} is in no passage"
    assert len(hits) == 1, f"{needle!r} is in passages of several sections: {hits}"
    return hits.pop()


def test_treaty_pdf_sections_name_chapter_and_article_with_titles(treaty_pdf: Path, embedder) -> None:
    passages = passages_of(treaty_pdf, embedder)
    assert section_of(passages, "meadow") == (
        "Chapter V — Administrative measures > Article 33 — Prohibition of expulsion or return"
    )
    for chapter, chapter_title, number, title, marker, _ in TREATY_ARTICLES:
        assert section_of(passages, marker) == f"Chapter {chapter} — {chapter_title} > Article {number} — {title}"


def test_treaty_pdf_passages_never_span_two_articles(treaty_pdf: Path, embedder) -> None:
    passages = passages_of(treaty_pdf, embedder)
    markers = [article[4] for article in TREATY_ARTICLES]
    for passage in passages:
        inside = [m for m in markers if m in passage.text]
        assert len(inside) <= 1, f"passage {passage.ordinal} mixes articles: {inside}"
        assert len(re.findall(r"(?m)^Article \d+$", passage.text)) <= 1


def test_treaty_pdf_title_comes_from_metadata(treaty_pdf: Path) -> None:
    assert build(load(treaty_pdf, treaty_pdf.name)).title == TREATY_TITLE


def test_article_headings_at_the_top_of_pages_are_not_taken_for_running_headers(tmp_path: Path, embedder) -> None:
    """Word processors keep a heading with the paragraph after it, so articles often start a
    page; "Article 7" and "Article 12" must not look like one running header."""
    subjects = [
        "housing",
        "education",
        "employment",
        "courts",
        "property",
        "religion",
        "movement",
        "identity papers",
        "travel documents",
        "transfer of assets",
        "fiscal charges",
        "relief",
    ]
    pages: list[list[str]] = []
    for n, subject in enumerate(subjects, 1):
        body = " ".join(
            f"The Contracting States shall accord to refugees treatment as favourable as possible "
            f"regarding {subject}, clause {k}."
            for k in range(1, 4)
        )
        article = [f"Article {n}", f"Treatment regarding {subject}", *wrap(body)]
        if n % 3 == 1:
            pages.append(article)  # a new page starts with this article
        else:
            pages[-1].extend(article)
    path = write_pdf(tmp_path / "articles.pdf", pages, header="Convention - Official Text", page_numbers=True)
    passages = passages_of(path, embedder)
    for n, subject in enumerate(subjects, 1):
        assert section_of(passages, f"regarding {subject}, clause 2") == f"Article {n} — Treatment regarding {subject}"


def test_markdown_headings_nest_by_level(tmp_path: Path, embedder) -> None:
    path = tmp_path / "handbook.md"
    path.write_text(
        "# Asylum Handbook\n\n"
        "Introductory remarks about the handbook and what it covers for its readers.\n\n"
        "## Scope of application\n\n"
        "This handbook applies to all officers handling asylum claims at the border crossing.\n\n"
        "### Definitions\n\n"
        "In this handbook a refugee means a person who meets the criteria of the Convention.\n\n"
        "## Procedure at the border\n\n"
        "Claims made at the border are registered within three working days of their making.\n",
        encoding="utf-8",
    )
    doc = build(load(path, "handbook.md"))
    assert doc.title == "Asylum Handbook"
    passages = chunk(doc, "handbook", embedder.token_offsets, PARAMS)
    assert section_of(passages, "applies to all officers") == "Scope of application"
    assert section_of(passages, "meets the criteria") == "Scope of application > Definitions"
    assert section_of(passages, "three working days") == "Procedure at the border"
    # The document's own title is not a section, and Markdown markup is not in the text.
    assert all("#" not in p.text for p in passages)
    assert section_of(passages, "Introductory remarks") is None


def test_abbreviated_article_headings(tmp_path: Path, embedder) -> None:
    path = tmp_path / "convention.txt"
    path.write_text(
        "Art. 3\n\nNon-discrimination\n\n"
        "The Contracting States shall apply the provisions of this Convention to refugees without "
        "discrimination as to race, religion or country of origin.\n\n"
        "Art. 4 Religion\n\n"
        "The Contracting States shall accord to refugees within their territories treatment at least "
        "as favourable as that accorded to their nationals with respect to freedom to practise their religion.\n",
        encoding="utf-8",
    )
    passages = passages_of(path, embedder)
    assert section_of(passages, "without discrimination") == "Article 3 — Non-discrimination"
    assert section_of(passages, "freedom to practise") == "Article 4 — Religion"


def test_numbered_headings_nest_and_close(tmp_path: Path, embedder) -> None:
    path = tmp_path / "guidelines.txt"
    path.write_text(
        "1. Purpose of the Guidelines\n\n"
        "The purpose is to make decisions consistent across regional offices and over time.\n\n"
        "1.1 Legal Basis\n\n"
        "The guidelines rest on the Convention and on the national asylum law in force today.\n\n"
        "1.2 Relation to Other Instruments\n\n"
        "Where these guidelines conflict with binding law, the binding law prevails in all cases.\n\n"
        "2. Assessing Credibility\n\n"
        "Credibility is assessed on the whole of the evidence rather than on isolated statements.\n",
        encoding="utf-8",
    )
    passages = passages_of(path, embedder)
    assert section_of(passages, "consistent across regional") == "1. Purpose of the Guidelines"
    assert section_of(passages, "national asylum law") == "1. Purpose of the Guidelines > 1.1 Legal Basis"
    assert section_of(passages, "binding law prevails") == (
        "1. Purpose of the Guidelines > 1.2 Relation to Other Instruments"
    )
    assert section_of(passages, "whole of the evidence") == "2. Assessing Credibility"


def test_title_case_lines_of_a_text_file_are_headings(tmp_path: Path, embedder) -> None:
    path = tmp_path / "report.txt"
    path.write_text(
        "Annual Report on Resettlement\n\n"
        "Background and Context\n\n"
        "Resettlement needs rose again this year, driven by protracted displacement in several regions.\n\n"
        "Departures by Region of Origin\n\n"
        "Most departures were from the Middle East, followed by East Africa and the Great Lakes.\n\n"
        "Recommendations for the Coming Year\n\n"
        "States should expand quotas and shorten processing times for urgent and emergency cases.\n",
        encoding="utf-8",
    )
    passages = passages_of(path, embedder)
    assert section_of(passages, "protracted displacement") == "Background and Context"
    assert section_of(passages, "Great Lakes") == "Departures by Region of Origin"
    assert section_of(passages, "expand quotas") == "Recommendations for the Coming Year"


def test_all_caps_and_sentences_that_start_with_article(tmp_path: Path, embedder) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(
        "GENERAL OBSERVATIONS\n\n"
        "Article 33 shall not apply to a person who constitutes a danger to the community of the country.\n\n"
        "The exception must be interpreted restrictively and applied only after an individual assessment.\n",
        encoding="utf-8",
    )
    passages = passages_of(path, embedder)
    assert section_of(passages, "shall not apply") == "General Observations"
    assert section_of(passages, "interpreted restrictively") == "General Observations"


def test_chapter_sections_reset_article_titles(tmp_path: Path, embedder) -> None:
    """An Article under a new Chapter is not nested under the previous Chapter's Article."""
    lines = [
        "Chapter I",
        "General provisions",
        "Article 1",
        "Definition of the term refugee",
        *wrap(
            "For the purposes of the present Convention, the term refugee shall apply to any person "
            "who has been considered a refugee under earlier arrangements and instruments."
        ),
        "Chapter II",
        "Juridical status",
        "Article 12",
        "Personal status",
        *wrap(
            "The personal status of a refugee shall be governed by the law of the country of his "
            "domicile or, if he has no domicile, by the law of the country of his residence."
        ),
    ]
    path = write_pdf(tmp_path / "chapters.pdf", [lines])
    passages = passages_of(path, embedder)
    assert section_of(passages, "earlier arrangements") == (
        "Chapter I — General provisions > Article 1 — Definition of the term refugee"
    )
    assert section_of(passages, "law of the country of his") == (
        "Chapter II — Juridical status > Article 12 — Personal status"
    )


@pytest.mark.parametrize("per_page", [7, 11, 40])
def test_sections_and_pages_do_not_depend_on_where_pages_break(tmp_path: Path, embedder, per_page: int) -> None:
    from docgen import treaty_lines

    pages = paginate(treaty_lines(), per_page)
    path = write_pdf(tmp_path / "treaty.pdf", pages, page_numbers=True)
    passages = passages_of(path, embedder)
    for chapter, chapter_title, number, title, marker, _ in TREATY_ARTICLES:
        assert section_of(passages, marker) == f"Chapter {chapter} — {chapter_title} > Article {number} — {title}"
        printed_on = next(n for n, lines in enumerate(pages, 1) if any(marker in line for line in lines))
        (passage,) = [p for p in passages if marker in p.text]
        assert passage.page_start <= printed_on <= passage.page_end


def test_the_first_line_of_an_untitled_article_is_text_not_its_title() -> None:
    raw = RawDocument(
        source="regulation.txt",
        kind="text",
        pages=[
            PageText(
                None,
                (
                    "Article 7\n\n"
                    "Each Member State shall ensure that the competent authorities\n"
                    "take into account the best interests of the child.\n\n"
                    "Article 8\n\nFamily unity\n\nMembers of a family shall be kept together.\n"
                ),
            )
        ],
    )
    doc = build(raw)
    sections = [s for _, s in doc.section_marks]
    assert "Article 7" in sections
    assert "Article 8 — Family unity" in sections
    assert not any(s and s.startswith("Article 7 —") for s in sections)
