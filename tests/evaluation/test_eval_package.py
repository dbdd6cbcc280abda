"""The package as a whole: evaluation is a tool beside the service, not part of it.

It may use the write side (``ingest``: pipeline, store, settings, errors) and the search layer
(``service.search``: engine, retriever) as libraries; nothing in it imports the main CLI or the
HTTP layer, and only the main CLI (``service/cli.py``), which registers ``clausewise eval``,
imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("ingest", "service", "evaluation")
ALLOWED = ("ingest", "service.search", "evaluation")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_evaluation_uses_only_ingest_and_the_search_layer() -> None:
    modules = sorted((ROOT / "evaluation").rglob("*.py"))
    assert len(modules) > 5
    wrong = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in modules
        for module in _imports(path)
        if _within(module, FIRST_PARTY) and not _within(module, ALLOWED)
    }
    assert not wrong, wrong


def test_only_the_main_cli_imports_evaluation() -> None:
    importers = {
        str(path.relative_to(ROOT))
        for folder in ("ingest", "service")
        for path in (ROOT / folder).rglob("*.py")
        if any(_within(module, ("evaluation",)) for module in _imports(path))
    }
    assert importers == {"service/cli.py"}
