"""The small corpus the service tests ask questions of, written at test time.

Layout of the generated folder (``source`` values are these relative paths)::

    treaties/return-charter.pdf   3 pages: Chapter I (Articles 1, 2) on page 1, Chapter II with
                                  Article 7 on page 2, Articles 8 and 9 on page 3
    treaties/water-protocol.pdf   1 page: Articles 1, 2 and 31 of another instrument
    treaties/ferry-annex.txt      one short passage ...
    sub/ferry-annex.txt           ... repeated word for word in a second document
    sub/shelter-guide.md          Markdown with "## Water Supply", "## Sanitation", ...
    sub/depot-notes.txt           four unrelated sections: one passage each (the "doc B")
    archive/return-casebook.txt   thirty short case notes about people going home: bulk that
                                  outranks everything but the Charter for return questions

Every fact the tests look for is a distinctive sentence defined here once.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

LINE_HEIGHT = 6  # mm
TOP = 20

# -- the Charter (PDF, 3 pages) -------------------------------------------------------
CHARTER_SOURCE = "treaties/return-charter.pdf"
CHARTER_TITLE = "Charter on Displacement and Return"
ARTICLE_7_SENTENCE = (
    "Every displaced person has the right to return voluntarily to the valley of Kestrelmoor "
    "once the floodwaters have receded."
)
ARTICLE_8_SENTENCE = (
    "The authorities shall keep family members together during evacuation and shall reunite "
    "separated children with their parents within thirty days."
)
ARTICLE_9_SENTENCE = (
    "Persons whose homes were destroyed shall receive compensation assessed by an independent "
    "tribunal sitting in Varrowdale."
)
CHARTER_PAGES: list[list[str | tuple[str, ...]]] = [
    [
        (
            "The States Parties to this Charter, recalling that millions of people are forced from their "
            "homes every year by conflict and disaster, and resolved to protect them until they can go "
            "home in safety and dignity, have agreed as follows."
        ),
        "Chapter I",
        "General Provisions",
        "Article 1",
        "Definitions",
        (
            "For the purposes of this Charter, a displaced person means any person compelled to leave "
            "the place of habitual residence because of armed conflict, disaster or persecution. "
            "Habitual residence means the dwelling a person occupied for at least six months before "
            "departure."
        ),
        "Article 2",
        "Scope",
        (
            "This Charter applies to every State Party and to every authority exercising control over "
            "territory where displaced persons are found. It does not affect more favourable rights "
            "granted by national law or by other treaties."
        ),
    ],
    [
        "Chapter II",
        "Movement and Return",
        "Article 7",
        "Right of return",
        (
            f"{ARTICLE_7_SENTENCE} The State Party shall clear the roads, restore drinking water and "
            "reopen schools before organising any return. No person shall be compelled to return "
            "against his or her will, and those who choose to settle elsewhere keep every right under "
            "this Charter."
        ),
    ],
    [
        "Article 8",
        "Family unity",
        (
            f"{ARTICLE_8_SENTENCE} Registration records shall note every family link declared by a "
            "displaced person, and tracing services shall be free of charge."
        ),
        "Article 9",
        "Compensation",
        (
            f"{ARTICLE_9_SENTENCE} The tribunal shall publish its scale of awards and decide every "
            "claim within one year of its filing."
        ),
    ],
]

# -- a second treaty that also has an Article 2 -----------------------------------------
PROTOCOL_SOURCE = "treaties/water-protocol.pdf"
PROTOCOL_TITLE = "Protocol on Transboundary Water Sharing"
PROTOCOL_ARTICLE_2_SENTENCE = (
    "Each riparian State shall notify its neighbours ninety days before opening any new sluice on the river Tamsel."
)
PROTOCOL_PAGES: list[list[str | tuple[str, ...]]] = [
    [
        "Article 1",
        "Purpose",
        (
            "This Protocol sets out how riparian States share the waters of the river basins they have "
            "in common and how they settle disputes over abstraction."
        ),
        "Article 2",
        "Notification",
        (f"{PROTOCOL_ARTICLE_2_SENTENCE} The notice shall state the expected flow and the dates of the works."),
        "Article 31",
        "Entry into force",
        (
            "This Protocol enters into force on the ninetieth day after the deposit of the fifth "
            "instrument of ratification with the depositary."
        ),
    ],
]

# -- the same text in two documents ---------------------------------------------------------
FERRY_SOURCES = ("treaties/ferry-annex.txt", "sub/ferry-annex.txt")
FERRY_SENTENCE = "The ferry across Lake Orrin departs at dawn and carries no more than forty passengers."
FERRY_TEXT = (
    "Ferry Annex\n\n"
    f"{FERRY_SENTENCE} Tickets are issued free of charge to returning families at the harbour office, "
    "and livestock travel on the second crossing of the day.\n"
)

# -- Markdown -------------------------------------------------------------------------------
GUIDE_SOURCE = "sub/shelter-guide.md"
GUIDE_TITLE = "Field Guide to Shelter Standards"
WATER_SENTENCE = "Each settlement must provide at least fifteen litres of safe water per person per day."
# A section long enough to be cut into several overlapping passages (160-token passages with
# 48 tokens of whole-sentence overlap); the last one is short, so it overlaps its
# predecessor by more than half: a near-duplicate that hybrid ranking must drop.
SANITATION_SENTENCES = [
    "Latrines must stand at least thirty metres away from every well, spring and borehole in the camp.",
    "Every latrine block needs a handwashing station with soap and water placed beside its door.",
    "Separate latrines for women and for men shall be lit at night and lockable from the inside.",
    "One latrine for every twenty persons is the target in the first month after a settlement opens.",
    "Cleaning rotas for latrines should be agreed with the residents and posted in every block.",
    "Pit latrines must be emptied or closed before the contents reach half a metre below the slab.",
    "Children's latrines need smaller openings and steps, so that infants can use them without fear.",
    "Soap and water containers are handed to every household at the start of each month.",
    "Latrine inspections happen weekly.",
]
GUIDE_TEXT = f"""# {GUIDE_TITLE}

