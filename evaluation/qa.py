"""Question sets: one JSON object a line, ``{"id", "question", "doc"?, "answers", "evidence"?, "alt_docs"?}``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.hits import fold
from ingest.errors import EmptyQuestionSet, QuestionSetError


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: list[str]
    doc: str | None = None
    evidence: list[str] = field(default_factory=list)
    alt_docs: list[str] = field(default_factory=list)
    type: str | None = None
    line: int = 0


@dataclass
class QuestionSet:
    questions: list[Question]
    invalid: list[tuple[int, str]]  # (line number, why)


def _strings(value, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name!r} must be a string or a list of strings")
    return [v for v in value if v.strip()]


def parse_question(item: object, number: int) -> Question:
    """One decoded line; ``ValueError`` says what is wrong with it."""
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("missing 'question'")
    answers = _strings(item.get("answers"), "answers")
    if not answers:
        raise ValueError("missing 'answers'")
    if not any(fold(a) for a in answers):
        raise ValueError("no answer has a letter or digit in it")
    doc = item.get("doc")
    if doc is not None and (not isinstance(doc, str) or not doc.strip()):
        raise ValueError("'doc' must be a non-empty string")
    qid = item.get("id", f"line{number}")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or not str(qid).strip():
        raise ValueError("'id' must be a string or a number")
    kind = item.get("type")
    return Question(
        id=str(qid),
        question=question.strip(),
        answers=answers,
        doc=doc.strip() if doc else None,
        evidence=_strings(item.get("evidence"), "evidence"),
        alt_docs=_strings(item.get("alt_docs"), "alt_docs"),
        type=kind if isinstance(kind, str) and kind else None,
        line=number,
    )


def load_questions(path: Path) -> QuestionSet:
    """Read ``path``; bad lines are reported by number and skipped. A file that cannot be
    read is a :class:`QuestionSetError`, one without a valid line an :class:`EmptyQuestionSet`."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionSetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise QuestionSetError(f"{path}: is a folder, not a JSONL file") from None
    except UnicodeDecodeError as exc:
        raise QuestionSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    questions: list[Question] = []
    invalid: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            invalid.append((number, f"not JSON: {exc.msg} (column {exc.colno})"))
            continue
        try:
            question = parse_question(item, number)
        except ValueError as exc:
            invalid.append((number, str(exc)))
            continue
        if question.id in seen:
            invalid.append((number, f"id {question.id!r} already used on line {seen[question.id]}"))
            continue
        seen[question.id] = number
        questions.append(question)
    if not questions:
        why = (
            f"{len(invalid)} invalid line(s), first: line {invalid[0][0]}: {invalid[0][1]}"
            if invalid
            else "the file is empty"
        )
        raise EmptyQuestionSet(f"{path}: no valid question ({why})")
    return QuestionSet(questions, invalid)
