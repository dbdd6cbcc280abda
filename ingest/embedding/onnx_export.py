"""Export a sentence-transformers model to ONNX, verify it against torch, cache it atomically.

This module imports torch and sentence-transformers; the serving process never imports it. It
runs inside ``clausewise ingest`` (torch is loaded there anyway: :mod:`ingest.embedding.provision`),
or as a subprocess of a serving process that finds no usable cache::

    python -m ingest.embedding.onnx_export --model all-MiniLM-L6-v2 --out index/encoder

which prints one JSON line on stdout — ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``
— and exits 0, or with ``ModelError``'s exit code (2) when the model cannot be exported or the
export does not reproduce torch.

What is exported: the model's transformer (``last_hidden_state`` of the Hugging Face model,
through ``torch.onnx.export(dynamo=False)``, dynamic batch and sequence axes), its attention
traced as the plain ("eager") matrix products rather than torch's fused SDPA kernel: SDPA
exports as a graph of shape, ``IsNaN`` and ``Where`` operators around the products, which
onnxruntime runs 7-12 % slower for one question (and OpenVINO no faster for passages). Pooling and L2
normalisation are done by the encoder in numpy (:mod:`ingest.embedding.pooling`), as
``encoder.json`` describes them (read from the model's own ``Pooling`` module). Models with
other modules after pooling (``Dense``, ...) are refused: the caller keeps torch for them. The
export is verified (:mod:`ingest.embedding.verify`) before it is published
(:mod:`ingest.embedding.cache`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


from ingest.embedding import cache
from ingest.embedding.onnx_encoder import OnnxEncoder
from ingest.embedding.pooling import POOLING_MODES
from ingest.embedding.source import ModelSource, fingerprint, resolve_source
from ingest.embedding.verify import (
    DEFAULT_THRESHOLD,
    VERIFICATION_TEXTS,
    Verification,
    fail_unless_passed,
    reference_embeddings,
    verify_encoder,
)
from ingest.errors import ExitCode, ModelError
from ingest.settings import DEFAULT_MODEL

OPSET = 17


def load_sentence_transformer(source: ModelSource):
    """The model in fp32 on the CPU; :class:`ModelError` if it cannot be loaded."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(source.path), device="cpu")  # str: a PosixPath is refused
    except Exception as exc:
        raise ModelError(f"cannot load model {source.name!r} from {source.path} ({type(exc).__name__}: {exc})") from exc


def _check_pipeline(st, source: ModelSource) -> list[str]:
    """The module kinds of ``st``; :class:`ModelError` unless Transformer → Pooling [→ Normalize]."""
    kinds = [type(module).__name__ for module in st]
    if len(kinds) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or any(k != "Normalize" for k in kinds[2:]):
        raise ModelError(
            f"model {source.name!r} is {' → '.join(kinds)}; the ONNX export reproduces Transformer → Pooling "
            "[→ Normalize] only"
        )
    for module in list(st)[2:]:
        if getattr(module, "module_input_name", "sentence_embedding") != "sentence_embedding":
            raise ModelError(
                f"model {source.name!r} normalises {module.module_input_name!r}, not the sentence embedding"
            )
    return kinds


def _pooling_config(source: ModelSource) -> dict | None:
    """The model's own ``1_Pooling/config.json`` (recorded for whoever reads the cache)."""
    modules = source.path / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text(encoding="utf-8")):
            if module.get("type", "").endswith("Pooling"):
                config = source.path / module.get("path", "") / "config.json"
                if config.is_file():
                    return json.loads(config.read_text(encoding="utf-8"))
    return None


def describe(st, source: ModelSource) -> dict:
    """What the encoder needs to reproduce ``st``: pooling, normalisation, prompt, tokenizer
    facts. :class:`ModelError` for a pipeline the ONNX encoder does not reproduce."""
    kinds = _check_pipeline(st, source)
    transformer, pooling = st[0], st[1]
    modes = pooling.pooling_mode
    modes = [modes] if isinstance(modes, str) else list(modes)
    unsupported = [m for m in modes if m not in POOLING_MODES]
    if unsupported:
        raise ModelError(f"pooling {unsupported} of {source.name!r} is not supported by the ONNX encoder")
    prompt = ""
    if getattr(st, "default_prompt_name", None):
        prompt = (st.prompts or {}).get(st.default_prompt_name) or ""
    if prompt and not getattr(pooling, "include_prompt", True):
        raise ModelError(f"model {source.name!r} pools without its prompt; the ONNX encoder cannot reproduce that")

    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ModelError(f"model {source.name!r} has no fast (tokenizers) tokenizer")
    max_seq = st.max_seq_length or getattr(tokenizer, "model_max_length", None)
    if not isinstance(max_seq, int) or max_seq <= 0 or max_seq > 1_000_000:
        raise ModelError(f"model {source.name!r} declares no usable max_seq_length ({max_seq!r})")

    return {
        "pooling": {
            "modes": modes,
            "include_prompt": bool(getattr(pooling, "include_prompt", True)),
            "config": _pooling_config(source),
        },
        "normalize_module": len(kinds) > 2,  # the encoder always L2-normalises, as Embedder does
        "prompt": prompt,
        "max_seq_length": int(max_seq),
        "tokenizer": {
            "pad_id": int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
            "pad_token": tokenizer.pad_token,
            "padding_side": tokenizer.padding_side,
            "truncation_side": tokenizer.truncation_side,
        },
        "modules": kinds,
    }


