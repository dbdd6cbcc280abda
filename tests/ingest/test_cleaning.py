"""Cleaning, as a reader of the cleaned text sees it: joined words, no running headers or page
numbers, folded ligatures, and paragraphs kept apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from docgen import UNICODE_FONT, wrap, write_pdf

from ingest.cleaning import normalize
from ingest.loaders import load
from ingest.structure import build

BODY_1 = [
    "The authorities shall ensure that every applicant is informed of the pro-",
    "cedure in a language he understands. The right of peoples to self-determination is recog-",
    "nised. Officers must apply the self-",
    "determination principle consistently across all of the regional offices and sub-offices.",
    "Short closing line.",
]
BODY_2 = [
    "Reception centres must provide adequate housing, food and clothing, in kind or as finan-",
    "cial allowances, and they must ensure a standard of living adequate for the health of appli-",
    "cants. Special attention is paid to vulnerable persons such as unaccompanied minors.",
]
BODY_3 = [
    "Decisions on applications for international protection shall be given in writing and, where",
    "an application is rejected, the reasons in fact and in law shall be stated in the decision.",
]


def _clean_pdf(path: Path, **running) -> str:
    write_pdf(path, [BODY_1, BODY_2, BODY_3], **running)
    return build(load(path, path.name)).text


def test_words_hyphenated_across_line_breaks_are_joined(tmp_path: Path) -> None:
    text = _clean_pdf(tmp_path / "guide.pdf")
    for word in ["procedure", "recognised", "financial", "applicants"]:
        assert word in text
    for broken in ["pro-", "recog-", "finan-", "appli-", "pro cedure", "finan cial"]:
        assert broken not in text


def test_hyphenated_compounds_keep_their_hyphen(tmp_path: Path) -> None:
    """ "self-\\ndetermination" stays a compound: the document writes it with a hyphen elsewhere."""
    text = _clean_pdf(tmp_path / "guide.pdf")
    assert text.count("self-determination") == 2
    assert "selfdetermination" not in text
    # A compound written with a hyphen in the middle of a line is left alone.
    assert "sub-offices" in text


def test_running_headers_footers_and_page_numbers_are_dropped(tmp_path: Path) -> None:
    text = _clean_pdf(
        tmp_path / "guide.pdf",
        header="UNHCR Guidance Note on Reception 2024",
        footer="Official Journal of the European Union L 180/96",
        page_numbers=True,
    )
    assert "Guidance Note on Reception" not in text
    assert "Official Journal" not in text
    assert "L 180/96" not in text
    # No stray page numbers left between paragraphs or at the end.
    for paragraph in text.split("\n\n"):
        assert not paragraph.strip().isdigit()
    assert text.rstrip().endswith("stated in the decision.")
    assert text.startswith("The authorities shall ensure")


def test_running_footer_with_changing_numbers_is_dropped(tmp_path: Path) -> None:
    """Official journals print the page's own number inside the footer: "L 180/61", "L 180/62"."""
    from fpdf import FPDF

    bodies = [
        "Member States shall ensure that applicants have access to the labour market.",
        "Detention of applicants is permitted only on the grounds listed exhaustively below.",
        "Unaccompanied minors shall be represented by a guardian from the moment of arrival.",
        "Reception conditions may be reduced only in the duly justified cases set out here.",
    ]
    pdf = FPDF(format="A4")
    for n, body in enumerate(bodies, 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=10)
        pdf.set_xy(20, 25)
        pdf.cell(0, 6, body)
        pdf.set_xy(20, 285)
        pdf.cell(0, 6, f"EN    Official Journal of the European Union    L 180/{60 + n}")
    path = tmp_path / "journal.pdf"
    pdf.output(str(path))
    text = build(load(path, "journal.pdf")).text
    assert "Official Journal" not in text
    assert "L 180" not in text
    assert text.split() == " ".join(bodies).split()


