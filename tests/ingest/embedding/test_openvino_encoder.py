"""Passages embedded by OpenVINO on the model's verified export: the model's vectors (to the
0.999 ingestion allows), a build that never loads torch once a user has an export of the model,
and sentence-transformers whenever OpenVINO cannot be trusted or is not there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from hermetic import clean_env
from onnx_support import clone_cache

import ingest.embedding.openvino_encoder as openvino_encoder
from ingest.embedder import Embedder
from ingest.embedding.cache import shared_encoder_dir
from ingest.embedding.openvino_encoder import OpenVinoEncoder
from ingest.errors import ModelError
from ingest.settings import DEFAULT_MODEL
from ingest.store.reader import StoredIndex
from ingest.store.writer import contextual_text

PASSAGES = [
    "The Contracting States shall not expel a refugee lawfully in their territory save on grounds of "
    "national security or public order.",
    "We keep your account information for as long as your account is active and for two years after.",
    "Every child has the right to education; primary education shall be compulsory and free to all.",
    "Brief.",
    " ".join(["Member States shall ensure that applicants are informed of the procedure."] * 40),  # truncated
]

# One ingest in a fresh interpreter: whether sentence-transformers was imported, and a vector.
BUILD = """
import json, sys
from pathlib import Path
if sys.argv[3] == "no-openvino":
    sys.modules["openvino"] = None  # as on an install without it: importing it fails
from ingest.pipeline import ingest
from ingest.settings import Settings
if __name__ == "__main__":
    report = ingest([Path(sys.argv[1])], Settings(index_dir=Path(sys.argv[2])))
    print(json.dumps({"embedded": report.embedded, "published": report.published,
                      "torch": "torch" in sys.modules or "sentence_transformers" in sys.modules}))
"""


def test_openvino_embeds_passages_as_the_model_does(onnx_cache: Path, embedder: Embedder) -> None:
    encoder = OpenVinoEncoder(onnx_cache, threads=2)
    vectors = encoder.embed_passages(PASSAGES)
    assert vectors.shape == (len(PASSAGES), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float((vectors * embedder.embed_passages(PASSAGES)).sum(axis=1).min()) > 0.999
    bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert encoder.precision == ("bf16" if bf16 else "f32")
    fp32 = OpenVinoEncoder(onnx_cache, threads=1, bf16=False)
    assert fp32.precision == "" and fp32.embed_passages(PASSAGES[:1]).shape == (1, 384)
    assert fp32.precision == "f32"


def test_an_openvino_that_disagrees_with_the_export_is_refused_and_the_model_embeds(
    onnx_cache: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(openvino_encoder, "PASSAGE_MIN_COSINE", 1.01)  # no runtime reaches it
    with pytest.raises(ModelError, match="does not reproduce the export"):
        OpenVinoEncoder(onnx_cache, threads=1).warm_up()

    model = Embedder(DEFAULT_MODEL)
    model.embed_rest_with(OpenVinoEncoder(onnx_cache, threads=1))
    with caplog.at_level("WARNING"):
        vectors = model.embed_passages(PASSAGES[:2])
    assert "passage encoder cannot embed" in caplog.text
    assert model._model is not None  # sentence-transformers embedded them
    assert float((vectors * embedder.embed_passages(PASSAGES[:2])).sum(axis=1).min()) > 0.9999


def _build(corpus: Path, index: Path, cache: Path, *, openvino: str = "yes", **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(corpus), str(index), openvino],
        env=clean_env(CLAUSEWISE_ENCODER_CACHE=str(cache), **env),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=corpus.parent,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_build_with_the_users_export_at_hand_never_loads_torch(
    onnx_cache: Path, tmp_path: Path, embedder: Embedder
) -> None:
    cache = tmp_path / "user-cache"
    clone_cache(onnx_cache, shared_encoder_dir(cache, DEFAULT_MODEL))
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i, text in enumerate(PASSAGES[:3]):
        (corpus / f"note{i}.txt").write_text(f"Note {i}\n\n{text}\n", encoding="utf-8")

    done = _build(corpus, tmp_path / "index", cache)
    assert done == {"embedded": 3, "published": True, "torch": False}
    index = StoredIndex.open(tmp_path / "index")
    try:
        passages = index.passages(range(len(index)))
        stored = index.vectors_of(list(range(len(index))))
        texts = [contextual_text(p, index.documents[p.doc_id].title) for p in passages]
    finally:
        index.close()
    assert float((stored * embedder.embed_passages(texts)).sum(axis=1).min()) > 0.999

    assert _build(corpus, tmp_path / "off", cache, CLAUSEWISE_EMBED_OPENVINO="false")["torch"] is True
    assert _build(corpus, tmp_path / "missing", cache, openvino="no-openvino")["torch"] is True


class _FailingRuns(OpenVinoEncoder):
    """A real OpenVINO encoder whose forward passes raise from the ``fail_from``-th on, as a
    runtime error (an allocation failure, say) would: fault injection, the compiled model is real."""

    def __init__(self, *args, fail_from: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_from, self.runs, self.opened = fail_from, 0, 0

    def _open_session(self, lone: bool = False):
        self.opened += 1
        return super()._open_session(lone)

    def _run(self, *args, **kwargs):
        self.runs += 1
        if self.runs >= self.fail_from:
            raise RuntimeError("std::bad_alloc")
        return super()._run(*args, **kwargs)


def test_a_runtime_error_while_checking_is_a_refusal_remembered_not_retried(onnx_cache: Path) -> None:
    encoder = _FailingRuns(onnx_cache, threads=1, fail_from=2)  # run 1: the warm-up; then the check
    with pytest.raises(ModelError, match=r"could not be checked.*bad_alloc"):
        encoder.warm_up()
    with pytest.raises(ModelError, match="could not be checked"):
        encoder.warm_up()
    assert encoder.opened == 1  # compiled once: a second warm-up does not pay it again


def test_a_runtime_error_mid_build_hands_the_passages_to_the_model(
    onnx_cache: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = _FailingRuns(onnx_cache, threads=1, fail_from=1000)
    model = Embedder(DEFAULT_MODEL)
    model.embed_rest_with(encoder)
    first = model.embed_passages(PASSAGES[:2])
    assert model._model is None  # OpenVINO embedded them
    encoder.fail_from = encoder.runs + 1
    with caplog.at_level("WARNING"):
        second = model.embed_passages(PASSAGES[2:4])
    assert "bad_alloc" in caplog.text and model._model is not None
    reference = embedder.embed_passages(PASSAGES[:4])
    assert float((np.vstack([first, second]) * reference).sum(axis=1).min()) > 0.999


def test_an_embedder_the_caller_passes_is_handed_the_export_too(onnx_cache: Path, tmp_path: Path) -> None:
    """A server's rebuild worker passes its own embedder (one that reports progress): with the
    user's export at hand it embeds through OpenVINO as `clausewise ingest` does, never loading
    the model; a loaded model is left to embed."""
    from ingest.pipeline import ingest
    from ingest.settings import Settings

    cache = tmp_path / "user-cache"
    clone_cache(onnx_cache, shared_encoder_dir(cache, DEFAULT_MODEL))
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "note.txt").write_text(f"Note\n\n{PASSAGES[0]}\n", encoding="utf-8")
    passed = Embedder(DEFAULT_MODEL)
    report = ingest([corpus], Settings(index_dir=tmp_path / "index", encoder_cache=cache), embedder=passed)
    assert report.published and report.embedded == 1
    assert not passed.loaded  # OpenVINO embedded it
