"""The document a question names (service.search.names) and the boost its passages get in
hybrid ranking: "the ICCPR", "the children's rights convention", "the Dublin III Regulation"."""

from __future__ import annotations

import pytest
from service_docs import CHARTER_SOURCE, PROTOCOL_SOURCE

from ingest.pipeline import ingest
from ingest.settings import Settings
from ingest.store.reader import StoredIndex
from service.search.names import DocumentNames, acronym
from service.search.retriever import Retriever

pytestmark = pytest.mark.usefixtures("hermetic")

TREATIES = [
    ("iccpr", "International Covenant on Civil and Political Rights", "treaties/iccpr_ohchr.pdf"),
    ("crc", "Convention on the Rights of the Child", "treaties/crc_convention_rights_of_the_child.pdf"),
    (
        "dublin",
        "Regulation (EU) No 604/2013 of the European Parliament and of the Council of 26 June 2013 establishing "
        "the criteria and mechanisms for determining the Member State responsible for examining an application "
        "for international protection lodged in one of the Member States by a third-country national or a "
        "stateless person",
        "treaties/eu_dublin_iii_regulation_604_2013.pdf",
    ),
    ("refugees", "Convention relating to the Status of Refugees", "treaties/refugee_convention_1951.pdf"),
    ("stateless", "Convention relating to the Status of Stateless Persons", "treaties/stateless_persons_convention.md"),
    ("climate", "United Nations Framework Convention on Climate Change", "treaties/unfccc_1992.md"),
]


@pytest.fixture(scope="module")
def names() -> DocumentNames:
    return DocumentNames(TREATIES)


def named_id(names: DocumentNames, question: str) -> str | None:
    found = names.named(question)
    return None if found is None else TREATIES[found][0]


@pytest.mark.parametrize(
    "question, doc",
    [
        ("What does Article 10 of the ICCPR require regarding people held in detention?", "iccpr"),
        ("Under the children's rights convention, when may a minor be locked up?", "crc"),
        ("What does the Dublin III Regulation say about detaining applicants?", "dublin"),
        ("What does Article 3 of the UNFCCC say about precaution?", "climate"),
        ("What does the ICCPR say in Art. 10?", "iccpr"),  # "Art." ends no sentence
        # Named nowhere: one topic word ("refugee", "state") is not a name.
        ("Can a state send a refugee back to a country where they face persecution?", None),
        ("Which rules apply to refugees?", None),
        ("Is getting time off from work and paid vacation days a human right?", None),
        # Two instruments named: neither is lifted over the other.
        ("How does the ICCPR differ from the Convention on the Rights of the Child on detention?", None),
    ],
)
def test_the_document_a_question_names(names: DocumentNames, question: str, doc: str | None) -> None:
    assert named_id(names, question) == doc


def test_a_follow_up_is_asked_of_its_own_sentence(names: DocumentNames) -> None:
    # A chat searches a follow-up with the turn before it: the earlier turn's convention is not
    # the one asked about.
    assert (
        named_id(names, "What does the refugee convention say about naturalization? And for stateless people?") is None
    )
    assert (
        named_id(
            names, "What does the stateless persons convention say about movement? What about the refugee convention?"
        )
        == "refugees"
    )


def test_an_article_number_is_no_mention_of_a_protocols_number() -> None:
    names = DocumentNames(
        [
            *TREATIES,
            ("echr4", "Protocol No. 4 to the European Convention on Human Rights", "treaties/echr_protocol_4.md"),
        ]
    )
    assert names.named("What does Article 4 require?") is None
    assert names.named("What does Article 4 of the CRC say?") == 1  # not held back by "No. 4"
    assert names.named("What does Protocol No. 4 to the European Convention say about expulsion?") == len(TREATIES)


def test_one_document_names_nothing() -> None:
    assert DocumentNames(TREATIES[:1]).named("What does the ICCPR say?") is None


def test_acronyms_skip_function_words() -> None:
    assert acronym("International Covenant on Civil and Political Rights") == "iccpr"
    assert acronym("Convention on the Rights of the Child") == "crc"
    assert acronym("Charter") is None


def test_the_named_documents_passages_gain_the_boost(retriever: Retriever) -> None:
    index = retriever.index
    named = retriever._names.named("What does the Protocol on Transboundary Water Sharing say about notification?")
    assert named is not None and index.documents[index.doc_ids[named]].source == PROTOCOL_SOURCE
    question = "What do the Water Sharing Protocol's articles on notification require?"
    off = Retriever(index, retriever.embedder, retriever.settings.model_copy(update={"named_document_boost": 0.0}))
    with_boost, without = (
        dict(retriever.rank(question, "hybrid", None, 50)),
        dict(off.rank(question, "hybrid", None, 50)),
    )
    for row, score in without.items():
        source = index.documents[index.doc_ids[index.passage_doc[row]]].source
        gain = retriever.settings.named_document_boost if source == PROTOCOL_SOURCE else 0.0
        assert with_boost[row] == pytest.approx(score + gain)
    assert any(index.documents[index.doc_ids[index.passage_doc[r]]].source == CHARTER_SOURCE for r in without)


LAKE = {
    "lake_fishing_convention.md": (
        "# Convention on Lake Fishing\n\n## Article 1 — Scope\n\nThis Convention applies to fishing on the lake "
        "by the riparian parties and their licensed fishers.\n\n## Article 3 — Nets\n\nNets used on the lake shall "
        "have a mesh of at least forty millimetres, so that young fish escape. Each party shall mark the nets of its "
        "fishers with a licence number.\n"
    ),
    # Quotes the Convention, and shares more words with the question than the Convention does.
    "port_bylaws.md": (
        "# Port Bylaws\n\n## Article 12 — Fishing gear in the harbour\n\nIn accordance with the Convention on Lake "
        "Fishing, fishing nets brought into the harbour shall be inspected by the harbour master, and nets whose mesh "
        "is below the size the Convention on Lake Fishing sets shall be seized at the quay.\n\n## Article 13 — "
        "Mooring\n\nBoats shall moor at the berths the harbour master assigns and pay the mooring fee each month.\n"
    ),
    "river_transport_agreement.md": (
        "# River Transport Agreement\n\n## Article 2 — Barges\n\nBarges carrying grain on the river shall be "
        "registered with the river authority before loading.\n"
    ),
}


def test_a_question_naming_an_instrument_by_its_acronym_cites_it(tmp_path, embedder) -> None:
    for name, text in LAKE.items():
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "docs" / name).write_text(text, encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index")
    ingest(sorted((tmp_path / "docs").iterdir()), settings, embedder=embedder)
    index = StoredIndex.open(settings.index_dir)
    try:
        question = "What does the CLF say about fishing nets and their inspection?"

        def top(boost: float) -> str:
            retriever = Retriever(index, embedder, settings.model_copy(update={"named_document_boost": boost}))
            [hit] = retriever.run(question, 1)
            return f"{hit.citation.source} {hit.citation.section}"

        assert top(0.0) == "port_bylaws.md Article 12 — Fishing gear in the harbour"
        assert top(0.5) == "lake_fishing_convention.md Article 3 — Nets"
    finally:
        index.close()
