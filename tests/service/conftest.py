"""Fixtures for the service tests.

One small corpus (``service_docs.py``) is generated and indexed once per session with the
session ``embedder`` (``tests/conftest.py``) and served by the real app, ``create_app(settings,
engine)``, through one ``TestClient``. The seed corpus (``corpus/`` at the repository root) gets
its own index and client, built on first use. Nothing here is autouse: the test modules opt in
to ``hermetic`` (``pytestmark``), so ``tests/service/evaluation/`` is left alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_docs import Corpus, write_corpus
from service_support import BuiltIndex, build_index, engine_for, make_ask

from ingest.embedder import Embedder
from service.http.app import create_app

SEED_CORPUS = Path(__file__).resolve().parents[2] / "corpus"


# -- the generated corpus ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("service-corpus"))


@pytest.fixture(scope="session")
def built(corpus: Corpus, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> BuiltIndex:
    return build_index(corpus.root, tmp_path_factory.mktemp("service-index"), embedder)


@pytest.fixture(scope="session")
def app(built: BuiltIndex, embedder: Embedder):
    return create_app(built.settings, engine_for(built.settings, embedder))


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://localhost") as test_client:  # runs the lifespan: the engine loads here
        yield test_client


@pytest.fixture(scope="session")
def doc_ids(client: TestClient) -> dict[str, str]:
    """``source`` → ``doc_id``, as GET /documents reports them."""
    return {d["source"]: d["doc_id"] for d in client.get("/documents").json()}


@pytest.fixture(scope="session")
def retriever(app, client: TestClient):
    return app.state.engine.snapshot.retriever


@pytest.fixture(scope="session")
def ask(client: TestClient) -> Callable[..., dict]:
    """``ask(question, top_k=..., mode=..., filters=...)``: the JSON of a 200 answer."""
    return make_ask(client)


# -- the seed corpus --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def seed_built(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> BuiltIndex:
    if not (SEED_CORPUS / "iom-policies.txt").is_file():
        pytest.skip(f"seed corpus not found in {SEED_CORPUS}")
    root = tmp_path_factory.mktemp("seed")
    shutil.copytree(SEED_CORPUS, root / "corpus")  # the app may clean or write its corpus folder
    return build_index(root / "corpus", root / "index", embedder)


@pytest.fixture(scope="session")
def seed_client(seed_built: BuiltIndex, embedder: Embedder) -> Iterator[TestClient]:
    app = create_app(seed_built.settings, engine_for(seed_built.settings, embedder))
    with TestClient(app, base_url="http://localhost") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def seed_ask(seed_client: TestClient) -> Callable[..., dict]:
    return make_ask(seed_client)
