"""Browse what is indexed: documents and single passages with their neighbours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ingest.errors import NotFound
from ingest.types import Document
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.schemas import DocumentOut, ErrorOut, PassageDetail
from service.search.serialise import passage_detail

router = APIRouter(tags=["documents"], dependencies=[ReadKey])


def document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        doc_id=document.doc_id,
        title=document.title,
        source=document.source,
        kind=document.kind,
        pages=document.pages,
        passage_count=document.passage_count,
    )


@router.get("/documents", response_model=list[DocumentOut])
def list_documents(snapshot: SnapshotDep) -> list[DocumentOut]:
    return [document_out(d) for d in snapshot.index.documents.values()]


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses={404: {"model": ErrorOut}})
def get_document(doc_id: str, snapshot: SnapshotDep) -> DocumentOut:
    document = snapshot.index.documents.get(doc_id)
    if document is None:
        raise NotFound(f"no document with id {doc_id!r}; GET /documents lists them")
    return document_out(document)


@router.get("/passages/{passage_id}", response_model=PassageDetail, responses={404: {"model": ErrorOut}})
def get_passage(
    passage_id: str,
    snapshot: SnapshotDep,
    context: Annotated[int, Query(ge=0, le=10, description="Neighbouring passages on each side.")] = 1,
) -> PassageDetail:
    return passage_detail(snapshot.index, passage_id, context)