@pytest.mark.parametrize("style", ["{n}", "Page {n}", "- {n} -", "Page {n} of 4", "{n}/4", "({n})", "{roman}"])
def test_page_number_lines_are_dropped(tmp_path: Path, style: str) -> None:
    romans = ["i", "ii", "iii", "iv"]
    pages = [
        [f"Paragraph {word} sets out the duties of the receiving State in plain words."]
        for word in ["one", "two", "three", "four"]
    ]
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    for n, lines in enumerate(pages, 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=10)
        pdf.set_xy(20, 25)
        pdf.cell(0, 6, lines[0])
        pdf.set_xy(100, 285)
        pdf.cell(0, 6, style.format(n=n, roman=romans[n - 1]))
    path = tmp_path / "numbered.pdf"
    pdf.output(str(path))
    text = build(load(path, "numbered.pdf")).text
    assert text.split() == " ".join(lines[0] for lines in pages).split()


def test_a_word_hyphenated_across_a_page_break_is_joined(tmp_path: Path, embedder) -> None:
    from ingest.chunker import ChunkParams, chunk

    pages = [
        [
            "Every applicant shall have an effective remedy before a court or tribunal against a decision",
            "taken on the application, including an examination of the need for inter-",
        ],
        [
            "national protection. The time limits shall be reasonable and shall not render the remedy",
            "impossible or excessively difficult to exercise in practice for the applicant concerned.",
        ],
        ["Member States shall provide for the remedy to have suspensive effect pending its outcome."],
    ]
    path = write_pdf(tmp_path / "remedy.pdf", pages, header="Asylum Procedures Directive", page_numbers=True)
    doc = build(load(path, "remedy.pdf"))
    assert "need for international protection" in doc.text
    passages = chunk(doc, "remedy", embedder.token_offsets, ChunkParams(40, 0))
    (passage,) = [p for p in passages if "international" in p.text]
    assert (passage.page_start, passage.page_end) == (1, 2)


def test_windows_and_old_mac_line_endings_keep_paragraphs(tmp_path: Path) -> None:
    for name, newline in [("crlf.txt", "\r\n"), ("cr.txt", "\r")]:
        path = tmp_path / name
        path.write_bytes(newline.join(["First paragraph,", "on two lines.", "", "Second paragraph."]).encode())
        doc = build(load(path, name))
        assert doc.text == "First paragraph, on two lines.\n\nSecond paragraph."


def test_body_line_repeated_in_the_middle_of_pages_is_kept(tmp_path: Path) -> None:
    """Only lines at the top or bottom of a page can be running headers or footers."""
    refrain = "The Contracting States shall cooperate with the Office of the High Commissioner."
    topics = ["statistics", "legislation", "the application of this Convention", "reports"]
    pages = []
    for topic in topics:
        before = wrap(f"This part concerns {topic}. " + f"Information on {topic} shall be supplied on request. " * 3)
        after = wrap(f"Communications about {topic} go through the Secretary-General. " * 3)
        pages.append(before + [refrain] + after)
    path = write_pdf(tmp_path / "refrain.pdf", pages)
    text = build(load(path, "refrain.pdf")).text
    assert text.count(refrain) == 4


def test_ligatures_are_folded_in_text_files(tmp_path: Path) -> None:
    path = tmp_path / "ligatures.txt"
    path.write_text("The ﬁnal decision shall be notiﬁed in writing; the ﬂow of ﬁles is ofﬁcial.\n")
    text = build(load(path, "ligatures.txt")).text
    assert text == "The final decision shall be notified in writing; the flow of files is official."


@pytest.mark.skipif(not UNICODE_FONT.is_file(), reason="needs the DejaVu Sans font to print ligatures")
def test_ligatures_are_folded_in_pdfs(tmp_path: Path) -> None:
    lines = ["The ﬁnal decision shall be notiﬁed in writing.", "The ﬂow of ofﬁcial ﬁles is recorded."]
    path = write_pdf(tmp_path / "ligatures.pdf", [lines], font=UNICODE_FONT)
    text = build(load(path, "ligatures.pdf")).text
    for word in ["final", "notified", "flow", "official", "files"]:
        assert word in text
    assert not any(ch in text for ch in "ﬁﬂﬀﬃﬄ")


