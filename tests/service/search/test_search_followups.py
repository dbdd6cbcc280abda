"""Follow-up questions, measured: hand-made conversations over the shared treaties corpus,
each last turn searched with and without the follow-up rule of ``service.search.answer``. The rule
must get more of them right (top-cited passage in the expected document and section) and
must not break a standalone question. The numbers are in docs/chat.md.

Needs ../shared/corpus/treaties (skipped when absent) and builds an index of the eight
documents the conversations are about (slow: about a minute).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from service.search import answer as chat

SHARED = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "treaties"


@dataclass(frozen=True)
class Conversation:
    turns: tuple[str, ...]  # the user's turns; the last one is searched
    source: str  # file the top-cited passage must come from
    section: str  # substring of its section
    followup: bool = True  # whether the last turn is a follow-up


CONVERSATIONS = [
    Conversation(
        ("Do refugees have access to the courts?", "And what about stateless persons?"),
        "stateless_persons_convention_1954.md",
        "Article 16",
    ),
    Conversation(
        ("What does the refugee convention say about wage-earning employment?", "and self-employment?"),
        "refugee_convention_1951_and_protocol_1967_unhcr.pdf",
        "Article 18",
    ),
    Conversation(
        ("Can a refugee be expelled?", "What about stateless persons?"),
        "stateless_persons_convention_1954.md",
        "Article 31",
    ),
    Conversation(
        ("What does the stateless persons convention say about housing?", "and public education?"),
        "stateless_persons_convention_1954.md",
        "Article 22",
    ),
    Conversation(
        ("Are smuggled migrants criminally liable under the smuggling protocol?", "and how are they protected?"),
        "smuggling_of_migrants_protocol_2000.md",
        "Article 16",
    ),
    Conversation(
        (
            "What are the measures against the smuggling of migrants by sea?",
            "What about the return of smuggled migrants?",
        ),
        "smuggling_of_migrants_protocol_2000.md",
        "Article 18",
    ),
    Conversation(
        ("Is collective expulsion of aliens prohibited under Protocol No. 4?", "and expulsion of nationals?"),
        "echr_protocol_4.md",
        "Article 3",
    ),
    Conversation(
        ("Does the EU Charter protect the right to asylum?", "And protection in the event of removal?"),
        "eu_charter_fundamental_rights_2000.pdf",
        "Article 19",
    ),
    Conversation(
        ("What does the EU Charter say about the rights of the child?", "and the right to education?"),
        "eu_charter_fundamental_rights_2000.pdf",
        "Article 14",
    ),
    Conversation(
        ("What identity papers must be issued to refugees?", "and travel documents?"),
        "refugee_convention_1951_and_protocol_1967_unhcr.pdf",
        "Article 28",
    ),
    Conversation(
        ("What does the refugee convention say about naturalization?", "And for stateless people?"),
        "stateless_persons_convention_1954.md",
        "Article 32",
    ),
    Conversation(
        ("How does ICERD define racial discrimination?", "What must states do to condemn it?"),
        "icerd_1965.md",
        "Article 2",
    ),
    Conversation(
        (
            "What does the stateless persons convention say about freedom of movement?",
            "What about the refugee convention?",
        ),
        "refugee_convention_1951_and_protocol_1967_unhcr.pdf",
        "Article 26",
    ),
    Conversation(
        ("What does the ICCPR say about freedom of movement?", "and in the EU Charter?"),
        "eu_charter_fundamental_rights_2000.pdf",
        "Article 45",
    ),
    Conversation(
        ("Which article of the refugee convention prohibits refoulement?", "Are there exceptions?"),
        "refugee_convention_1951_and_protocol_1967_unhcr.pdf",
        "Article 33",
    ),
    Conversation(
        ("What is the ultimate objective of the climate change convention?", "and its principles?"),
        "unfccc_1992.md",
        "Article 3",
    ),
    # Chains: the topic of the opening question carries through two follow-ups.
    Conversation(
        ("Do refugees have access to the courts?", "and stateless persons?", "what about housing?"),
        "stateless_persons_convention_1954.md",
        "Article 21",
    ),
    Conversation(
        ("What does the EU Charter say about the right to asylum?", "and the rights of the child?", "and health care?"),
        "eu_charter_fundamental_rights_2000.pdf",
        "Article 35",
    ),
    # Standalone questions after another topic: the rule must leave them alone.
    Conversation(
        ("Do refugees have access to the courts?", "What does the EU Charter say about protection of personal data?"),
        "eu_charter_fundamental_rights_2000.pdf",
        "Article 8",
        followup=False,
    ),
    Conversation(
        ("Can a refugee be expelled?", "Under the smuggling protocol, what border measures must states take?"),
        "smuggling_of_migrants_protocol_2000.md",
        "Article 11",
        followup=False,
    ),
    Conversation(
        ("What does the EU Charter say about the right to asylum?", "Is torture prohibited by the ICCPR?"),
        "iccpr_ohchr.pdf",
        "Article 7",
        followup=False,
    ),
    Conversation(
        ("What does the stateless persons convention say about housing?", "How is a stateless person defined?"),
        "stateless_persons_convention_1954.md",
        "Article 1",
        followup=False,
    ),
]
DOCUMENTS = sorted({c.source for c in CONVERSATIONS})


def correct(retriever, conversation: Conversation, use_history: bool, top_k: int = 1) -> bool:
    resolution = chat.resolve_question(conversation.turns, use_history=use_history)
    hits = retriever.run(resolution.query, top_k)
    return any(
        hit.citation.source == conversation.source and conversation.section in (hit.citation.section or "")
        for hit in hits
    )


def measure(retriever) -> dict[str, dict[str, int]]:
    """Correct last turns (top-1 and top-3), with and without the rule, per kind of turn."""
    table: dict[str, dict[str, int]] = {}
    for kind, group in (
        ("follow-up", [c for c in CONVERSATIONS if c.followup]),
        ("standalone", [c for c in CONVERSATIONS if not c.followup]),
    ):
        table[kind] = {"n": len(group)}
        for use in (False, True):
            for k in (1, 3):
                table[kind][f"{'with' if use else 'without'}@{k}"] = sum(correct(retriever, c, use, k) for c in group)
    return table


def test_the_rule_classifies_the_hand_made_turns():
    for conversation in CONVERSATIONS:
        resolution = chat.resolve_question(conversation.turns)
        assert resolution.followup == conversation.followup, (conversation.turns[-1], resolution.reason)


@pytest.fixture(scope="module")
def treaty_retriever(tmp_path_factory, embedder):
    if not SHARED.is_dir():
        pytest.skip(f"the shared treaties corpus is not at {SHARED}")
    from ingest.pipeline import ingest
    from ingest.settings import Settings
    from ingest.store.reader import StoredIndex
    from service.search.retriever import Retriever

    settings = Settings(index_dir=tmp_path_factory.mktemp("followups") / "index")
    ingest([SHARED / name for name in DOCUMENTS], settings, embedder=embedder)
    index = StoredIndex.open(settings.index_dir)
    yield Retriever(index, embedder, settings)
    index.close()


@pytest.mark.shared
@pytest.mark.slow
def test_the_rule_helps_followups_and_spares_standalone_questions(treaty_retriever):
    table = measure(treaty_retriever)
    print(table)
    followups, standalone = table["follow-up"], table["standalone"]
    assert followups["with@1"] >= followups["without@1"] + followups["n"] // 4
    assert followups["with@3"] >= followups["without@3"] + followups["n"] // 4
    assert followups["with@1"] >= 0.7 * followups["n"]
    assert standalone["with@1"] == standalone["without@1"]
    assert standalone["with@3"] == standalone["without@3"]
