"""The torch-free ONNX encoder: it reproduces ``Embedder`` (single questions and padded
batches), refuses caches it must not use and says why, remembers recent questions, is safe to
call from several threads, and never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from onnx_support import clone_cache, edit_meta

from ingest.embedding.cache import META_FILE, ONNX_FILE, TOKENIZER_FILE, WEIGHTS_FILE
from ingest.embedding.onnx_encoder import OnnxEncoder, normalise_question, try_load
from ingest.embedding.provision import ensure_encoder
from ingest.embedding.source import resolve_source
from ingest.settings import DEFAULT_MODEL

QUESTIONS = [
    "Can a state send a refugee back to a country where they face persecution?",
    "What personal information is collected when I sign up?",
    "Do refugees have the right to work?",
    "How do I delete my account?",
    "Article 33",
    "droits des réfugiés",
    "Is the data shared with third parties for advertising purposes, and can I object to it?",
    "?",
]
PASSAGES = [
    "The Contracting States shall accord to refugees lawfully staying in their territory the most favourable "
    "treatment accorded to nationals of a foreign country in the same circumstances, as regards the right to "
    "engage in wage-earning employment. " * 8,  # beyond 256 tokens: truncated
    "We use cookies to remember your preferences.",
    "Personal data is kept for no longer than is necessary for the purposes for which it is processed.",
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_describes_the_model_like_the_embedder(onnx_encoder: OnnxEncoder, embedder) -> None:
    assert onnx_encoder.name == embedder.name == DEFAULT_MODEL
    assert onnx_encoder.dimension == embedder.dimension
    assert onnx_encoder.max_seq_length == embedder.max_seq_length


@pytest.fixture(scope="module")
def expected(embedder) -> np.ndarray:
    """``Embedder.embed_query`` of each of QUESTIONS + PASSAGES (torch, fp32, one by one)."""
    return np.vstack([embedder.embed_query(t) for t in QUESTIONS + PASSAGES])


def test_single_questions_match_the_embedder(onnx_encoder: OnnxEncoder, expected: np.ndarray) -> None:
    for text, reference in zip(QUESTIONS + PASSAGES, expected):
        got = onnx_encoder.embed_query(text)
        assert got.shape == (384,) and got.dtype == np.float32 and not got.flags.writeable
        assert abs(float(np.linalg.norm(got)) - 1) < 1e-5
        assert _cos(got, reference) >= 0.9999, text


@pytest.mark.parametrize("batch_size", [32, 3, 1])
def test_batches_match_the_embedder(onnx_encoder: OnnxEncoder, expected: np.ndarray, batch_size: int) -> None:
    texts = QUESTIONS + PASSAGES
    got = onnx_encoder.embed(texts, batch_size=batch_size)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32 and got.flags.c_contiguous
    assert _cos(got, expected).min() >= 0.9999
    assert onnx_encoder.embed([]).shape == (0, 384)
    np.testing.assert_allclose(onnx_encoder.embed_passages(texts), got, atol=1e-5)


def test_token_offsets_match_the_embedder(onnx_encoder: OnnxEncoder, embedder) -> None:
    for text in [PASSAGES[0], "Hello, WORLD — Article 33(1)!", "réfugiés 難民", ""]:
        assert onnx_encoder.token_offsets(text) == embedder.token_offsets(text)
    assert len(onnx_encoder.token_offsets(PASSAGES[0])) > 256  # not truncated


def test_recent_questions_are_remembered(onnx_cache: Path) -> None:
    encoder = OnnxEncoder(onnx_cache, query_cache_size=2)
    first = encoder.embed_query("Do refugees have the right to work?")
    assert encoder.embed_query("  Do refugees   have the right\tto work?\n") is first  # one normalised key
    assert normalise_question("  a  b\n") == "a b"
    encoder.embed_query("second")
    encoder.embed_query("third")  # evicts the first
    info = encoder.query_cache_info()
    assert (info.hits, info.misses, info.currsize, info.maxsize) == (1, 3, 2, 2)
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared by every caller: read-only

    uncached = OnnxEncoder(onnx_cache, query_cache_size=0)
    a, b = uncached.embed_query("x"), uncached.embed_query("x")
    assert a is not b and uncached.query_cache_info().hits == 0
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("lone_threads", [1, 2])
def test_threads_may_share_one_encoder(onnx_encoder: OnnxEncoder, onnx_cache: Path, lone_threads: int) -> None:
    texts = [f"{q} ({i})" for i, q in enumerate(QUESTIONS * 5)]
    encoder = OnnxEncoder(onnx_cache, query_cache_size=0, lone_threads=lone_threads)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(encoder.embed_query, texts))
    np.testing.assert_allclose(np.vstack(together), onnx_encoder.embed(texts, batch_size=1), atol=1e-6)
    assert sum(encoder.session_runs.values()) == len(texts)


def test_session_threads_are_sized_and_do_not_spin(onnx_cache: Path) -> None:
    options = OnnxEncoder(onnx_cache, intra_op_threads=2).session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.execution_mode.name == "ORT_SEQUENTIAL"
    # the lone session spins while it runs and stops when the run returns
    lone = OnnxEncoder(onnx_cache, lone_threads=2).session_options(lone=True)
    assert lone.intra_op_num_threads == 2 and lone.inter_op_num_threads == 1
    assert lone.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert lone.get_session_config_entry("session.force_spinning_stop") == "1"
    with pytest.raises(ValueError):
        OnnxEncoder(onnx_cache, intra_op_threads=0)
    with pytest.raises(ValueError):
        OnnxEncoder(onnx_cache, lone_threads=0)


def test_a_lone_question_takes_the_lone_session_and_gets_the_same_vector(
    onnx_encoder: OnnxEncoder, onnx_cache: Path
) -> None:
    encoder = OnnxEncoder(onnx_cache, lone_threads=2, query_cache_size=0)
    alone = np.vstack([encoder.embed_query(q) for q in QUESTIONS])
    assert encoder.session_runs == {"lone": len(QUESTIONS)}
    np.testing.assert_allclose(alone, onnx_encoder.embed(QUESTIONS, batch_size=1), atol=1e-6)

    with encoder._claimed(2):  # a batch in flight: a question beside it takes the shared session
        beside = encoder.embed_query(QUESTIONS[0])
    assert encoder.session_runs == {"lone": len(QUESTIONS), "shared": 2}  # the batch and the question
    np.testing.assert_allclose(beside, alone[0], atol=1e-6)
    encoder.embed(PASSAGES[:3], batch_size=3)  # a batch is never lone
    assert encoder.session_runs == {"lone": len(QUESTIONS), "shared": 3}

    # the process says other questions are in flight (still searching, or queued): shared
    busy = OnnxEncoder(onnx_cache, lone_threads=2, query_cache_size=0, questions_in_flight=lambda: 2)
    busy.embed_query(QUESTIONS[0])
    assert busy.session_runs == {"shared": 1}

    # without more threads than the shared session has, there is no lone session at all
    same = OnnxEncoder(onnx_cache, intra_op_threads=2, lone_threads=2, query_cache_size=0)
    same.embed_query(QUESTIONS[0])
    assert same.session_runs == {"shared": 1}


class _NoLoneSession(OnnxEncoder):
    """A real encoder whose lone session cannot be made (as when the runtime refuses its
    options): fault injection, the shared session is real."""

    def _open_session(self, lone: bool = False):
        if lone:
            raise RuntimeError("cannot create the thread pool")
        return super()._open_session(lone)


def test_a_lone_session_that_cannot_be_made_leaves_the_shared_one(
    onnx_cache: Path, onnx_encoder: OnnxEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = _NoLoneSession(onnx_cache, lone_threads=2, query_cache_size=0)
    with caplog.at_level("WARNING"):
        vector = encoder.embed_query(QUESTIONS[0])
    assert "no 2-thread session for lone questions" in caplog.text and "thread pool" in caplog.text
    assert encoder.session_runs == {"shared": 1}
    np.testing.assert_allclose(vector, onnx_encoder.embed([QUESTIONS[0]], batch_size=1)[0], atol=1e-6)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc/self/maps")
def test_the_weights_are_memory_mapped_not_copied(onnx_encoder: OnnxEncoder, onnx_cache: Path) -> None:
    """Several serving processes (and an encoder's two sessions) share one copy of the weights
    through the page cache."""
    onnx_encoder.embed_query("Do refugees have the right to work?")
    maps = Path("/proc/self/maps").read_text()
    assert str((onnx_encoder.cache_dir / WEIGHTS_FILE).resolve()) in maps


# -- caches that must be refused ---------------------------------------------------------


def test_a_missing_cache_is_refused_with_a_reason(tmp_path: Path) -> None:
    encoder, reason = try_load(tmp_path / "nothing")
    assert encoder is None and "no ONNX export" in reason
    encoder, reason = ensure_encoder(DEFAULT_MODEL, tmp_path / "nothing", export=False)
    assert encoder is None and "no ONNX export" in reason


def test_an_unverified_or_foreign_cache_is_refused(onnx_cache: Path, tmp_path: Path) -> None:
    cache = clone_cache(onnx_cache, tmp_path / "c")
    assert try_load(cache, warm=False)[0] is not None

    edit_meta(cache, lambda m: m["verification"].update(passed=False))
    assert "not verified" in try_load(cache)[1]
    edit_meta(cache, lambda m: m["verification"].update(passed=True, min_cosine=0.999))
    assert "not verified" in try_load(cache)[1]
    edit_meta(cache, lambda m: m.update(verification=None))
    assert "not verified" in try_load(cache)[1]
    edit_meta(cache, lambda m: m.update(format=99))
    assert "format 99" in try_load(cache)[1]
    (cache / META_FILE).write_text("{not json")
    assert "unreadable" in try_load(cache)[1]


def test_a_cache_of_another_model_is_refused(onnx_cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-model"
    shutil.copytree(resolve_source(DEFAULT_MODEL).path, other)
    encoder, reason = try_load(onnx_cache, model=str(other))
    assert encoder is None and "not" in reason and str(other) in reason
    assert try_load(onnx_cache, model=DEFAULT_MODEL, warm=False)[0] is not None


def test_a_stale_cache_is_refused(onnx_cache: Path, tmp_path: Path) -> None:
    """The model folder the cache was exported from changes after the export."""
    model = tmp_path / "model"
    shutil.copytree(resolve_source(DEFAULT_MODEL).path, model)
    cache = clone_cache(onnx_cache, tmp_path / "cache")
    edit_meta(cache, lambda m: m["model"].update(path=str(model)))
    assert try_load(cache, warm=False)[1] == ""
    os.utime(model / "model.safetensors")  # touched, same bytes: re-hashed, still fresh
    assert try_load(cache, warm=False)[1] == ""

    with open(model / "model.safetensors", "r+b") as handle:  # one weight byte changed
        handle.seek(-7, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-7, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    encoder, reason = try_load(cache)
    assert encoder is None and "stale" in reason and "weights" in reason and "model.safetensors" in reason

    shutil.copy2(resolve_source(DEFAULT_MODEL).path / "model.safetensors", model / "model.safetensors")
    assert try_load(cache, warm=False)[1] == ""
    config = model / "1_Pooling" / "config.json"
    config.write_text(config.read_text().replace('"pooling_mode_cls_token": false', '"pooling_mode_cls_token": true'))
    assert "configuration" in try_load(cache)[1]
    shutil.rmtree(model)
    assert "gone" in try_load(cache)[1]


def test_a_corrupted_cache_is_refused(onnx_cache: Path, tmp_path: Path) -> None:
    cache = clone_cache(onnx_cache, tmp_path / "c", copy_onnx=True)
    with open(cache / WEIGHTS_FILE, "r+b") as handle:  # same size, other bytes
        handle.seek(40_000_000)
        handle.write(b"\0" * 64)
    assert "corrupted" in try_load(cache)[1] and WEIGHTS_FILE in try_load(cache)[1]

    cache = clone_cache(onnx_cache, tmp_path / "g", copy_onnx=True)
    with open(cache / ONNX_FILE, "r+b") as handle:  # the graph: same size, other bytes
        handle.seek(1_000)
        handle.write(b"\0" * 64)
    assert "corrupted" in try_load(cache)[1] and f"({ONNX_FILE} differs" in try_load(cache)[1]

    cache = clone_cache(onnx_cache, tmp_path / "d", copy_onnx=True)
    (cache / TOKENIZER_FILE).write_text("{}")
    assert "corrupted" in try_load(cache)[1] and TOKENIZER_FILE in try_load(cache)[1]

    cache = clone_cache(onnx_cache, tmp_path / "e")
    (cache / TOKENIZER_FILE).unlink()
    assert "incomplete" in try_load(cache)[1]


def test_a_cache_onnxruntime_cannot_load_is_refused_at_load(onnx_cache: Path, tmp_path: Path) -> None:
    """A cache whose description agrees with a broken model.onnx: refused by warm-up, not later."""
    cache = clone_cache(onnx_cache, tmp_path / "c", copy_onnx=True)
    (cache / ONNX_FILE).write_bytes(b"not an onnx model")
    stat = (cache / ONNX_FILE).stat()
    import hashlib

    digest = hashlib.sha256(b"not an onnx model").hexdigest()
    edit_meta(cache, lambda m: m["onnx"].update(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=digest))
    assert try_load(cache, warm=False)[0] is not None  # the files agree with encoder.json ...
    encoder, reason = try_load(cache)
    assert encoder is None and "cannot load the ONNX export" in reason  # ... but it does not load


# -- the serving process stays free of torch ---------------------------------------------


def test_loading_and_embedding_never_import_torch(onnx_cache: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import ingest.embedding
        from ingest.embedding import onnx_encoder
        encoder, reason = onnx_encoder.try_load({str(onnx_cache)!r}, {DEFAULT_MODEL!r})
        assert encoder is not None, reason
        vector = encoder.embed_query("Do refugees have the right to work?")
        batch = encoder.embed(["a", "a longer text to pad the batch"], batch_size=2)
        offsets = encoder.token_offsets("hello world")
        heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
        print(json.dumps({{"heavy": heavy, "shape": list(vector.shape), "batch": list(batch.shape)}}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "shape": [384], "batch": [2, 384]}


def test_questions_asked_together_share_forward_passes(onnx_encoder: OnnxEncoder, onnx_cache: Path) -> None:
    """Eight threads released at once: the first question runs alone, the others queue behind
    it and share passes; every vector is the one the question gets alone (cos ≥ 0.9999)."""
    texts = [f"{q} ({i})" for i, q in enumerate(QUESTIONS)]
    encoder = OnnxEncoder(onnx_cache, query_cache_size=0, question_batch=8)
    start = threading.Barrier(len(texts))

    def ask(text: str) -> np.ndarray:
        start.wait()
        return encoder.embed_query(text)

    with ThreadPoolExecutor(len(texts)) as pool:
        together = np.vstack(list(pool.map(ask, texts)))
    assert encoder.batcher is not None and encoder.batcher.questions == len(texts)
    assert encoder.batcher.passes < len(texts)
    assert _cos(together, onnx_encoder.embed(texts, batch_size=1)).min() >= 0.9999
    assert OnnxEncoder(onnx_cache).batcher is None  # question_batch 1: each question alone