def test_nfkc_folds_compatibility_characters_and_drops_invisible_ones() -> None:
    raw = "Ａｒｔｉｃｌｅ\u00a033: non\u00adrefoule\u200bment\r\nsecond\u2003 line  here\r"
    assert normalize(raw) == "Article 33: nonrefoulement\nsecond line here\n"


def test_paragraph_breaks_of_text_files_are_kept(tmp_path: Path) -> None:
    first = "Every refugee has duties to the country in which he finds himself."
    second = "The Contracting States shall apply these provisions without discrimination."
    path = tmp_path / "duties.txt"
    path.write_text("\n".join(wrap(first, 40)) + "\n\n\n" + "\n".join(wrap(second, 40)) + "\n", encoding="utf-8")
    doc = build(load(path, "duties.txt"))
    assert doc.text == f"{first}\n\n{second}"
    assert [doc.text[a:b] for a, b in doc.paragraphs] == [first, second]


def test_paragraph_breaks_of_pdfs_are_kept(tmp_path: Path) -> None:
    first = (
        "Every refugee has duties to the country in which he finds himself, which require in "
        "particular that he conforms to its laws and regulations as well as to measures taken "
        "for the maintenance of public order."
    )
    second = (
        "The Contracting States shall apply the provisions of this Convention to refugees "
        "without discrimination as to race, religion or country of origin."
    )
    path = write_pdf(tmp_path / "duties.pdf", [wrap(first) + wrap(second)])
    doc = build(load(path, "duties.pdf"))
    assert [doc.text[a:b] for a, b in doc.paragraphs] == [first, second]


def test_font_artefacts_are_repaired_from_the_document_own_words() -> None:
    from ingest.cleaning import repair_glyphs

    pages = [
        [
            "T he Contracting States shall apply labour law and labour standards.",
            "N o Contracting State shall expel a refugee.",
        ],
        ["LaBour legislation and social security", "A refugee and I agree; McDonald stays."],
        ["The parties agree that no reservation and no exception is allowed."],
    ]  # the document's own words
    fixed = repair_glyphs(pages)
    assert fixed[0][0].startswith("The Contracting States")
    assert fixed[0][1].startswith("No Contracting State")
    assert fixed[1][0].startswith("Labour legislation")
    assert fixed[1][1] == "A refugee and I agree; McDonald stays."  # words and names untouched


def test_letter_spaced_headings_become_words() -> None:
    from ingest.cleaning import join_letter_spaced

    assert join_letter_spaced("c o n v e n t i o n  a n d  p r o t o c o l") == "convention  and  protocol"
    assert normalize("c o n v e n t i o n  t o  r e f u g e e s") == "convention to refugees"
    assert join_letter_spaced("Annex A B C of the list") == "Annex A B C of the list"  # no double space
    assert join_letter_spaced("Part II  General  provisions") == "Part II  General  provisions"


def test_drop_caps_across_lines_and_small_caps_glyphs_are_repaired() -> None:
    from ingest.cleaning import repair_glyphs

    body = [
        "As a result the parties agree. Being present, the refugee is a person. Provided that he stays.",
        "The parties to the agreement; the obligations of parties; the prohibition applies to parties.",
        "The Conference met. The Council met. Each State agrees.",
    ]
    pages = [
        [
            "(2) A",
            "s a result of events",
            "P rovided that this applies",
            "(6) B",
            "eing a person who",
            "Article 33",
            "prohiBition of expulsion",
            "parTies and oBligations and ConferenCe",
            "A refugee and I agree; McDonald stays.",
        ],
        body,
        body,
    ]
    fixed = repair_glyphs(pages)[0]
    assert "(2) As a result of events" in fixed
    assert "Provided that this applies" in fixed
    assert "(6) Being a person who" in fixed
    assert "prohibition of expulsion" in fixed
    assert "A refugee and I agree; McDonald stays." in fixed  # words and names untouched


def test_a_capital_after_two_lower_case_letters_stays_without_evidence_of_small_caps() -> None:
    """One odd word is a name ("iPhone", "eBay"), not a font artefact: the document must show
    the artefact on several words before the rule applies."""
    from ingest.cleaning import repair_glyphs

    pages = [["The shop sells on eBay and ships an iPhone to each customer."]]
    assert repair_glyphs(pages) == pages