def _export_onnx(st, path: Path, opset: int) -> list[str]:
    """``last_hidden_state`` of the Hugging Face model to ``path``; the input names."""
    import torch

    hf = st[0].auto_model.eval()
    tokenizer = st[0].tokenizer
    # Two texts of different lengths: the traced graph takes the attention-mask path.
    sample = tokenizer(
        ["A short text.", "A somewhat longer second text, so that the batch is padded."],
        padding=True,
        return_tensors="pt",
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    extra = set(sample) - set(names)
    if extra:
        raise ModelError(f"the model's tokenizer gives inputs the ONNX encoder does not feed: {sorted(extra)}")

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):
            out = self.model(**dict(zip(names, args)))
            return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    try:
        with (
            torch.inference_mode(False),
            torch.no_grad(),
            warnings.catch_warnings(),
            _eager_attention(hf),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(hf),
                tuple(sample[n] for n in names),
                str(path),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"torch.onnx.export failed ({type(exc).__name__}: {exc})") from exc
    extra_files = [p.name for p in path.parent.iterdir() if p.name not in (path.name,)]
    if extra_files:  # external data (models > 2 GB): not supported by this cache
        raise ModelError(f"the export wrote external data files {extra_files}; models over 2 GB are not supported")
    return names


@contextlib.contextmanager
def _eager_attention(hf) -> Iterator[None]:
    """``hf`` computing attention as plain matrix products while the block runs, then as it
    did before (the model may be the ingesting process's own, which goes on embedding). A
    model that cannot switch is exported as it is."""
    before = getattr(hf.config, "_attn_implementation", None)
    setter = getattr(hf, "set_attn_implementation", None)
    switched = False
    if before not in (None, "eager") and setter is not None:
        try:
            setter("eager")
            switched = True
        except Exception:  # noqa: BLE001 — exported with its own attention: slower, not wrong (verified)
            pass
    try:
        yield
    finally:
        if switched and setter is not None:
            setter(before)


def _weights_apart(path: Path) -> Path:
    """Move the weights of the exported graph ``path`` into ``WEIGHTS_FILE`` beside it (ONNX
    external data), both files synced; the weights file. onnxruntime memory-maps external
    data, so the sessions of a process (the query encoder's two) and the serving processes of
    a machine share one copy of the weights through the page cache instead of each holding
    its own."""
    import onnx

    model = onnx.load(str(path))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=cache.WEIGHTS_FILE,
        size_threshold=1024,
    )
    weights = path.parent / cache.WEIGHTS_FILE
    os.chmod(weights, path.stat().st_mode & 0o777)  # onnx writes it 0600: as readable as the graph
    for written in (path, weights):
        cache.fsync(written)
    return weights


