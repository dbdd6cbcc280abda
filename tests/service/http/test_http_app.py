"""The app factory: OpenAPI and /docs, JSON errors for unknown routes, behaviour before the
index is loaded, and clear start-up errors for a missing or incompatible index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hermetic import clean_settings
from service_support import BuiltIndex, assert_json_4xx, engine_for

from ingest.errors import IndexIncompatibleError, IndexMissingError
from ingest.settings import get_settings
from service.http.app import create_app

pytestmark = pytest.mark.usefixtures("hermetic")


def test_openapi_describes_the_contract(client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    assert "post" in paths["/ask"]
    for path in ("/documents", "/documents/{doc_id}", "/passages/{passage_id}", "/healthz", "/readyz"):
        assert "get" in paths[path], path
    schemas = spec["components"]["schemas"]
    ask = schemas["AskRequest"]
    assert ask["required"] == ["question"]
    assert set(ask["properties"]) == {"question", "top_k", "mode", "filters"}
    top_k = ask["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"], top_k["default"]) == (1, 50, 5)
    assert set(ask["properties"]["mode"]["enum"]) == {"hybrid", "dense", "lexical"}
    assert ask["properties"]["mode"]["default"] == "hybrid"
    filters = schemas["AskFilters"]
    assert set(filters["properties"]) == {"source", "doc_id", "section"}
    assert filters.get("additionalProperties") is False
    assert set(schemas["AskResponse"]["properties"]) == {
        "question",
        "passages",
        "confidence",
        "answered",
        "index_version",
        "took_ms",
    }
    assert set(schemas["PassageOut"]["properties"]) == {"id", "rank", "score", "text", "highlight", "citation"}


def test_docs_page_is_served(client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower() and "/openapi.json" in response.text


@pytest.mark.parametrize("path", ["/nope", "/ask/extra", "/passages", "/passages/a/b", "/documents/a/b"])
def test_unknown_routes_get_json_404(client, path) -> None:
    assert_json_4xx(client.get(path), 404)


def test_create_app_without_arguments_reads_the_environment(built: BuiltIndex, embedder, monkeypatch) -> None:
    """What `clausewise serve` runs in each worker: create_app() configured by CLAUSEWISE_*."""
    monkeypatch.setenv("CLAUSEWISE_INDEX_DIR", str(built.index_dir))
    get_settings.cache_clear()
    app = create_app()
    assert app.state.engine.index_dir == built.index_dir
    app.state.engine._embedders[embedder.name] = embedder
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/readyz").json()["index_version"] == built.version


# -- before the index is loaded ---------------------------------------------------------------
@pytest.fixture
def loading_client(built: BuiltIndex, embedder):
    """An app whose lifespan has not run: the engine holds no index yet."""
    return TestClient(create_app(built.settings, engine_for(built.settings, embedder)), base_url="http://localhost")


def test_not_ready_before_the_index_loads(loading_client) -> None:
    assert loading_client.get("/healthz").status_code == 200
    response = loading_client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "loading"
    documented = loading_client.get("/openapi.json").json()["paths"]["/readyz"]["get"]["responses"]
    loading = documented["503"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = loading_client.get("/openapi.json").json()["components"]["schemas"][loading]
    assert set(response.json()) == set(schema["properties"])  # the body is the one documented
    for method, path, body in [
        ("POST", "/ask", {"question": "When does the ferry depart?"}),
        ("GET", "/documents", None),
        ("GET", "/documents/anything", None),
        ("GET", "/passages/anything", None),
    ]:
        response = loading_client.request(method, path, json=body)
        assert response.status_code == 503, path
        assert response.json()["message"], path


# -- start-up errors ------------------------------------------------------------------------------
def _start(settings, embedder) -> None:
    with TestClient(create_app(settings, engine_for(settings, embedder)), base_url="http://localhost"):
        pass


def test_missing_index_fails_start_up_naming_the_fix(tmp_path: Path, embedder) -> None:
    empty = tmp_path / "empty"
    with pytest.raises(IndexMissingError) as error:
        _start(clean_settings(index_dir=empty), embedder)
    assert f"clausewise ingest PATH --index {empty}" in str(error.value)


def copy_index(built: BuiltIndex, to: Path) -> Path:
    shutil.copytree(built.index_dir, to, symlinks=True, ignore=shutil.ignore_patterns(".lock"))
    return to


def test_index_of_another_format_fails_start_up_naming_the_fix(built: BuiltIndex, tmp_path: Path, embedder) -> None:
    index = copy_index(built, tmp_path / "index")
    manifest = index / "current" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 99}))
    with pytest.raises(IndexIncompatibleError) as error:
        _start(clean_settings(index_dir=index), embedder)
    assert "clausewise ingest" in str(error.value) and "--rebuild" in str(error.value)


def test_index_of_another_model_fails_start_up_naming_the_fix(built: BuiltIndex, embedder) -> None:
    settings = clean_settings(index_dir=built.index_dir, model="sentence-transformers/paraphrase-MiniLM-L3-v2")
    with pytest.raises(IndexIncompatibleError) as error:
        _start(settings, embedder)
    message = str(error.value)
    assert "all-MiniLM-L6-v2" in message and "paraphrase-MiniLM-L3-v2" in message
    assert "clausewise ingest" in message and "--rebuild" in message


def test_an_oversized_body_is_refused_before_it_is_read(client) -> None:
    body = b'{"question": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]

    def chunked():  # no Content-Length: counted as it arrives
        for _ in range(200):
            yield b"x" * 8192

    response = client.post("/ask", content=chunked(), headers={"content-type": "application/json"})
    assert response.status_code == 413