def test_a_compound_broken_after_its_hyphen_before_a_capital_keeps_the_hyphen(tmp_path: Path) -> None:
    path = tmp_path / "un.txt"
    path.write_text(
        "The report of the Secretary-\nGeneral covers attacks by non-\nState actors and gender-\nbased violence.\n",
        encoding="utf-8",
    )
    text = build(load(path, "un.txt")).text
    assert "Secretary-General covers attacks by non-State actors" in text


def test_capitals_split_off_at_the_ends_of_successive_lines_all_join() -> None:
    """A form's labels, each capital ending the line before its word: joining one line must
    not hide the next capital from the join."""
    from ingest.cleaning import repair_glyphs

    body = ["The holder's Forename and Place of birth are given. Forename, Place, Nationality."]
    pages = [["Name F", "orename(s) P", "lace and date of birth N", "ationality", *body]]
    fixed = repair_glyphs(pages)[0]
    assert fixed[0] == "Name Forename(s) Place and date of birth Nationality"


def test_a_word_broken_at_a_soft_hyphen_is_one_word(tmp_path: Path) -> None:
    """pypdf writes a soft hyphen at a line's end with a space before it ("imple \\u00ad" /
    "menting", as in the Dublin III Regulation): the word is whole again, no space inside."""
    lines = [
        "The Member State responsible for imple \u00ad",
        "menting this Regulation shall inform the Inter\u00ad",
        "vention Pool.",
    ]
    path = write_pdf(tmp_path / "dublin.pdf", [lines], font=UNICODE_FONT)
    text = build(load(path, path.name)).text
    assert "responsible for implementing this Regulation shall inform the Intervention Pool." in text
    assert normalize("a hyphen - \u00ad 2 and a soft one") == "a hyphen - 2 and a soft one"  # between letters only


def test_words_set_in_pieces_are_joined_when_a_piece_is_no_word_of_its_own() -> None:
    """Some PDFs place each piece of a word with its own text matrix, and pypdf reads the seam
    as a space, on one line ("Gener al As sembly") or as lines of their own ("Sta" / "tes,").
    The document's own words decide: the whole word is written elsewhere, and one piece is
    never written alone."""
    from ingest.cleaning import repair_glyphs

    body = [
        "The General Assembly of the United Nations asked the States to apply the Convention.",
        "The States adopted it; the General Assembly noted that the States agreed to report.",
        "Each resolution of the United Nations binds; a resolution of the Nations is published.",
        "Give me an answer, said the delegate; he told me so. They mean it; we mean well; an office.",
    ]
    pages = [
        [
            "(1) United Na tions Gener al As sembly r esolution of 1950",
            "The Convention enabled Sta",
            "tes,",
            "t",
            "o apply it.",
            "Tell me an answer.",
        ],
        body,
    ]
    fixed = repair_glyphs(pages)[0]
    assert fixed[0] == "(1) United Nations General Assembly resolution of 1950"
    assert "The Convention enabled States, to apply it." in " ".join(fixed)
    assert "Tell me an answer." in fixed  # "me" and "an" are words of this document: kept apart


def test_two_words_stay_apart_where_the_document_shows_no_words_in_pieces() -> None:
    """ "in formal" is two words even in a document that writes "informal": the pieces of a
    split word must be seen as no words of their own a few times first."""
    from ingest.cleaning import repair_glyphs

    body = ["The informal meeting; informal talks; abroad and abroad; ideal and ideal; upon it and upon that."]
    pages = [["The council held in formal session, a broad view. I deal with it; follow up on it."], body]
    assert repair_glyphs(pages) == pages


# A document that shows split capitals (three distinct ones: "drop caps" evidence) and words in
# pieces whose pieces are no words (three: "pieces" evidence), as the UNHCR booklet does.
_ARTEFACT_EVIDENCE = [
    "P rovided that the States agree. B eing a person. T he parties. Provided that. Being so. The end.",
    "The Gener al As sembly met; Sta tes agreed; the General Assembly and the States; General Assembly; States.",
]


