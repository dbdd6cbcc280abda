"""Loading question sets: bad lines are reported by number and skipped; an unusable file is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_corpus import QUESTIONS

from evaluation.qa import load_questions
from ingest.errors import EmptyQuestionSet, EvaluationError, ExitCode, QuestionSetError


def test_valid_lines_load_and_invalid_ones_are_reported_by_line_number(qa_file: Path) -> None:
    loaded = load_questions(qa_file)
    assert [q.id for q in loaded.questions] == ["q1", "q2", "q3", "q4", "q5"]
    assert [line for line, _ in loaded.invalid] == [3, 6]  # the blank line 8 is not an error
    assert "not JSON" in loaded.invalid[0][1]
    assert "answers" in loaded.invalid[1][1]
    q1 = loaded.questions[0]
    assert (q1.question, q1.doc, q1.answers, q1.evidence, q1.line) == (
        QUESTIONS[0]["question"],
        "alpha.txt",
        ["beside the eastern pier"],
        [],
        1,
    )


def _write(tmp_path: Path, *items) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(i if isinstance(i, str) else json.dumps(i) for i in items) + "\n", encoding="utf-8")
    return path


def test_fields_and_their_errors(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "id": 7,
            "question": " Q? ",
            "answers": "one answer",
            "evidence": ["ev"],
            "alt_docs": "b.pdf",
            "type": "far_vocab",
        },
        {"id": "a", "question": "", "answers": ["x"]},
        {"id": "b", "question": "Q?", "answers": []},
        {"id": "c", "question": "Q?", "answers": ["--"]},
        {"id": "d", "question": "Q?", "answers": ["x"], "doc": 3},
        {"id": "e", "question": "Q?", "answers": [1]},
        {"id": 7, "question": "Q again?", "answers": ["x"]},
        '["a", "list"]',
        {"question": "No id?", "answers": ["x"]},
    )
    loaded = load_questions(path)
    first, no_id = loaded.questions
    assert (first.id, first.question, first.answers, first.doc, first.evidence, first.alt_docs, first.type) == (
        "7",
        "Q?",
        ["one answer"],
        None,
        ["ev"],
        ["b.pdf"],
        "far_vocab",
    )
    assert no_id.id == "line9"
    assert [line for line, _ in loaded.invalid] == [2, 3, 4, 5, 6, 7, 8]
    reasons = dict(loaded.invalid)
    assert "question" in reasons[2] and "answers" in reasons[3] and "letter or digit" in reasons[4]
    assert "doc" in reasons[5] and "answers" in reasons[6] and "line 1" in reasons[7] and "object" in reasons[8]


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(EmptyQuestionSet, match="the file is empty"):
        load_questions(path)


def test_a_file_of_only_invalid_lines_is_an_error_naming_the_first(tmp_path: Path) -> None:
    with pytest.raises(EmptyQuestionSet, match=r"2 invalid line\(s\), first: line 1"):
        load_questions(_write(tmp_path, "{oops", {"question": "no answers"}))


def test_question_set_errors_are_evaluation_errors_of_exit_code_2() -> None:
    assert issubclass(EmptyQuestionSet, QuestionSetError) and issubclass(QuestionSetError, EvaluationError)
    assert EmptyQuestionSet("x").exit_code == ExitCode.USAGE == 2


def test_missing_folder_and_binary_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(QuestionSetError, match="no such file"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(QuestionSetError, match="folder"):
        load_questions(tmp_path)
    binary = tmp_path / "set.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(QuestionSetError, match="not UTF-8"):
        load_questions(binary)


@pytest.mark.shared
def test_the_shared_sets_load_without_invalid_lines() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "qa"
    if not shared.is_dir():
        pytest.skip("../shared/qa not found")
    treaties = load_questions(shared / "treaties-dev.jsonl")
    policies = load_questions(shared / "policies-dev.jsonl")
    assert (len(treaties.questions), treaties.invalid) == (45, [])
    assert (len(policies.questions), policies.invalid) == (400, [])
    assert all(q.evidence for q in policies.questions)
