"""Browse what is indexed: documents and single passages with their neighbours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from ingest.types import Citation, Document
from service.http.auth import ReadKey
from service.http.deps import SnapshotDep
from service.http.schemas import DocumentOut, ErrorOut, PassageContext, PassageDetail

router = APIRouter(tags=["documents"], dependencies=[ReadKey])


def document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        doc_id=document.doc_id, title=document.title, source=document.source, kind=document.kind,
        pages=document.pages, passage_count=document.passage_count,
    )


@router.get("/documents", response_model=list[DocumentOut])
def list_documents(snapshot: SnapshotDep) -> list[DocumentOut]:
    return [document_out(d) for d in snapshot.index.documents.values()]


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses={404: {"model": ErrorOut}})
def get_document(doc_id: str, snapshot: SnapshotDep) -> DocumentOut:
    document = snapshot.index.documents.get(doc_id)
    if document is None:
        raise HTTPException(404, f"no document with id {doc_id!r}; GET /documents lists them")
    return document_out(document)


@router.get("/passages/{passage_id}", response_model=PassageDetail, responses={404: {"model": ErrorOut}})
def get_passage(
    passage_id: str,
    snapshot: SnapshotDep,
    context: Annotated[int, Query(ge=0, le=10, description="Neighbouring passages on each side.")] = 1,
) -> PassageDetail:
    found = snapshot.index.with_neighbours(passage_id, context)
    if found is None:
        raise HTTPException(404, f"no passage with id {passage_id!r}")
    passage, before, after = found
    document = snapshot.index.documents[passage.doc_id]

    def ctx(p) -> PassageContext:
        return PassageContext(id=p.id, text=p.text, citation=Citation.of(p, document))

    return PassageDetail(
        id=passage.id, text=passage.text, citation=Citation.of(passage, document),
        previous=[ctx(p) for p in before], next=[ctx(p) for p in after],
    )
