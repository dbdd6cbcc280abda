"""The title a document's citations show and its passages are embedded under (ingest.titles),
on real files built here: producers' defaults, job numbers, date lines and signatures are not
titles, and what the document and its file name say is."""

from __future__ import annotations

from pathlib import Path

import pytest
from docgen import wrap, write_pdf

from ingest.loaders import load
from ingest.structure import build
from ingest.titles import file_title, reads_as_title

CHILD_BODY = wrap(
    "The States Parties to the present Convention recognise that the child, for the full and harmonious "
    "development of the personality of the child, should grow up in a family environment. Every child "
    "has the inherent right to life, and the rights of the child set forth in this Convention apply to "
    "each child within the jurisdiction of the States Parties. The Convention on the rights of the child "
    "shall be interpreted in the best interests of the child, and the United Nations shall keep the "
    "rights of the child under review."
)


def _title(path: Path) -> str:
    return build(load(path, path.name)).title


def _title_of_file(folder: Path, name: str, text: str) -> str:
    """The title of a file ``name`` holding ``text``, written in ``folder``."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return _title(path)


def test_a_producers_default_gives_way_to_the_heading_the_file_name_describes(tmp_path: Path) -> None:
    # The CRC as UNICEF printed it: "Layout 1" in the metadata, the publisher on the cover and
    # the Convention's name on the next page.
    pdf = write_pdf(
        tmp_path / "crc_convention_rights_of_the_child.pdf",
        [
            ["The United Nations", "", "Published by the United Nations, New York."],
            ["Convention on the Rights of the Child", "", *CHILD_BODY],
            CHILD_BODY,
        ],
        title="Layout 1",
    )
    assert _title(pdf) == "Convention on the Rights of the Child"


def test_a_job_number_is_not_a_title_and_the_file_name_stands_in(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "general_comment_13_education.pdf",
        [
            ["GE.99-46216 (E)", "", *wrap("The right to education is a human right. " * 6)],
            wrap("Education is both a human right and a means of realising other rights. " * 5),
        ],
        title="Microsoft Word - g9946216.doc",
    )
    assert _title(pdf) == "general comment 13 education"


def test_a_forewords_signature_is_not_a_title(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "udhr_illustrated_booklet_2015.pdf",
        [
            wrap("This illustrated edition of the Universal Declaration of Human Rights is published. " * 4),
            ["BAN Ki-moon", "", *wrap("The Universal Declaration of Human Rights belongs to everyone. " * 5)],
        ],
    )
    assert _title(pdf) == "udhr illustrated booklet 2015"


@pytest.mark.parametrize(
    "name, body",
    [
        # The site's name keeps its hyphen.
        (
            "sci-news.com.txt",
            "We collect personal information when you register, and we use that information to run "
            "the site. We share information with service providers only.",
        ),
        # A body that writes "updated" again does not make the date line a title.
        (
            "fool.com.txt",
            "We updated this policy in October. Each time it is updated, the updated policy is posted "
            "here, and the date it was last updated is shown above.",
        ),
    ],
)
def test_a_date_line_is_not_a_policys_title(tmp_path: Path, name: str, body: str) -> None:
    text = f"Last Updated: October 3, 2014\n\n{body}\n"
    assert _title_of_file(tmp_path, name, text) == name.removesuffix(".txt")


GUIDELINES_BODY = wrap(
    "These guidelines on international protection explain how the protection of refugees applies "
    "to claims based on membership of a particular social group. International protection is owed "
    "to refugees, and the guidelines give the protection standards. " * 2
)


@pytest.mark.parametrize(
    "metadata",
    [
        "Microsoft Word - N0262047.doc",  # the producer's name for the file
        "Annual Budget Estimates 2012",  # left by the template: another document's title
    ],
)
def test_with_a_file_name_that_says_nothing_the_first_heading_is_the_title(tmp_path: Path, metadata: str) -> None:
    pdf = write_pdf(
        tmp_path / "N0262047.pdf",
        [["Guidelines on International Protection", "", *GUIDELINES_BODY], GUIDELINES_BODY],
        title=metadata,
    )
    assert _title(pdf) == "Guidelines on International Protection"


def test_a_publisher_in_the_metadata_gives_way_to_the_heading_the_file_name_describes(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "crc_convention_rights_of_the_child.pdf",
        [["The United Nations", "", *CHILD_BODY], ["Convention on the Rights of the Child", "", *CHILD_BODY]],
        title="United Nations",
    )
    assert _title(pdf) == "Convention on the Rights of the Child"


def test_a_declared_title_the_document_writes_is_kept_as_declared(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "crc_convention_rights_of_the_child.pdf",
        [["The United Nations", "", *CHILD_BODY], CHILD_BODY],
        title="Convention on the Rights of the Child (1989)",
    )
    assert _title(pdf) == "Convention on the Rights of the Child (1989)"


@pytest.mark.parametrize(
    "junk",
    [
        "Layout 1",
        "Untitled-3",
        "Document1",
        "Microsoft Word - g9946216.doc",
        "report_final.docx",
        "GE.99-46216 (E)",
        "E/C.12/1999/10",
        "Last Updated: December 1st, 2014",
        "Effective date: 1 May 2018",
        "Updated 12 May 2019",
        "Untitled Document",
        "Untitled Page",
        "Document 1 of 3 - 2014/881 (E) 12-34",
        "",
    ],
)
def test_what_no_document_is_called(junk: str) -> None:
    assert not reads_as_title(junk)


@pytest.mark.parametrize(
    "title",
    [
        "Charter of Fundamental Rights",
        "Revised Guidelines on Applicable Criteria and Standards relating to the Detention of Asylum-Seekers",
        "Effective Protection of Refugees",
        "Directive 2011/95/EU",
        "Regulation (EU) 2016/679",
        "Title 42",
        "Fact Sheet No.2 (Rev.1), The International Bill of Human Rights",
        "Regulation (EU) No 604/2013 of the European Parliament and of the Council of 26 June 2013 "
        "establishing the criteria and mechanisms for determining the Member State responsible for "
        "examining an application for international protection lodged in one of the Member States by a "
        "third-country national or a stateless person",
    ],
)
def test_real_titles_read_as_titles(title: str) -> None:
    assert reads_as_title(title)


def test_file_names_as_titles() -> None:
    assert file_title("treaties/crc_convention_rights_of_the_child.pdf") == "crc convention rights of the child"
    assert file_title("policies/sci-news.com.txt") == "sci-news.com"
    assert file_title("1951-refugee-convention.pdf") == "1951 refugee convention"
    assert file_title("privacy-policy.en.html") == "privacy policy en"


@pytest.mark.parametrize(
    "title",
    ["Revised Guidelines on the Detention of Asylum-Seekers", "Directive 2011/95/EU", "关于难民地位的公约"],
)
def test_a_markdown_title_is_kept_as_written(tmp_path: Path, title: str) -> None:
    assert (
        _title_of_file(
            tmp_path, "guidelines.md", f"# {title}\n\nThe {title} apply to every case. 本公约适用于所有难民。\n"
        )
        == title
    )


def test_a_numbered_section_is_never_the_title(tmp_path: Path) -> None:
    text = (
        "1 Introduction\n\nThe introduction explains the scope of this introduction and its sections.\n\n"
        "2 Scope\n\nThe scope covers every section of the introduction and the scope of each.\n"
    )
    assert _title_of_file(tmp_path, "N123.txt", text) == "N123"


def test_a_web_pages_default_title_gives_way_to_its_heading(tmp_path: Path) -> None:
    text = (
        "<html><head><meta charset='utf-8'><title>Untitled Document</title></head><body><main>"
        "<h1>Guidance on Family Reunification</h1>"
        "<p>Family reunification lets a refugee bring a spouse and children. The guidance on family "
        "reunification explains who counts as family and how reunification is applied for.</p>"
        "<p>Applications for family reunification are free of charge and decided within nine months.</p>"
        "</main></body></html>"
    )
    assert _title_of_file(tmp_path, "page.html", text) == "Guidance on Family Reunification"
