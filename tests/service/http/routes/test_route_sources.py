"""The source at a click: the original file, and every citation's ``url`` opening its passage in
its document — a PDF page with the passage's lines marked, a text with the passage marked —
without anything from a document running as script."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_support import assert_json_4xx, engine_for
from source_view_docs import (
    HOSTILE_QUESTION,
    HOSTILE_WORDS,
    LOW_QUESTION,
    SCANNED_QUESTION,
    SourceCorpus,
    build_source_corpus,
)

from ingest.embedder import Embedder
from ingest.loaders.ocr import unavailable
from service.http import mcp
from service.http.app import create_app

pytestmark = pytest.mark.usefixtures("hermetic")
needs_tesseract = pytest.mark.skipif(
    unavailable("eng") is not None, reason=f"OCR unavailable here: {unavailable('eng')}"
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> SourceCorpus:
    root = tmp_path_factory.mktemp("source-corpus")
    return build_source_corpus(root / "docs", tmp_path_factory.mktemp("source-index"), embedder)


@pytest.fixture(scope="module")
def client(sources: SourceCorpus, embedder: Embedder) -> Iterator[TestClient]:
    settings = sources.built.settings
    with TestClient(create_app(settings, engine_for(settings, embedder)), base_url="http://localhost") as test_client:
        yield test_client


def top(client: TestClient, question: str) -> dict:
    response = client.post("/ask", json={"question": question, "top_k": 3})
    assert response.status_code == 200, response.text
    return response.json()["passages"][0]


def view(client: TestClient, url: str):
    assert url.endswith("#passage")
    return client.get(url.removesuffix("#passage"))


@needs_tesseract
def test_a_scanned_page_is_answered_from_page_2_with_its_page_number(client: TestClient) -> None:
    passage = top(client, SCANNED_QUESTION)
    citation = passage["citation"]
    assert citation["source"] == "wetlands-charter.pdf"
    assert (citation["page_start"], citation["page_end"], citation["ocr"]) == (2, 2, True)
    assert "Marrowdale estuary" in passage["text"]


def test_every_citation_carries_the_url_of_its_view(client: TestClient) -> None:
    passage = top(client, LOW_QUESTION)
    assert passage["citation"]["url"] == f"/passages/{passage['id']}/view#passage"
    assert passage["citation"]["ocr"] is False
    reply = client.post(
        "/v1/chat/completions", json={"model": "clausewise", "messages": [{"role": "user", "content": LOW_QUESTION}]}
    )
    assert reply.status_code == 200, reply.text
    citations = reply.json()["citations"]
    assert citations and all(c["citation"]["url"] == f"/passages/{c['id']}/view#passage" for c in citations)
    found = mcp.search(client.app.state.engine.snapshot, LOW_QUESTION)  # type: ignore[attr-defined]
    assert all(p.citation.url == f"/passages/{p.id}/view#passage" for p in found.passages)


def test_the_original_file_is_served_whole_and_by_ranges(client: TestClient, sources: SourceCorpus) -> None:
    doc_id = top(client, LOW_QUESTION)["citation"]["doc_id"]
    whole = client.get(f"/documents/{doc_id}/file")
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "application/pdf"
    assert (
        whole.headers["content-disposition"].startswith("inline")
        and "coast-rules.pdf" in whole.headers["content-disposition"]
    )
    assert whole.content == sources.original_pdf.read_bytes()
    part = client.get(f"/documents/{doc_id}/file", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    beyond = client.get(f"/documents/{doc_id}/file", headers={"Range": f"bytes={len(whole.content) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(whole.content)}"
    documented = client.get("/openapi.json").json()["paths"]["/documents/{doc_id}/file"]["get"]["responses"]
    assert "416" in documented
    assert_json_4xx(client.get("/documents/no-such-doc/file"), 404)


def test_an_original_html_file_is_an_attachment_that_cannot_run(client: TestClient) -> None:
    doc_id = next(d["doc_id"] for d in client.get("/documents").json() if d["source"] == "tides.html")
    response = client.get(f"/documents/{doc_id}/file")
    assert response.status_code == 200 and response.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in response.headers["content-security-policy"]


def test_a_pdf_citation_opens_its_page_with_the_passage_marked(client: TestClient) -> None:
    passage = top(client, LOW_QUESTION)
    assert passage["citation"]["page_start"] == 3
    page = view(client, passage["citation"]["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # none allowed: default-src 'none'
    body = page.text
    assert f"/documents/{passage['citation']['doc_id']}/pages/3.png" in body
    marks = re.findall(r'<rect class="v-mark"( id="passage")? x="([\d.]+)" y="([\d.]+)"', body)
    assert marks and marks[0][0]  # the first mark is the scroll target
    assert float(marks[0][2]) > 400  # low on the page, where the article is (A4 is 842 points high)
    image = client.get(f"/documents/{passage['citation']['doc_id']}/pages/3.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert_json_4xx(client.get(f"/documents/{passage['citation']['doc_id']}/pages/9.png"), 404)


@needs_tesseract
def test_a_scanned_citation_is_marked_on_the_page_image_from_ocr_words(client: TestClient) -> None:
    passage = top(client, SCANNED_QUESTION)
    body = view(client, passage["citation"]["url"]).text
    assert "read by OCR" in body
    assert 'id="passage"' in body and "/pages/2.png" in body


def test_a_markdown_citation_shows_the_text_with_the_passage_marked_and_script_inert(client: TestClient) -> None:
    passage = top(client, HOSTILE_QUESTION)
    assert passage["citation"]["source"] == "ferries.md"
    body = view(client, passage["citation"]["url"]).text
    marked = re.search(r'<mark id="passage">(.*?)</mark>', body, re.S)
    assert marked and HOSTILE_WORDS in marked.group(1)
    assert "&lt;script&gt;" in body and "&lt;img src=x onerror=" in body
    assert "<script" not in body.lower() and "<img" not in body.lower()
    assert "Fares are set once a year" in body  # the whole document, not only the passage


def test_a_changed_original_is_refused_until_reindexed(
    client: TestClient, sources: SourceCorpus, tmp_path: Path
) -> None:
    doc_id = top(client, HOSTILE_QUESTION)["citation"]["doc_id"]
    path = sources.built.folder / "ferries.md"
    keep = tmp_path / "ferries.md"
    shutil.copy2(path, keep)
    try:
        path.write_text(path.read_text() + "\nA late addition.\n")
        body = assert_json_4xx(client.get(f"/documents/{doc_id}/file"), 409)
        assert "changed since it was indexed" in body["message"]
    finally:
        shutil.copy2(keep, path)
    assert client.get(f"/documents/{doc_id}/file").status_code == 200


def test_an_unknown_passage_has_no_view(client: TestClient) -> None:
    assert_json_4xx(client.get("/passages/nope:0001/view"), 404)