def verify(
    cache_dir: Path | str,
    reference_model: str | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    texts: Sequence[str] = VERIFICATION_TEXTS,
) -> Verification:
    """Verify the export in ``cache_dir`` against torch (the model it records, or
    ``reference_model``); :class:`ModelError` when it does not reproduce it."""
    meta = cache.read_meta(cache_dir)
    source = resolve_source(reference_model or meta["model"]["path"])
    st = load_sentence_transformer(source)
    encoder = OnnxEncoder(cache_dir, query_cache_size=0, meta=meta)
    verification = verify_encoder(encoder, reference_embeddings(st, texts), texts, threshold)
    fail_unless_passed(verification, f"the export in {cache_dir}")
    return verification


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for package in ("torch", "transformers", "sentence-transformers", "onnxruntime", "onnx", "tokenizers"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def _write_tokenizer(st, path: Path) -> None:
    """The model's fast tokenizer with padding and truncation off (the encoder sets its own)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(st[0].tokenizer.backend_tokenizer.to_str())  # a copy: the model's stays
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(str(path))
    cache.fsync(path)


def _export_into(st, source: ModelSource, tmp: Path, *, threshold: float, opset: int) -> dict:
    """Export ``st`` into the empty folder ``tmp``, verify it, and write ``encoder.json``; the
    description written. :class:`ModelError` when verification fails."""
    import torch

    description = describe(st, source)
    onnx_path = tmp / cache.ONNX_FILE
    inputs = _export_onnx(st, onnx_path, opset)
    weights_path = _weights_apart(onnx_path)
    _write_tokenizer(st, tmp / cache.TOKENIZER_FILE)
    reference = reference_embeddings(st, VERIFICATION_TEXTS)
    meta = {
        "format": cache.FORMAT,
        "model": {"name": source.name, "path": str(source.path), **fingerprint(source.path)},
        "dimension": int(reference.shape[1]),
        "max_seq_length": description["max_seq_length"],
        "pooling": description["pooling"],
        "normalize_module": description["normalize_module"],
        "prompt": description["prompt"],
        "modules": description["modules"],
        "onnx": {**cache.file_facts(onnx_path), "opset": opset, "inputs": inputs, "output": "last_hidden_state"},
        "weights": cache.file_facts(weights_path),
        "tokenizer": {**cache.file_facts(tmp / cache.TOKENIZER_FILE), **description["tokenizer"]},
        "verification": None,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "torch_threads": torch.get_num_threads(),
    }
    encoder = OnnxEncoder(tmp, query_cache_size=0, meta=meta)
    verification = verify_encoder(encoder, reference, VERIFICATION_TEXTS, threshold)
    fail_unless_passed(verification, f"the ONNX export of {source.name!r}")
    meta["verification"] = verification.as_dict()
    meta_path = tmp / cache.META_FILE
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    cache.fsync(meta_path)
    return meta


def export_model(
    model: str = DEFAULT_MODEL,
    out: Path | str = "encoder",
    *,
    st=None,
    threshold: float = DEFAULT_THRESHOLD,
    opset: int = OPSET,
    force: bool = False,
) -> dict:
    """Export, verify and cache ``model`` in ``out``; the description written (``encoder.json``)
    plus ``reused`` and ``seconds``. ``st``: the model already loaded as a SentenceTransformer
    (``clausewise ingest`` has it), else it is loaded here. An already usable cache of the same
    model is reused unless ``force``. :class:`ModelError` when the model cannot be exported or
    verification fails — then ``out`` is left as it was."""
    if threshold < cache.MIN_COSINE:
        raise ModelError(f"a threshold below {cache.MIN_COSINE} would write a cache the encoder refuses")
    started = time.perf_counter()
    out = Path(out).expanduser().absolute()
    source = resolve_source(model)
    with cache.export_lock(out):
        if not force:
            reason, meta = cache.cache_problem(out, model)
            if reason is None and meta is not None:
                return {**meta, "reused": True, "seconds": round(time.perf_counter() - started, 3)}
        cache.check_replaceable(out)
        st = st if st is not None else load_sentence_transformer(source)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the cache from a service account
            meta = _export_into(st, source, tmp, threshold=threshold, opset=opset)
            cache.publish(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return {**meta, "reused": False, "seconds": round(time.perf_counter() - started, 3)}


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Everything written to fd 1 (torch's exporter, C++ warnings) goes to stderr, so that
    stdout carries the JSON result line only."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.embedding.onnx_export", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a sentence-transformers name or folder")
    parser.add_argument("--out", required=True, type=Path, help="the cache folder to (re)write")
    parser.add_argument("--force", action="store_true", help="export even when the cache is usable")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="least cosine against torch")
    args = parser.parse_args(argv)
    try:
        with _stdout_to_stderr():
            meta = export_model(args.model, args.out, threshold=args.threshold, force=args.force)
        result = {
            "ok": True,
            "reused": meta["reused"],
            "out": str(Path(args.out).absolute()),
            "model": meta["model"]["name"],
            "dimension": meta["dimension"],
            "min_cosine": meta["verification"]["min_cosine"],
            "onnx_bytes": meta["onnx"]["size"] + meta["weights"]["size"],  # the graph and its weights
            "seconds": meta["seconds"],
        }
        code = ExitCode.OK
    except ModelError as exc:
        result, code = {"ok": False, "error": exc.message, "code": exc.code}, exc.exit_code
    except Exception as exc:  # noqa: BLE001 — the subprocess reports any failure as a JSON line
        result, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "code": "export_failed"}, ExitCode.FAILED
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