This guide sets minimum standards for camps and collective centres hosting displaced families.

## Water Supply

{WATER_SENTENCE} Water points shall stand no more than five hundred metres from any shelter, and
queues at a water point should not exceed fifteen minutes.

## Sanitation

{" ".join(SANITATION_SENTENCES)}

## Site Planning

Shelters must be spaced at least two metres apart, with firebreaks of thirty metres after every
three hundred metres of built-up area. Each household needs a covered living space of at least
three and a half square metres per person.
"""

# -- "doc B": four unrelated sections, one passage each --------------------------------------
DEPOT_SOURCE = "sub/depot-notes.txt"
DEPOT_SECTIONS = {
    "Storage Procedures": (
        "Pallets of tinned food are stacked no higher than four layers on the warehouse floor. "
        "Stock is rotated so that the oldest cartons leave the depot first, and damaged cartons are "
        "logged before disposal."
    ),
    "Vehicle Maintenance": (
        "Trucks are serviced every five thousand kilometres at the Norvik garage. Drivers check tyre "
        "pressure, brake fluid and lights each morning before taking to the roads, and report faults on "
        "the maintenance sheet."
    ),
    "Radio Protocol": (
        "Convoys report their position by radio every thirty minutes using the call sign Heron. "
        "Messages are logged by the base operator with the time, the sender and the location given."
    ),
    "Payroll Schedule": (
        "Casual labourers are paid in cash on the last Friday of every month at the depot office. "
        "Each payment is signed for by the labourer and countersigned by the storekeeper on duty."
    ),
}
DEPOT_TEXT = (
    "Depot Operations Notes\n\n"
    + "\n\n".join(f"{heading}\n\n{body}" for heading, body in DEPOT_SECTIONS.items())
    + "\n"
)

# -- bulk: thirty case notes about going home --------------------------------------------------
CASEBOOK_SOURCE = "archive/return-casebook.txt"
_PLACES = [
    "Ashford",
    "Belmont",
    "Carrow",
    "Dunmere",
    "Elmstead",
    "Fairhaven",
    "Glenrock",
    "Hollins",
    "Ivybridge",
    "Juniper",
    "Kirkwall",
    "Linford",
    "Marston",
    "Newhall",
    "Oakham",
    "Pinewood",
    "Quarry Hill",
    "Redbrook",
    "Stanmore",
    "Thornbury",
    "Upton",
    "Valewood",
    "Westbury",
    "Yarrow",
    "Ashcombe",
    "Brookfield",
    "Coldwater",
    "Deepdale",
    "Eastleigh",
    "Fenwick",
]
_EVENTS = ["the floods", "the fighting", "the landslide", "the storm", "the earthquake", "the fire"]
_NUMBERS = ["One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"]


def _casebook_text() -> str:
    parts = ["Return Casebook"]
    for i, place in enumerate(_PLACES):
        event = _EVENTS[i % len(_EVENTS)]
        heading = f"Case Note {_NUMBERS[i // 10]} {_NUMBERS[i % 10]}"
        parts.append(heading)
        parts.append(
            f"After {event}, {12 + i} displaced families from {place} asked to go back to their homes. "
            f"The return to {place} began once the roads reopened and the families travelled home "
            f"with their belongings. Officials confirmed that every family who returned to {place} "
            "did so voluntarily."
        )
    return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class Corpus:
    root: Path

    def path(self, source: str) -> Path:
        return self.root / source


def _wrap(item: str | tuple[str, ...]) -> list[str]:
    if isinstance(item, tuple):
        item = " ".join(item)
    return textwrap.wrap(item, width=88) if len(item) > 88 else [item]


def write_pdf(path: Path, pages: list[list[str | tuple[str, ...]]], title: str) -> Path:
    """A real PDF whose page ``n`` shows ``pages[n - 1]`` (headings on lines of their own,
    paragraphs wrapped as a word processor would), with a page number at the bottom."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(title)
    for number, items in enumerate(pages, 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=10)
        lines = [line for item in items for line in _wrap(item)]
        for i, line in enumerate(lines):
            pdf.set_xy(20, TOP + i * LINE_HEIGHT)
            pdf.cell(0, LINE_HEIGHT, line)
        pdf.set_xy(100, 285)
        pdf.cell(0, LINE_HEIGHT, str(number))
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_corpus(root: Path) -> Corpus:
    write_pdf(root / CHARTER_SOURCE, CHARTER_PAGES, CHARTER_TITLE)
    write_pdf(root / PROTOCOL_SOURCE, PROTOCOL_PAGES, PROTOCOL_TITLE)
    for source in FERRY_SOURCES:
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text(FERRY_TEXT, encoding="utf-8")
    (root / GUIDE_SOURCE).write_text(GUIDE_TEXT, encoding="utf-8")
    (root / DEPOT_SOURCE).write_text(DEPOT_TEXT, encoding="utf-8")
    (root / CASEBOOK_SOURCE).parent.mkdir(parents=True, exist_ok=True)
    (root / CASEBOOK_SOURCE).write_text(_casebook_text(), encoding="utf-8")
    return Corpus(root)


ALL_SOURCES = sorted([CHARTER_SOURCE, PROTOCOL_SOURCE, *FERRY_SOURCES, GUIDE_SOURCE, DEPOT_SOURCE, CASEBOOK_SOURCE])
