"""An update with few passages embeds them with the index's ONNX encoder: adding one file to a
large index does not pay ~5 s to import and load sentence-transformers, and its vectors are the
model's (to the export's verified tolerance). Past the budget the model takes over for good."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from hermetic import clean_env
from onnx_support import clone_cache

from ingest.embedder import Embedder
from ingest.embedding.cache import ONNX_FILE
from ingest.embedding.onnx_encoder import OnnxEncoder
from ingest.settings import DEFAULT_MODEL, Settings
from ingest.store.reader import StoredIndex
from ingest.store.writer import contextual_text

# Runs one ingest in a fresh interpreter and says whether sentence-transformers was imported.
UPDATE = """
import json, sys
from pathlib import Path
from ingest.pipeline import ingest
from ingest.settings import Settings
report = ingest([Path(sys.argv[1])], Settings(index_dir=Path(sys.argv[2])))
print(json.dumps({"embedded": report.embedded, "published": report.published,
                  "torch": "sentence_transformers" in sys.modules}))
"""
NOTICE = "Notice\n\nFerries to the northern islands leave from the eastern quay at dawn.\n"


def update(corpus: Path, index: Path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", UPDATE, str(corpus), str(index)],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_adding_one_file_embeds_it_without_sentence_transformers(
    run_ingest, settings: Settings, tmp_path: Path, embedder: Embedder
) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "charter.txt").write_text("Article 1\nEvery resident may return after the floods.\n", encoding="utf-8")
    assert run_ingest(corpus).published  # the build leaves INDEX/encoder beside it
    (corpus / "notice.txt").write_text(NOTICE, encoding="utf-8")

    done = update(corpus, settings.index_dir)
    assert done == {"embedded": 1, "published": True, "torch": False}
    index = StoredIndex.open(settings.index_dir)
    try:
        row = next(r for r, p in enumerate(index.passages(range(len(index)))) if p.doc_id == "notice.txt")
        passage = index.passages([row])[0]
        stored = index.vectors_of([row])[0]
        title = index.documents["notice.txt"].title
    finally:
        index.close()
    expected = embedder.embed_passages([contextual_text(passage, title)])[0]
    assert float(stored @ expected) > 0.999

    (corpus / "later.txt").write_text("Later\n\nThe quay closes at dusk in winter.\n", encoding="utf-8")
    switched_off = {"CLAUSEWISE_EMBED_ONNX_UP_TO": "0", "CLAUSEWISE_EMBED_OPENVINO": "false"}
    assert update(corpus, settings.index_dir, **switched_off)["torch"] is True


def test_past_the_budget_the_model_embeds_from_then_on(onnx_encoder: OnnxEncoder) -> None:
    model = Embedder(DEFAULT_MODEL, bf16=False)
    model.start_with(onnx_encoder, 3)
    texts = ["The council meets weekly.", "Boats are moored at the quay."]
    first = model.embed_passages(texts)
    assert model._model is None  # the export embedded them
    assert model.dimension == 384 and model.max_seq_length == onnx_encoder.max_seq_length
    second = model.embed_passages(texts)  # 4 > 3: the model loads and keeps the rest
    assert model._model is not None
    assert np.allclose(first, second, atol=1e-3)
    assert model._take_quick(1) is None  # never back to the export


def test_an_export_that_cannot_load_hands_over_to_the_model_with_a_warning(
    onnx_cache: Path, tmp_path: Path, embedder: Embedder, caplog
) -> None:
    broken = clone_cache(onnx_cache, tmp_path / "broken", copy_onnx=True)
    (broken / ONNX_FILE).write_bytes(b"not an onnx graph")
    model = Embedder(DEFAULT_MODEL)
    model.start_with(OnnxEncoder(broken), 100)
    texts = ["The council meets weekly.", "Boats are moored at the quay."]
    with caplog.at_level("WARNING"):
        vectors = model.embed_passages(texts)
    assert "using sentence-transformers" in caplog.text
    assert model._model is not None  # the model embedded them
    assert float((vectors * embedder.embed_passages(texts)).sum(axis=1).min()) > 0.99
