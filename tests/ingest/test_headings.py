"""Headings: which lines of policy and treaty texts head a part, a chapter or an article."""

from __future__ import annotations

import pytest

from ingest.headings import generic_heading, keyword_heading, mend_split_headings


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("chapter i i: Juridical Status", "Chapter II — Juridical Status"),  # letter-spaced small caps
        ("chapter v: Administrative Measures", "Chapter V — Administrative Measures"),
        ("SCHEDULE", "Schedule"),
        ("article 41.", None),  # a cross-reference at the start of a wrapped line
        ("Article 12", "Article 12"),
    ],
)
def test_keyword_headings_from_pdf_lines(line: str, label: str | None) -> None:
    heading = keyword_heading(line)
    assert (heading.label if heading else None) == label


def test_a_heading_broken_after_its_keyword_gets_its_own_line() -> None:
    pages = [["No one shall be imprisoned for debt. Article", "12", "1. Everyone lawfully within a State ..."]]
    assert mend_split_headings(pages) == [
        ["No one shall be imprisoned for debt.", "Article 12", "1. Everyone lawfully within a State ..."]
    ]
    # A sentence that merely ends with the word is left alone.
    assert mend_split_headings([["as set out in this Article", "and the next"]]) == [
        ["as set out in this Article", "and the next"]
    ]


@pytest.mark.parametrize(
    ("line", "label"),
    [
        # What a citation shows for an all-caps heading, as a reader would write it.
        ("CHARTER OF FUNDAMENTAL RIGHTS", "Charter of Fundamental Rights"),
        ("UNHCR'S ROLE UNDER PART II", "Unhcr's Role under Part II"),
        ("NON-REFOULEMENT AND THE RIGHT TO ASYLUM", "Non-refoulement and the Right to Asylum"),
        ("Towards the Universal Declaration", "Towards the Universal Declaration"),  # left as written
    ],
)
def test_all_caps_headings_are_cased_as_titles(line: str, label: str) -> None:
    heading = generic_heading(line)
    assert heading is not None and heading.label == label
