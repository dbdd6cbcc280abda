"""The service over the PostgreSQL backend, against a real PostgreSQL with pgvector (pgserver):
the generated service corpus ingested into the database and served by the real app with
``CLAUSEWISE_BACKEND=postgres``, answering with the embedded index's contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from postgres_server import fresh_database
from service_docs import CHARTER_SOURCE, PROTOCOL_SOURCE, Corpus
from service_support import KESTRELMOOR, BuiltIndex, assert_json_4xx, build_index, engine_for

from ingest.embedder import Embedder
from service.http import mcp
from service.http.app import create_app

OFF_TOPIC = "What is the best way to bake sourdough bread at home?"
pytestmark = pytest.mark.usefixtures("hermetic")


@pytest.fixture(scope="module")
def pg_built(corpus: Corpus, embedder: Embedder, postgres_server: str, tmp_path_factory) -> BuiltIndex:
    dsn = fresh_database(postgres_server, "service")
    cache = tmp_path_factory.mktemp("pg-cache")
    return build_index(corpus.root, cache, embedder, backend="postgres", postgres_dsn=dsn, reload_interval_s=0)


@pytest.fixture(scope="module")
def pg_client(pg_built: BuiltIndex, embedder: Embedder) -> Iterator[TestClient]:
    app = create_app(pg_built.settings, engine_for(pg_built.settings, embedder))
    with TestClient(app, base_url="http://localhost") as client:
        yield client


def ask(client: TestClient, question: str, **fields) -> dict:
    response = client.post("/ask", json={"question": question, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_readyz_reports_the_database_version_and_counts(pg_client: TestClient, pg_built: BuiltIndex, built) -> None:
    ready = pg_client.get("/readyz").json()
    assert ready["index_version"] == pg_built.version
    assert (ready["documents"], ready["passages"]) == (built.documents, built.passages)


def test_ask_answers_with_citations_highlights_and_confidence(pg_client: TestClient) -> None:
    answer = ask(pg_client, KESTRELMOOR)
    top = answer["passages"][0]
    assert top["citation"]["source"] == CHARTER_SOURCE and top["citation"]["page_start"] is not None
    assert "Kestrelmoor" in top["highlight"]["text"]
    assert top["text"][top["highlight"]["start"] : top["highlight"]["end"]] == top["highlight"]["text"]
    assert answer["answered"] is True
    off = ask(pg_client, OFF_TOPIC)
    assert off["answered"] is False and off["confidence"] < answer["confidence"]


def test_dense_ranking_matches_the_embedded_index(pg_client: TestClient, client: TestClient) -> None:
    """Same passages, same ids: the ids derive from documents and file hashes, not the backend."""
    for question in (KESTRELMOOR, "How are separated children reunited with their parents?"):
        pg = [p["id"] for p in ask(pg_client, question, mode="dense", top_k=5)["passages"]]
        embedded = [p["id"] for p in ask(client, question, mode="dense", top_k=5)["passages"]]
        assert pg == embedded


def test_the_document_a_question_names_is_found_over_the_database(pg_client: TestClient, client: TestClient) -> None:
    """Two documents have an Article 2; the one the question names is cited, as the embedded
    index does, and its passages get the named-document boost."""
    question = "What does Article 2 of the Protocol on Transboundary Water Sharing require?"
    retriever = pg_client.app.state.engine.snapshot.retriever
    named = retriever._names.named(question)
    assert named is not None and retriever.index.documents[retriever._names.doc_ids[named]].source == PROTOCOL_SOURCE
    for answer in (ask(pg_client, question, top_k=3), ask(client, question, top_k=3)):
        top = answer["passages"][0]["citation"]
        assert (top["source"], top["section"]) == (PROTOCOL_SOURCE, "Article 2 — Notification")


def test_filters_apply_before_ranking(pg_client: TestClient) -> None:
    for mode in ("hybrid", "dense", "lexical"):
        found = ask(pg_client, KESTRELMOOR, mode=mode, filters={"source": "sub/*"})["passages"]
        assert found and all(p["citation"]["source"].startswith("sub/") for p in found)
    sections = ask(pg_client, "return", filters={"section": "article 7"})["passages"]
    assert sections and all("article 7" in p["citation"]["section"].lower() for p in sections)
    assert ask(pg_client, KESTRELMOOR, filters={"doc_id": ["no-such-doc"]})["passages"] == []


def test_bad_requests_get_a_4xx(pg_client: TestClient) -> None:
    assert_json_4xx(pg_client.post("/ask", json={"question": KESTRELMOOR, "filters": {"colour": "red"}}), 422)
    assert_json_4xx(pg_client.post("/ask", json={"question": KESTRELMOOR, "mode": "fuzzy"}), 422)
    assert_json_4xx(pg_client.get("/passages/nope:0000"), 404)


def test_passages_documents_chat_and_mcp(pg_client: TestClient) -> None:
    top = ask(pg_client, KESTRELMOOR)["passages"][0]
    detail = pg_client.get(f"/passages/{top['id']}", params={"context": 1}).json()
    assert detail["id"] == top["id"] and (detail["previous"] or detail["next"])
    documents = pg_client.get("/documents").json()
    assert any(d["source"] == CHARTER_SOURCE for d in documents)
    body = {"model": "clausewise", "messages": [{"role": "user", "content": KESTRELMOOR}]}
    reply = pg_client.post("/v1/chat/completions", json=body).json()
    assert reply["clausewise"]["answered"] is True and "Kestrelmoor" in reply["choices"][0]["message"]["content"]
    snapshot = pg_client.app.state.engine.snapshot  # type: ignore[attr-defined]
    assert mcp.search(snapshot, KESTRELMOOR).answered


def test_a_new_ingest_is_picked_up_and_a_model_mismatch_refused(
    pg_client: TestClient, pg_built: BuiltIndex, corpus: Corpus, embedder: Embedder, tmp_path: Path
) -> None:
    from ingest.errors import IndexIncompatibleError
    from ingest.pipeline import ingest
    from service.search.engine import Engine

    added = corpus.root / "zz-lighthouse.md"
    added.write_text("# Lighthouse\n\nThe lighthouse keeper of Skarn Point lights the lamp at dusk.\n")
    try:
        report = ingest([corpus.root], pg_built.settings, embedder=embedder)
        assert report.added == ["zz-lighthouse.md"]
        engine = pg_client.app.state.engine  # type: ignore[attr-defined]
        snapshot, switched = engine.reload()
        assert switched and snapshot.version == report.index_version
        found = ask(pg_client, "Who lights the lamp at Skarn Point?")["passages"][0]
        assert found["citation"]["source"] == "zz-lighthouse.md"
    finally:
        added.unlink()
    other = pg_built.settings.model_copy(update={"model": "sentence-transformers/paraphrase-MiniLM-L3-v2"})
    with pytest.raises(IndexIncompatibleError, match="built with model"):
        Engine(other, pg_built.index_dir, embedder=embedder).load()


def test_clausewise_serve_starts_over_the_database(pg_built: BuiltIndex, tmp_path: Path) -> None:
    """The command itself, not only the app: its start-up check reads the database, not INDEX."""
    import socket
    import subprocess
    import time

    import httpx
    from hermetic import clausewise_command, clean_env

    from ingest.store.postgres.schema import connect
    from ingest.store.postgres.state import published_version

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert pg_built.settings.postgres_dsn
    env = clean_env(CLAUSEWISE_BACKEND="postgres", CLAUSEWISE_POSTGRES_DSN=pg_built.settings.postgres_dsn)
    command = [*clausewise_command(), "serve", "--index", str(pg_built.index_dir), "--port", str(port)]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 120, None
        while ready is None and time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ready is not None, log.read_text()[-3000:]
        conn = connect(pg_built.settings.postgres_dsn)
        assert ready["index_version"] == published_version(conn)
        conn.close()
        answer = httpx.post(f"http://127.0.0.1:{port}/ask", json={"question": KESTRELMOOR}, timeout=60).json()
        assert answer["passages"][0]["citation"]["source"] == CHARTER_SOURCE
    finally:
        process.terminate()
        process.wait(timeout=30)
