"""The serving process embeds questions with the verified ONNX export beside the index and never
imports torch (the server, `clausewise ask`); it falls back to sentence-transformers, logging
why, when the export cannot be used or `CLAUSEWISE_QUERY_ENCODER=torch` asks for it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hermetic import clean_env
from service_support import KESTRELMOOR, BuiltIndex, build_index, clean_settings

from ingest.embedder import Embedder
from ingest.embedding.cache import encoder_dir
from ingest.embedding.onnx_encoder import OnnxEncoder
from service.search.engine import Engine

pytestmark = pytest.mark.usefixtures("hermetic")

HEAVY = ("torch", "transformers", "sentence_transformers", "openvino")  # openvino: ingestion's only

SERVER = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from ingest.settings import Settings
    from service.http.app import create_app

    settings = Settings(_env_file=None, index_dir=sys.argv[1], corpus_dir=sys.argv[2], reload_interval_s=0)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:  # the host it is served as
        answer = client.post("/ask", json={"question": sys.argv[3]})
        embedder = client.app.state.engine.snapshot.retriever.embedder
    print(json.dumps({
        "status": answer.status_code,
        "top": answer.json()["passages"][0]["citation"]["source"] if answer.status_code == 200 else answer.text,
        "encoder": type(embedder).__name__,
        "heavy": [m for m in HEAVY if m in sys.modules],
    }))
    """
).replace("HEAVY", repr(HEAVY))

ASK = textwrap.dedent(
    """
    import json, sys
    from service.cli import app

    app(["ask", sys.argv[3], "--index", sys.argv[1]], standalone_mode=False)
    print(json.dumps({"heavy": [m for m in HEAVY if m in sys.modules]}), file=sys.stderr)
    """
).replace("HEAVY", repr(HEAVY))


def _run(script: str, built: BuiltIndex, cwd: Path) -> subprocess.CompletedProcess:
    env = clean_env()
    return subprocess.run(
        [sys.executable, "-c", script, str(built.index_dir), str(built.folder), KESTRELMOOR],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


def test_the_server_answers_without_importing_torch(built: BuiltIndex, tmp_path: Path) -> None:
    assert (encoder_dir(built.index_dir) / "encoder.json").is_file()  # left there by the ingest
    proc = _run(SERVER, built, tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["encoder"] == "OnnxEncoder"
    assert result["top"]  # a cited passage came back
    assert result["heavy"] == []


def test_clausewise_ask_answers_without_importing_torch(built: BuiltIndex, tmp_path: Path) -> None:
    proc = _run(ASK, built, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Kestrelmoor" in proc.stdout
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"heavy": []}


def test_torch_is_used_when_asked_for(built: BuiltIndex, caplog: pytest.LogCaptureFixture) -> None:
    settings = clean_settings(index_dir=built.index_dir, corpus_dir=built.folder, query_encoder="torch")
    with caplog.at_level(logging.INFO, logger="service.search.engine"):
        snapshot = Engine(settings).load()
    try:
        assert isinstance(snapshot.retriever.embedder, Embedder)
        assert "CLAUSEWISE_QUERY_ENCODER=torch" in caplog.text
        assert snapshot.retriever.run(KESTRELMOOR)
    finally:
        snapshot.index.close()


def test_an_export_that_fails_falls_back_to_torch_with_a_warning(
    built: BuiltIndex, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The index has no usable cache and the export cannot write one: the engine still answers."""
    other = build_index(built.folder, tmp_path / "index", embedder, query_encoder="torch")
    encoder_dir(other.index_dir).write_text("in the way")  # the export refuses to replace it
    # no per-user copy to link: the export's own failure is what is tested
    settings = clean_settings(index_dir=other.index_dir, corpus_dir=other.folder, encoder_cache=None)
    with caplog.at_level(logging.INFO, logger="service.search.engine"):
        snapshot = Engine(settings).load()
    try:
        assert isinstance(snapshot.retriever.embedder, Embedder)
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "service.search.engine"]
        assert "sentence-transformers" in warning.getMessage()
        assert "not an ONNX export cache" in warning.getMessage()
        assert snapshot.retriever.run(KESTRELMOOR)
    finally:
        snapshot.index.close()


def test_the_onnx_engine_ranks_as_the_torch_engine(built: BuiltIndex, embedder: Embedder) -> None:
    """Same index, same questions: the ONNX encoder's answers are the torch encoder's."""
    settings = clean_settings(index_dir=built.index_dir, corpus_dir=built.folder)
    onnx = Engine(settings).load()
    torch_engine = Engine(settings, embedder=embedder).load()
    try:
        assert isinstance(onnx.retriever.embedder, OnnxEncoder)
        for question in (KESTRELMOOR, "Which districts are safe?", "Article 2"):
            a = [h.passage.id for h in onnx.retriever.run(question, 5, "dense")]
            b = [h.passage.id for h in torch_engine.retriever.run(question, 5, "dense")]
            assert a == b, question
    finally:
        onnx.index.close()
        torch_engine.index.close()


def test_the_bm25_cache_is_sized_by_settings_and_changes_no_answer(built: BuiltIndex) -> None:
    """`CLAUSEWISE_BM25_CACHE_MIB` bounds what a serving process keeps of BM25's words; a cache
    of nothing recomputes every word and ranks the same."""
    roomy = Engine(clean_settings(index_dir=built.index_dir, corpus_dir=built.folder)).load()
    bare = Engine(clean_settings(index_dir=built.index_dir, corpus_dir=built.folder, bm25_cache_mib=0)).load()
    try:
        assert roomy.index.lexical.cache_bytes == 512 << 20
        assert roomy.index.lexical._impacts  # warmed at load: the whole small vocabulary fits
        assert bare.index.lexical.cache_bytes == 0 and len(bare.index.lexical._impacts) <= 1
        for question in (KESTRELMOOR, "Which districts are safe?", "Article 2"):
            a = [(h.passage.id, round(h.score, 6)) for h in roomy.retriever.run(question, 5, "lexical")]
            b = [(h.passage.id, round(h.score, 6)) for h in bare.retriever.run(question, 5, "lexical")]
            assert a == b, question
    finally:
        roomy.index.close()
        bare.index.close()


def test_a_reload_lets_the_replaced_generation_s_bm25_cache_go_and_it_still_answers(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Two generations' BM25 caches never sit side by side (at a million passages ~900 MiB):
    the one being replaced is emptied before the new one warms, and a request still holding it
    gets the same scores, computed again."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tide.txt").write_text("Tide Tables\n\nArticle 1\nThe spring tide is marked with a red flag.\n")
    first = build_index(corpus, tmp_path / "index", embedder)
    engine = Engine(first.settings, embedder=embedder)
    old = engine.load()
    question = "Which flag marks the spring tide?"
    before = [(h.passage.id, h.score) for h in old.retriever.run(question, 3, "lexical")]
    assert old.index.lexical._impacts
    (corpus / "fog.txt").write_text("Fog Rules\n\nArticle 1\nIn fog every vessel sounds its horn twice a minute.\n")
    build_index(corpus, tmp_path / "index", embedder)
    new = engine.load()
    try:
        assert new.version != old.version and new.index.lexical._impacts
        assert not old.index.lexical._impacts
        assert [(h.passage.id, h.score) for h in old.retriever.run(question, 3, "lexical")] == before
    finally:
        new.index.close()
        old.index.close()
