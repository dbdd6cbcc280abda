"""Browse what is indexed: documents and single passages with their neighbours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ingest.errors import NotFound
from ingest.types import Document
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.schemas import DocumentOut, PassageDetail, error_responses
from service.search.serialise import passage_detail

router = APIRouter(tags=["documents"], dependencies=[ReadKey], responses=error_responses(421))


def document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        doc_id=document.doc_id,
        title=document.title,
        source=document.source,
        kind=document.kind,
        pages=document.pages,
        passage_count=document.passage_count,
    )


@router.get("/documents", response_model=list[DocumentOut], responses=error_responses(401, 403, 503))
def list_documents(snapshot: SnapshotDep) -> list[DocumentOut]:
    return [document_out(d) for d in snapshot.index.documents.values()]


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses=error_responses(401, 403, 404, 503))
def get_document(doc_id: str, snapshot: SnapshotDep) -> DocumentOut:
    document = snapshot.index.documents.get(doc_id)
    if document is None:
        raise NotFound(f"no document with id {doc_id!r}; GET /documents lists them")
    return document_out(document)


@router.get("/passages/{passage_id}", response_model=PassageDetail, responses=error_responses(401, 403, 404, 422, 503))
def get_passage(
    passage_id: str,
    snapshot: SnapshotDep,
    context: Annotated[int, Query(ge=0, le=10, description="Neighbouring passages on each side.")] = 1,
) -> PassageDetail:
    return passage_detail(snapshot.index, passage_id, context)
