"""The corpus folder against the served index: whether the index was built from it (so that an
incremental rebuild from it withdraws nothing by mistake), and withdrawing a document's file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import Conflict, NotFound
from ingest.store.writer import fsync_dir
from service.uploads.names import target_path

if TYPE_CHECKING:
    from service.search.backend import SearchIndex


def check_built_from(index: SearchIndex, corpus: Path) -> None:
    """An incremental rebuild from the corpus folder drops every indexed document that is not
    in it: refuse (409) when the served index was built from somewhere else."""
    roots = [str(Path(r)) for r in index.manifest.roots]
    if roots != [str(corpus)]:
        raise Conflict(
            f"the served index was built from {', '.join(roots) or 'an unknown folder'}, not from the corpus folder "
            f"{corpus}; an incremental rebuild from {corpus} would withdraw every document that is not in it. "
            "Serve with `clausewise serve --corpus <the folder the index was built from>`, or replace the index "
            'with one built from the corpus folder: POST /index/rebuild {"full": true}',
        )


def find_unindexed(corpus: Path, doc_id: str, indexed: dict[str, str]) -> str | None:
    """The source of a file in the corpus folder that is not indexed (one that failed to load),
    by the id the ingestion gives it (``indexed``: source → doc_id of the indexed documents)."""
    from ingest.changes import doc_ids
    from ingest.discover import discover

    if not corpus.is_dir():
        return None
    ids = doc_ids([found.source for found in discover([corpus]).files], indexed)
    return next((source for source, id_ in ids.items() if id_ == doc_id and source not in indexed), None)


def source_to_withdraw(index: SearchIndex, corpus: Path, doc_id: str) -> str:
    """The corpus file of ``doc_id``: an indexed document (not the last one: an index is never
    empty, 409), or a file that failed to load (404 when there is neither)."""
    document = index.documents.get(doc_id)
    if document is not None:
        if len(index.documents) == 1:
            raise Conflict(
                f"{doc_id} is the only document in the index; an index cannot be empty. Upload its replacement first.",
            )
        return document.source
    indexed = {d.source: d.doc_id for d in index.documents.values()}
    source = find_unindexed(corpus, doc_id, indexed)
    if source is None:
        raise NotFound(f"no document with id {doc_id!r} in the index or the corpus folder; GET /documents lists them")
    return source


def withdraw(index: SearchIndex, corpus: Path, doc_id: str) -> tuple[str, bool]:
    """Remove the file of ``doc_id`` from the corpus folder: ``(source, removed)`` (``removed``
    is false when it was already gone). Blocking: call it in a thread."""
    source = source_to_withdraw(index, corpus, doc_id)
    path = target_path(corpus, source)
    try:
        path.unlink()
    except FileNotFoundError:
        return source, False
    fsync_dir(path.parent)
    return source, True
