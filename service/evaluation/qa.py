"""Question sets: one JSON object a line, ``{"id", "question", "doc"?, "answers", "evidence"?, "alt_docs"?}``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: list[str]
    doc: str | None = None
    evidence: list[str] = field(default_factory=list)
    alt_docs: list[str] = field(default_factory=list)
    type: str | None = None


@dataclass
class QuestionSet:
    questions: list[Question]
    invalid: list[tuple[int, str]]  # (line number, why)


class EmptyQuestionSet(Exception):
    pass


def _strings(value, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name!r} must be a string or a list of strings")
    return value


def load_questions(path: Path) -> QuestionSet:
    """Read ``path``; bad lines are reported by number and skipped."""
    questions: list[Question] = []
    invalid: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not a JSON object")
            question = item.get("question")
            if not isinstance(question, str) or not question.strip():
                raise ValueError("missing 'question'")
            answers = [a for a in _strings(item.get("answers"), "answers") if a.strip()]
            if not answers:
                raise ValueError("missing 'answers'")
            doc = item.get("doc")
            if doc is not None and not isinstance(doc, str):
                raise ValueError("'doc' must be a string")
            questions.append(
                Question(
                    id=str(item.get("id", f"line{number}")),
                    question=question.strip(),
                    answers=answers,
                    doc=doc,
                    evidence=_strings(item.get("evidence"), "evidence"),
                    alt_docs=_strings(item.get("alt_docs"), "alt_docs"),
                    type=item.get("type") if isinstance(item.get("type"), str) else None,
                )
            )
        except (json.JSONDecodeError, ValueError) as exc:
            invalid.append((number, str(exc)))
    if not questions:
        raise EmptyQuestionSet(f"{path}: no valid question" + (f" ({len(invalid)} invalid lines)" if invalid else ""))
    return QuestionSet(questions, invalid)
