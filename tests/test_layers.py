"""The layers the folders promise: ``ingest`` (the write side and the shared core) imports
neither the read side nor the evaluation tool, so it can be used, tested and shipped alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_packages(path: Path) -> set[str]:
    """Top-level package names a module imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "ingest").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_ingest_never_imports_the_read_side(path: Path) -> None:
    assert not imported_packages(path) & {"service", "evaluation"}


def test_the_check_sees_an_import_of_the_read_side(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from service.search import retriever\n")
    assert "service" in imported_packages(module)
