"""The hit definition of shared/qa/README.md, case by case."""

from __future__ import annotations

import pytest

from evaluation.hits import doc_matches, fold, is_hit, shares_run, text_is_hit
from evaluation.qa import Question


def q(answers, doc="a.pdf", evidence=(), alt_docs=()) -> Question:
    return Question("x", "?", list(answers), doc, list(evidence), list(alt_docs))


@pytest.mark.parametrize(
    "text, folded",
    [
        ("The FOLLOWING  Articles:", "the following articles"),
        ("fol- lowing", "following"),  # a line-break hyphen after whitespace collapse
        ("fol-\nlowing", "following"),
        ("self-determination", "selfdetermination"),  # in-word hyphens join too, so that ...
        ("self- determination", "selfdetermination"),  # ... a compound split at a line break folds alike
        ("a- b- c", "abc"),  # chained, in one pass
        ("soft\u00adhyphen", "softhyphen"),
        ("\ufb01nds the \ufb02ag", "finds the flag"),  # ligatures (NFKC)
        ("under_score, \u201cquotes\u201d; (brackets) 1.5", "under score quotes brackets 1 5"),
        (" - dashes - ", "dashes"),
        (" -- ", ""),  # no word characters: nothing left
        ("Article 7 - Liberty", "article 7 liberty"),  # a spaced dash is no hyphen
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_answer_must_be_contained_after_folding() -> None:
    question = q(["Every refugee has duties"])
    assert text_is_hit(question, "Article 2. EVERY refugee has\nduties to the country")
    assert not text_is_hit(question, "Every refugee has rights")
    # Any one of several answers is enough.
    assert text_is_hit(q(["nowhere", "has duties"]), "every refugee has duties")


def test_answer_is_a_plain_substring_as_the_readme_says() -> None:
    # Gold spans sometimes end inside a word ("vendor" for "vendors").
    assert text_is_hit(q(["advertising service vendor"]), "our advertising service vendors may")


def test_passage_must_come_from_the_gold_document_or_an_alternative() -> None:
    question = q(["duties"], doc="refugee.pdf", alt_docs=["booklet.pdf"])
    assert is_hit(question, "refugee.pdf", "duties")
    assert is_hit(question, "treaties/refugee.pdf", "duties")  # matched on the file name
    assert is_hit(question, "booklet.pdf", "duties")
    assert is_hit(question, "sub/booklet.pdf", "duties")
    assert not is_hit(question, "other.pdf", "duties")
    assert not is_hit(question, "refugee.pdf.bak", "duties")
    assert doc_matches(q(["x"], doc="treaties/refugee.pdf"), "refugee.pdf")
    assert doc_matches(q(["x"], doc=None), "anything.txt")  # no doc: every document counts


def _evidence() -> str:
    return " ".join(f"w{i:03d}" for i in range(40))  # 40 distinct words, 199 folded characters


def test_evidence_overlap_of_100_characters_is_a_hit_and_99_is_not() -> None:
    evidence = _evidence()
    assert len(fold(evidence)) == 199
    answer = "w010 w011"
    run_100 = evidence[41:141]  # "008 w009 … w027 w": 100 characters, alphanumeric at both ends
    assert len(run_100) == 100 and run_100[0] != " " and run_100[-1] != " " and answer in run_100
    question = q([answer], evidence=[evidence])
    assert text_is_hit(question, f"zz {run_100} qq")
    assert not text_is_hit(question, f"zz {run_100[:99]} qq")  # one character short
    # The answer alone, without the overlap, is not enough where evidence is given.
    assert not text_is_hit(question, f"zz {answer} qq " + "filler " * 30)


def test_short_evidence_must_be_read_whole() -> None:
    question = q(["cookies"], evidence=["We use cookies."])  # 14 folded characters < 100
    assert text_is_hit(question, "Intro text. We use cookies. More text follows here.")
    assert text_is_hit(question, "We use cookies")  # the passage holds the whole evidence
    assert not text_is_hit(question, "Intro text. Here we use cookie files and cookies.")
    assert not text_is_hit(question, "Intro text. They use cookies.")


def test_a_passage_shorter_than_the_threshold_must_lie_inside_the_evidence() -> None:
    evidence = _evidence()
    question = q(["w020"], evidence=[evidence])
    assert text_is_hit(question, "w019 w020 w021")  # 14 characters, all inside the evidence
    assert not text_is_hit(question, "w019 w020 w099")


def test_any_evidence_item_can_match() -> None:
    question = q(["cookies"], evidence=["unrelated sentence here", "we use cookies"])
    assert text_is_hit(question, "we use cookies")


def test_shares_run() -> None:
    assert shares_run("abcdef", "xxcdexx", 3)
    assert not shares_run("abcdef", "xxcdxx", 3)
    assert shares_run("abc", "zzz", 0)
    assert not shares_run("ab", "ab", 3)
