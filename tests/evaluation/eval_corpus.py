"""A tiny corpus and question set whose lexical results can be worked out by hand.

Every sentence is one passage (24-token passages, no overlap, sentences of 17 to 23 tokens). BM25 scores only passages
sharing a question word, so in lexical mode each question returns a known list:

======  ==========================================  =======================================
id      returned (lexical, whole index)             outcome
======  ==========================================  =======================================
q1      A "quokka colony nests"                     hit at 1
q2      B "zebra lantern schedule", A "lantern"     hit at 2 (decoy from B has all 3 words)
q3      C "gondola ribbon"                          miss: "crimson" is nowhere; doc A absent
q4      A "warden … ledger"                         miss: the answer is in another A passage
q5      B (3 words), C (2 words), A "gibbon"        hit at 3
======  ==========================================  =======================================

Asked of their own document (``--per-doc``), q2 and q5 lose their decoys (hits at 1) and q3
gets nothing back.
"""

from __future__ import annotations

import json
from pathlib import Path

DOCS = {
    "alpha.txt": [
        "The quokka colony nests beside the eastern pier every spring, close to the old boathouse.",
        "Visitors must sign the ledger kept by the warden before boarding any of the morning boats.",
        "The lantern is lit at nine in the evening on weekdays, and an hour later on Sundays.",
        "Cargo inspectors note the weight of each crate on arrival and stack the crates by size.",
        "A gibbon was seen near the north jetty last summer, far from any of the usual trees.",
        "Fresh water is carried aboard in sealed barrels twice a week by the crew of the tender.",
    ],
    "bravo.txt": [
        "The zebra lantern schedule was printed on blue paper and pinned up beside the front door.",
        "An ocelot, a tapir and a gibbon appeared on the poster that hung in the waiting hall.",
        "Tickets are sold at the kiosk until the last departure, cash only, with no reservations.",
    ],
    "charlie.txt": [
        "The gondola ribbon is green and hangs from the mast for the whole of the summer season.",
        "The ocelot and the tapir were painted on the gate by pupils of the village school.",
        "Children under twelve travel free with an adult passenger on every route of the network.",
    ],
}

QUESTIONS = [
    {
        "id": "q1",
        "question": "Where does the quokka colony nest?",
        "doc": "alpha.txt",
        "answers": ["beside the eastern pier"],
    },
    {
        "id": "q2",
        "question": "What is the zebra lantern schedule?",
        "doc": "alpha.txt",
        "answers": ["at nine in the evening"],
    },
    {"id": "q3", "question": "Which colour is the gondola ribbon?", "doc": "alpha.txt", "answers": ["crimson"]},
    {
        "id": "q4",
        "question": "What does the warden keep in the ledger?",
        "doc": "alpha.txt",
        "answers": ["the weight of each crate"],
    },
    {
        "id": "q5",
        "question": "Ocelot, tapir or gibbon sightings?",
        "doc": "alpha.txt",
        "answers": ["near the north jetty"],
    },
]


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sentences in DOCS.items():
        (folder / name).write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return folder


def write_questions(path: Path, invalid: bool = True) -> Path:
    """The five questions, plus (``invalid``) a broken line 3, a line without answers at 6
    and a blank line 8, which is not an error."""
    lines = [json.dumps(q) for q in QUESTIONS]
    if invalid:
        lines.insert(2, '{"id": "broken", "question": "no closing brace"')
        lines.insert(5, json.dumps({"id": "noanswer", "question": "Where is the pier?"}))
        lines.insert(7, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
