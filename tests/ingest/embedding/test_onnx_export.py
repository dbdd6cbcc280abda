"""The ONNX export of a sentence-transformers model: what it writes, its verification against
torch (and a real failure of it), the subprocess entry point's contract, and numpy pooling
against sentence-transformers' own ``Pooling`` for every mode the encoder claims."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx_support import clone_cache

from ingest.embedding import onnx_export
from ingest.embedding.cache import META_FILE, ONNX_FILE
from ingest.embedding.onnx_encoder import try_load
from ingest.embedding.pooling import POOLING_MODES, pool
from ingest.embedding.provision import export_in_subprocess
from ingest.embedding.source import resolve_source
from ingest.embedding.verify import VERIFICATION_TEXTS
from ingest.errors import ExitCode, ModelError
from ingest.settings import DEFAULT_MODEL


def test_export_writes_a_verified_cache(onnx_cache: Path, embedder) -> None:
    meta = json.loads((onnx_cache / META_FILE).read_text())
    assert sorted(p.name for p in onnx_cache.iterdir()) == [
        "encoder.json",
        "model.onnx",
        "model.onnx.data",
        "tokenizer.json",
    ]
    # the weights apart from the graph (so that onnxruntime maps them), as readable as it
    assert (onnx_cache / "model.onnx").stat().st_size < 1 << 20 < (onnx_cache / "model.onnx.data").stat().st_size
    assert (onnx_cache / "model.onnx.data").stat().st_mode & 0o777 == (onnx_cache / "model.onnx").stat().st_mode & 0o777
    assert meta["weights"]["size"] == (onnx_cache / "model.onnx.data").stat().st_size
    assert meta["model"]["name"] == embedder.name == DEFAULT_MODEL
    assert len(meta["model"]["weights_sha256"]) == 64
    assert meta["pooling"]["modes"] == ["mean"] and meta["normalize_module"] is True
    assert meta["pooling"]["config"]["pooling_mode_mean_tokens"] is True  # read from 1_Pooling/config.json
    assert meta["max_seq_length"] == embedder.max_seq_length == 256
    assert meta["dimension"] == embedder.dimension == 384
    verification = meta["verification"]
    assert verification["passed"] is True and verification["texts"] == len(VERIFICATION_TEXTS) == 32
    assert verification["min_cosine"] >= 0.9999
    assert set(verification["checks"]) == {"single", "batch32", "batch8", "query"}
    # atomic: no temporary or previous folder left beside the cache
    leftovers = [p.name for p in onnx_cache.parent.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert leftovers == []


def test_verification_texts_cover_truncation_and_padding(embedder) -> None:
    lengths = [len(embedder.token_offsets(t)) for t in VERIFICATION_TEXTS]
    assert max(lengths) > embedder.max_seq_length  # truncated
    assert min(lengths) == 0 and sum(n < 16 for n in lengths) >= 15  # questions, one empty
    assert sum(40 < n <= 256 for n in lengths) >= 7  # passages


def test_a_second_export_reuses_the_cache(onnx_cache: Path) -> None:
    before = (onnx_cache / ONNX_FILE).stat().st_mtime_ns
    result = export_in_subprocess(DEFAULT_MODEL, onnx_cache)
    assert result["ok"] is True and result["reused"] is True and result["model"] == DEFAULT_MODEL
    assert (onnx_cache / ONNX_FILE).stat().st_mtime_ns == before


def test_a_corrupted_weight_fails_verification(onnx_cache: Path, tmp_path: Path) -> None:
    """A real failure: one weight of the exported graph altered, then verified against torch."""
    import onnx
    from onnx import numpy_helper

    cache = clone_cache(onnx_cache, tmp_path / "corrupt", copy_onnx=True)
    graph = onnx.load(str(cache / ONNX_FILE))
    name = "model.encoder.layer.5.output.LayerNorm.bias"
    [init] = [i for i in graph.graph.initializer if i.name == name]
    noise = np.random.default_rng(0).normal(0, 1, numpy_helper.to_array(init).shape).astype(np.float32)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + noise, name))
    onnx.save(graph, str(cache / ONNX_FILE))

    with pytest.raises(ModelError, match="does not reproduce the torch embeddings") as info:
        onnx_export.verify(cache, texts=VERIFICATION_TEXTS[:8])  # the questions: quicker
    assert info.value.exit_code == ExitCode.USAGE
    # and the cache itself is refused: its model.onnx is not the one that was verified
    encoder, reason = try_load(cache)
    assert encoder is None and "corrupted" in reason and "model.onnx" in reason


def test_cli_prints_one_json_line_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "cache"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest.embedding.onnx_export",
            "--model",
            str(tmp_path / "no-such-model"),
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == ExitCode.USAGE
    [line] = proc.stdout.splitlines()
    result = json.loads(line)
    assert result["ok"] is False and result["code"] == "model_unavailable" and "no-such-model" in result["error"]
    assert not out.exists()
    with pytest.raises(ModelError, match="no-such-model"):
        export_in_subprocess(str(tmp_path / "no-such-model"), out)


def test_export_refuses_to_replace_a_folder_that_is_not_a_cache(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ModelError, match="not an ONNX export cache"):
        onnx_export.export_model(DEFAULT_MODEL, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_describe_refuses_modules_it_cannot_reproduce(embedder) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    source = resolve_source(DEFAULT_MODEL)
    assert onnx_export.describe(embedder.model, source)["pooling"]["modes"] == ["mean"]
    with_dense = SentenceTransformer(modules=[embedder.model[0], embedder.model[1], Dense(384, 64)], device="cpu")
    with pytest.raises(ModelError, match="Transformer → Pooling"):
        onnx_export.describe(with_dense, source)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("mode", POOLING_MODES)
def test_numpy_pooling_matches_sentence_transformers(mode: str, side: str) -> None:
    from sentence_transformers.sentence_transformer.modules import Pooling

    rng = np.random.default_rng(1)
    hidden = rng.normal(size=(4, 7, 8)).astype(np.float32)
    lengths = [7, 5, 1, 3]
    mask = np.zeros((4, 7), dtype=np.int64)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        if side == "left":
            mask[row] = mask[row][::-1]
    features = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": torch.from_numpy(mask)}
    expected = Pooling(8, pooling_mode=mode)(features)["sentence_embedding"].numpy()
    np.testing.assert_allclose(pool(hidden, mask, [mode]), expected, rtol=1e-5, atol=1e-6)


def test_numpy_pooling_concatenates_modes_in_order() -> None:
    from sentence_transformers.sentence_transformer.modules import Pooling

    rng = np.random.default_rng(2)
    hidden = rng.normal(size=(2, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=np.int64)
    features = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": torch.from_numpy(mask)}
    expected = Pooling(4, pooling_mode=("cls", "mean"))(features)["sentence_embedding"].numpy()
    np.testing.assert_allclose(pool(hidden, mask, ["cls", "mean"]), expected, rtol=1e-5, atol=1e-6)


def test_the_export_traces_plain_attention_and_leaves_the_model_as_it_was(embedder, tmp_path: Path) -> None:
    """The ingesting process's own model is exported, then goes on embedding with torch's
    fused attention; the graph has plain products, not SDPA's IsNaN/Where wrapping."""
    import onnx

    hf = embedder.model[0].auto_model
    before = hf.config._attn_implementation
    onnx_export._export_onnx(embedder.model, tmp_path / ONNX_FILE, onnx_export.OPSET)
    assert hf.config._attn_implementation == before
    ops = {node.op_type for node in onnx.load(str(tmp_path / ONNX_FILE), load_external_data=False).graph.node}
    assert "Softmax" in ops and "IsNaN" not in ops
