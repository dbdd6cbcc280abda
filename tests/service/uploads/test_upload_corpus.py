"""The corpus folder against the served index: built from it, and withdrawing a file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ingest.errors import NotFound, RequestRejected
from service.uploads.corpus import check_built_from, withdraw


def index(roots: list[str], *sources: str) -> SimpleNamespace:
    documents = {s.replace("/", "--"): SimpleNamespace(source=s, doc_id=s.replace("/", "--")) for s in sources}
    return SimpleNamespace(manifest=SimpleNamespace(roots=tuple(roots)), documents=documents)


def test_an_index_built_elsewhere_is_refused(tmp_path: Path) -> None:
    check_built_from(index([str(tmp_path)]), tmp_path)
    for roots in ([], [str(tmp_path / "other")], [str(tmp_path), str(tmp_path / "other")]):
        with pytest.raises(RequestRejected) as caught:
            check_built_from(index(roots), tmp_path)
        assert caught.value.status == 409 and "would withdraw every document" in caught.value.message


def test_withdraw_removes_an_indexed_or_a_failed_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    for name in ("a.txt", "sub/b.txt", "broken.pdf"):
        (corpus / name).write_text("x")
    served = index([str(corpus)], "a.txt", "sub/b.txt")
    assert withdraw(served, corpus, "sub--b.txt") == ("sub/b.txt", True)
    assert not (corpus / "sub" / "b.txt").exists()
    assert withdraw(served, corpus, "sub--b.txt") == ("sub/b.txt", False)  # already gone
    assert withdraw(served, corpus, "broken.pdf") == ("broken.pdf", True)  # not indexed: found by its id
    with pytest.raises(NotFound, match="no document with id 'nope'") as caught:
        withdraw(served, corpus, "nope")
    assert caught.value.status == 404


def test_the_last_document_cannot_be_withdrawn(tmp_path: Path) -> None:
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(RequestRejected, match="only document") as caught:
        withdraw(index([str(tmp_path)], "only.txt"), tmp_path, "only.txt")
    assert caught.value.status == 409 and (tmp_path / "only.txt").exists()