def test_names_and_short_words_after_a_split_capital_join_by_the_english_word_list() -> None:
    """Where the document cannot tell, the English word list does: "A gudas Israel" is a name
    the document never writes whole, but "gudas" is no English word; "S ex" is a form's label
    whose "ex" the document writes only as a piece ("for ex ample", "example,"). "A street"
    stays: "street" is a word, though the document never writes it again."""
    from ingest.cleaning import repair_glyphs

    pages = [
        [
            "Category B: A gudas Israel World Organization; Caritas Internationalis.",
            "Place and date of birth S ex *Strike out whichever does not apply.",
            "See, for ex ample, the list. A street runs past it.",
        ],
        [*_ARTEFACT_EVIDENCE, "For example, the Council; for example, the list."],
    ]
    fixed = repair_glyphs(pages)[0]
    assert fixed[0] == "Category B: Agudas Israel World Organization; Caritas Internationalis."
    assert fixed[1] == "Place and date of birth Sex *Strike out whichever does not apply."
    assert fixed[2] == "See, for example, the list. A street runs past it."


_ENGLISH_BODY = [
    "Everyone has the right to rest and leisure, including reasonable limitation of working hours.",
    "Everyone has the right to a standard of living adequate for the health of himself and of his family.",
    "The Contracting States shall accord to refugees the same treatment as is accorded to nationals.",
    "Nothing in this Convention shall be deemed to impair any rights granted by a Contracting State.",
    "The patients were moved towards the door; the contract was void; the venue was booked.",
]


@pytest.mark.parametrize(
    "line",
    [
        "A void contract is null; A venue for the meeting; A cute shortage of staff.",
        "In this foreword I deal with it.",
        "Table A shows the data; Schedule I lists the states; Annex A summarises the rules.",
        "I welcomed them and I thanked them.",
        "A dedicated fund exists; A website lists it; A priori reasoning; Phase I trials began.",
        "1. Smith J et al. 2. Brown K et al. 3. Lee M et al.",
        "A broad consensus emerged on a broad range of measures.",
        "Patients were moved to wards in the east wing.",
        "Smith J et al. (2010) found this; Lee K, Smith P et al. Reference.",
        "A colour Chart is annexed; Category I offences Under the Act; A priori Assumptions are made.",
        "Table A online Survey results; I paid Mr Smith the fee.",
        "See www.un.org an overview; data from Europe an increase.",
        "The Party’s top priority; it doesn’t ask much.",
        "E postbox@ipu.org and W www.ipu.org",
    ],
)
def test_words_stay_apart_where_the_english_word_list_could_join_them(line: str) -> None:
    """Found by a review of the word-list rules, in a document with every kind of evidence:
    after "A" or "I", a word the list knows inflected ("shows", "welcomed") or not ("void",
    "venue"), or one it does not know ("website", "summarises") with no name running on, is a
    word; "et" after several initials is one; "a broad" (the article) and "to wards" are two
    words even where "abroad" and "towards" are written."""
    from ingest.cleaning import repair_glyphs

    body = ["a broad view; a broad one; abroad and abroad; the principal organ; the European Union; stop it; a task."]
    pages = [[line], [*_ARTEFACT_EVIDENCE, *_ENGLISH_BODY, *body]]
    assert repair_glyphs(pages)[0] == [line]


def test_a_word_in_pieces_written_once_joins_when_a_piece_is_no_english_word() -> None:
    """ "significanc e", "c hild": the document writes "significance" and "child" whole only
    once, too little for its own words to decide; the English word list knows them, and knows
    neither "e" nor "c" as words (of single letters only "a" and "i" are). "br ackets" stays, as the document never
    writes "brackets" whole, and so do two pieces that are both English words ("the re")."""
    from ingest.cleaning import repair_glyphs

    pages = [
        ["Of great significanc e; the c hild stayed; the re was no ambiguity; the br ackets stay."],
        [*_ARTEFACT_EVIDENCE, "Its significance. The child. There it is."],
    ]
    assert repair_glyphs(pages)[0] == [
        "Of great significance; the child stayed; the re was no ambiguity; the br ackets stay."
    ]


