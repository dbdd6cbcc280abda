"""Document ids: readable slugs of the source path, the same for ASCII names as they always
were (existing indexes keep their ids), distinct and stable for names in other scripts."""

from __future__ import annotations

import pytest

from ingest.changes import doc_ids, make_doc_id


@pytest.mark.parametrize(
    ("source", "doc_id"),
    [
        ("treaties/Refugee Conv.pdf", "treaties--refugee-conv.pdf"),
        ("a b.txt", "a-b.txt"),
        ("policies/IOM_policy (2024).md", "policies--iom_policy-2024-.md"),
        ("---.txt", ".txt"),
    ],
)
def test_ascii_names_keep_the_ids_they_always_had(source: str, doc_id: str) -> None:
    assert make_doc_id(source) == doc_id


def test_non_ascii_names_are_transliterated_or_hashed() -> None:
    assert make_doc_id("\u00e9.txt") == "e.txt" and make_doc_id("\u00fc.txt") == "u.txt"
    assert make_doc_id("politiques/\u00c9t\u00e9 r\u00e9sum\u00e9.md") == "politiques--ete-resume.md"
    chinese, japanese = make_doc_id("\u4e2d\u6587.txt"), make_doc_id("\u65e5\u672c.txt")
    assert chinese != japanese and chinese.endswith(".txt") and len(chinese) == len("xxxxxx.txt")
    assert make_doc_id("\u4e2d\u6587.txt") == chinese  # stable: a hash of the name, not of the run


def test_ids_are_distinct_and_do_not_depend_on_order() -> None:
    sources = ["\u00e9.txt", "\u00fc.txt", "e.txt", "a b.txt", "a-b.txt", "\u4e2d.txt", "\u6587.txt"]
    ids = doc_ids(sources, {})
    assert len(set(ids.values())) == len(sources)
    assert doc_ids(list(reversed(sources)), {}) == ids
    # An indexed source keeps its id, whatever its slug.
    assert doc_ids(sources, {"e.txt": "legacy-id"})["e.txt"] == "legacy-id"