def test_the_english_word_list_decides_nothing_in_a_document_in_another_language() -> None:
    """A French document with the same artefacts: "A partir" is two words in French, which no
    English list knows, so it stays; the document's own evidence still joins ("Gener al")."""
    from ingest.cleaning import repair_glyphs

    french = [
        "P our les Etats. L es parties. D ans le cas. Pour les parties; Les parties; Dans le cas.",
        "L'Assemblée Gener ale et les Eta ts; la General Assembly; Generale et Generale; les Etats; les Etats.",
        "Les Etats membres de la convention conviennent que les personnes réfugiées ont droit.",
    ]
    pages = [["A partir de cette date, les Etats membres appliquent la convention."], french]
    assert repair_glyphs(pages)[0] == ["A partir de cette date, les Etats membres appliquent la convention."]


def test_a_short_english_document_shows_its_words_in_pieces_through_the_word_list() -> None:
    """The OHCHR's UDHR writes "w orld", "fri endly", "internat ional", "observanc e", each
    whole once elsewhere: too few for the document's own evidence, but pieces that are no
    English words are evidence of their own. Two words of the list ("in formal") are still no
    evidence."""
    from ingest.cleaning import repair_glyphs

    pages = [
        ["Peace in the w orld; fri endly relations; internat ional law; its observanc e; the limit ation of hours."],
        [
            "The world and international cooperation; friendly nations; the observance of rights; the limitation of work.",
            "Everyone has the right to rest and leisure, including reasonable working time and periodic holidays with pay.",
            "Everyone has the right to a standard of living adequate for the health and well-being of himself and of his family.",
        ],
    ]
    assert repair_glyphs(pages)[0] == [
        "Peace in the world; friendly relations; international law; its observance; the limitation of hours."
    ]
    informal = [["A meeting in formal session, up on the roof, a broad view."], ["informal abroad upon"]]
    assert repair_glyphs(informal) == informal


SHARED_TREATIES = Path(__file__).resolve().parents[3] / "shared/corpus/treaties"


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_TREATIES.is_dir(), reason=f"needs the shared corpus ({SHARED_TREATIES})")
def test_clean_treaties_with_words_broken_in_pieces_change_only_where_they_were_broken() -> None:
    """The shared treaties that come as Markdown are clean text. Broken into pieces here and
    there (1 word in 100: "obliga tions"), so that the rules' evidence holds, and read as PDF
    pages, every change the cleaning makes must join a broken word back: no word that was whole
    is joined to its neighbour."""
    import difflib
    import random

    from ingest.cleaning import repair_glyphs

    rng = random.Random(7)
    broken_words = repaired = 0
    for path in sorted(SHARED_TREATIES.glob("*.md")):
        if path.name == "SOURCES.md":
            continue
        pages = [[line for line in normalize(page.text).split("\n") if line] for page in load(path, path.name).pages]
        broken = []
        for lines in pages:
            out = []
            for line in lines:
                words = line.split(" ")
                for k, word in enumerate(words):
                    if word.isalpha() and word.islower() and len(word) >= 6 and rng.random() < 0.01:
                        cut = rng.randint(2, len(word) - 2)
                        words[k] = f"{word[:cut]} {word[cut:]}"
                        broken_words += 1
                out.append(" ".join(words))
            broken.append(out)
        clean = " ".join(" ".join(lines) for lines in pages).split()
        fixed = " ".join(" ".join(lines) for lines in repair_glyphs(broken)).split()
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, clean, fixed, autojunk=False).get_opcodes():
            if op != "equal":  # a broken word left in pieces is allowed; nothing else
                assert "".join(clean[i1:i2]) == "".join(fixed[j1:j2]) and j2 - j1 > i2 - i1, (
                    path.name,
                    clean[i1:i2],
                    fixed[j1:j2],
                )
        repaired += sum(len(" ".join(lines).split()) for lines in broken) - len(fixed)
    assert repaired * 2 >= broken_words, (repaired, broken_words)  # most were joined back (52 of 65)
