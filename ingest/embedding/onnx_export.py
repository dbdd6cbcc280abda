"""Export a sentence-transformers model to ONNX, verify it against torch, cache it atomically.

This module imports torch and sentence-transformers; the serving process never imports it.
The server runs it as a subprocess (``ingest.embedding.onnx_encoder.export_in_subprocess``)::

    python -m ingest.embedding.onnx_export --model all-MiniLM-L6-v2 --out index/encoder

which prints one JSON line on stdout — ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``
— and exits 0, or with ``ModelError``'s exit code (2) when the model cannot be exported or the
export does not reproduce torch.

What is exported: the model's transformer (``last_hidden_state`` of the Hugging Face model,
through ``torch.onnx.export(dynamo=False)``, dynamic batch and sequence axes). Pooling and L2
normalisation are done by the encoder in numpy, as ``encoder.json`` describes them (read from
the model's own ``Pooling`` module, configured by its ``1_Pooling/config.json``). Models with
other modules after pooling (``Dense``, ...) are refused: the caller keeps torch for them.

Verification: :data:`VERIFICATION_TEXTS` — short questions, passages longer than the model's
``max_seq_length`` (truncation), an empty string, non-ASCII text — embedded by the export one by
one (no padding), in padded batches of 32 and of 8, and through ``embed_query``, each compared
with ``SentenceTransformer.encode`` in fp32: every cosine must be ≥ the threshold (0.9999), else
:class:`ModelError` and nothing is written.

The cache is written into a temporary folder beside ``--out`` and renamed into place under a
lock file (``.<out>.lock``), so a reader sees either the old complete export or the new one, and
two processes exporting at once do the work once.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np

from ingest.embedding import onnx_encoder as enc
from ingest.embedding.source import (
    ModelSource,
    fingerprint,
    resolve_source,
    sha256_file,
)
from ingest.errors import ExitCode, ModelError
from ingest.settings import DEFAULT_MODEL

DEFAULT_THRESHOLD = enc.MIN_COSINE
OPSET = 17

_QUESTIONS = (
    "What obligations do refugees have towards the country that has taken them in?",
    "Can a state expel a refugee who is lawfully in its territory?",
    "Who decides whether a person qualifies for refugee status?",
    "Is there a right to elementary education for refugee children?",
    "When does the convention stop applying to a person?",
    "How long do you keep my personal information after I close my account?",
    "Do you sell my data to advertisers?",
    "Can I opt out of targeted advertising?",
    "What cookies does the website set and why?",
    "Who can I contact about a privacy complaint?",
    "Are children under 13 allowed to use the service?",
    "Is my payment card number stored on your servers?",
    "Does the treaty apply to territories for whose international relations a state is responsible?",
    "Which court settles disputes between the parties?",
    "reservations",
    "Article 33",
    "Quels sont les droits des réfugiés en matière de logement ?",
    "¿Puedo solicitar la eliminación de mis datos personales?",
    "Dürfen Flüchtlinge einer nichtselbständigen Arbeit nachgehen?",
    "難民の定義は何ですか",
    "What happens to my data if the company is sold — or goes bankrupt?! (asking for 2 friends)",
    "",
)

_PASSAGES = (
    (
        "The Contracting States shall not expel a refugee lawfully in their territory save on grounds of "
        "national security or public order. The expulsion of such a refugee shall be only in pursuance of a "
        "decision reached in accordance with due process of law. Except where compelling reasons of national "
        "security otherwise require, the refugee shall be allowed to submit evidence to clear himself, and to "
        "appeal to and be represented for the purpose before competent authority."
    ),
    (
        "We collect information you provide directly to us, such as when you create an account, subscribe to a "
        "newsletter, participate in a survey, fill out a form, request customer support or otherwise "
        "communicate with us. The types of information we may collect include your name, email address, postal "
        "address, phone number, and any other information you choose to provide."
    ),
    (
        "Each Party shall take the legislative and administrative measures necessary to ensure that the rights "
        "recognised in this Chapter are enjoyed without discrimination as to race, religion or country of "
        "origin, and shall report to the Secretary-General on the measures adopted within two years of the "
        "entry into force of this Convention for that Party."
    ),
    (
        "Cookies are small text files placed on your device. We use strictly necessary cookies to keep you "
        "signed in, analytics cookies to understand how the site is used, and advertising cookies set by third "
        "parties. You can block or delete cookies in your browser settings;\nsome features will then stop working."
    ),
    (
        "Any dispute between parties to this Convention relating to its interpretation or application, which "
        "cannot be settled by other means, shall be referred to the International Court of Justice at the "
        "request of any one of the parties to the dispute."
    ),
    (
        "Section 4.2  —  Retention.\tWe keep account data for as long as the account is active and for up to "
        "thirty-six (36) months afterwards, unless a longer period is required by law (e.g. tax records: 10 "
        "years). Backups are overwritten on a rolling 90-day cycle."
    ),
)

# One passage of an ingested passage's usual length (~170 word pieces), and two well past 256,
# so that truncation is checked too.
_LONG = (
    " ".join(_PASSAGES[3:6]),
    " ".join(_PASSAGES[0:3]) + " " + " ".join(_PASSAGES[0:3]),
    " ".join(_PASSAGES[3:6]) + "\n\n" + " ".join(_PASSAGES[1:4]) + " " + " ".join(_QUESTIONS[:8]),
)

VERIFICATION_TEXTS: tuple[str, ...] = (
    _QUESTIONS + _PASSAGES + _LONG + ("ARTICLE 1 — DEFINITION OF THE TERM \u201cREFUGEE\u201d",)
)
assert len(VERIFICATION_TEXTS) == 32


@dataclass
class Verification:
    """How an export compares with torch on the fixed texts."""

    passed: bool
    threshold: float
    min_cosine: float
    worst_check: str
    worst_text: str
    checks: dict[str, float] = field(default_factory=dict)  # check → its least cosine
    texts: int = 0
    texts_sha256: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _texts_digest(texts: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def load_sentence_transformer(source: ModelSource):
    """The model in fp32 on the CPU; :class:`ModelError` if it cannot be loaded."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(source.path), device="cpu")  # str: a PosixPath is refused
    except Exception as exc:
        raise ModelError(f"cannot load model {source.name!r} from {source.path} ({type(exc).__name__}: {exc})") from exc


def reference_embeddings(st, texts: Sequence[str]) -> np.ndarray:
    """``SentenceTransformer.encode`` in fp32, L2-normalised (as ``Embedder`` embeds)."""
    import torch

    with torch.inference_mode():
        vectors = st.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return np.asarray(vectors, dtype=np.float32)


def describe(st, source: ModelSource) -> dict:
    """What the encoder needs to reproduce ``st``: pooling, normalisation, prompt, tokenizer
    facts. :class:`ModelError` for a pipeline the ONNX encoder does not reproduce."""
    kinds = [type(module).__name__ for module in st]
    if len(kinds) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or any(k != "Normalize" for k in kinds[2:]):
        raise ModelError(
            f"model {source.name!r} is {' → '.join(kinds)}; the ONNX export reproduces Transformer → Pooling "
            "[→ Normalize] only"
        )
    transformer, pooling = st[0], st[1]
    for module in list(st)[2:]:
        if getattr(module, "module_input_name", "sentence_embedding") != "sentence_embedding":
            raise ModelError(
                f"model {source.name!r} normalises {module.module_input_name!r}, not the sentence embedding"
            )
    modes = pooling.pooling_mode
    modes = [modes] if isinstance(modes, str) else list(modes)
    unsupported = [m for m in modes if m not in enc.POOLING_MODES]
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

    pooling_config = None
    modules = source.path / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text(encoding="utf-8")):
            if module.get("type", "").endswith("Pooling"):
                config = source.path / module.get("path", "") / "config.json"
                if config.is_file():
                    pooling_config = json.loads(config.read_text(encoding="utf-8"))
    return {
        "pooling": {
            "modes": modes,
            "include_prompt": bool(getattr(pooling, "include_prompt", True)),
            "config": pooling_config,
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
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
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


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def verify_encoder(
    encoder: enc.OnnxEncoder,
    reference: np.ndarray,
    texts: Sequence[str] = VERIFICATION_TEXTS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Verification:
    """Compare ``encoder`` with ``reference`` (torch's embeddings of ``texts``): one by one with
    no padding, in padded batches of 32 and 8, and through ``embed_query``."""
    texts = list(texts)
    if reference.shape[0] != len(texts):
        raise ValueError("one reference vector per text")
    results: dict[str, np.ndarray] = {
        "single": np.vstack([encoder.embed_single(t) for t in texts]),
        "batch32": encoder.embed(texts, batch_size=32),
        "batch8": encoder.embed(texts, batch_size=8),
    }
    if reference.shape[1] != results["single"].shape[1]:
        raise ModelError(f"the export gives {results['single'].shape[1]}-d vectors, torch {reference.shape[1]}-d")
    rows = {name: np.arange(len(texts)) for name in results}
    # embed_query embeds the whitespace-normalised question: checked on texts it leaves as they are
    rows["query"] = np.array([i for i, t in enumerate(texts) if enc.normalise_question(t) == t], dtype=np.int64)
    if len(rows["query"]):
        results["query"] = np.vstack([encoder.embed_query(texts[i]) for i in rows["query"]])
    else:
        del rows["query"]
    cos = {name: _cosines(results[name], reference[rows[name]]) for name in rows}
    worst_check = min(cos, key=lambda k: float(cos[k].min()))
    worst = int(rows[worst_check][cos[worst_check].argmin()])
    minimum = float(cos[worst_check].min())
    return Verification(
        passed=bool(minimum >= threshold),
        threshold=threshold,
        min_cosine=minimum,
        worst_check=worst_check,
        worst_text=texts[worst][:120],
        checks={k: float(v.min()) for k, v in cos.items()},
        texts=len(texts),
        texts_sha256=_texts_digest(texts),
    )


def _fail_unless_passed(verification: Verification, what: str) -> None:
    if not verification.passed:
        raise ModelError(
            f"{what} does not reproduce the torch embeddings: cosine {verification.min_cosine:.6f} < "
            f"{verification.threshold} ({verification.worst_check}, on {verification.worst_text!r}); "
            "sentence-transformers stays in use"
        )


def verify(
    cache_dir: Path | str,
    reference_model: str | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    texts: Sequence[str] = VERIFICATION_TEXTS,
) -> Verification:
    """Verify the export in ``cache_dir`` against torch (the model it records, or
    ``reference_model``); :class:`ModelError` when it does not reproduce it."""
    meta = enc.read_meta(cache_dir)
    source = resolve_source(reference_model or meta["model"]["path"])
    st = load_sentence_transformer(source)
    encoder = enc.OnnxEncoder(cache_dir, query_cache_size=0, meta=meta)
    verification = verify_encoder(encoder, reference_embeddings(st, texts), texts, threshold)
    _fail_unless_passed(verification, f"the export in {cache_dir}")
    return verification


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for package in ("torch", "transformers", "sentence-transformers", "onnxruntime", "onnx", "tokenizers"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def _file_facts(path: Path) -> dict:
    st = path.stat()
    return {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _export_lock(out: Path) -> Iterator[None]:
    """One exporter of ``out`` at a time (a second one waits, then finds the cache done)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    with open(lock_path, "a+") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not Linux: no lock, the renames stay atomic
            pass
        yield


def _check_replaceable(out: Path) -> None:
    """An existing ``out`` is replaced only when it is an empty folder or a previous export."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / enc.META_FILE).exists())):
        raise ModelError(f"{out} exists and is not an ONNX export cache: choose another folder")


def _publish(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``, replacing a previous export (never another kind of folder)."""
    if out.exists():
        _check_replaceable(out)
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)
    with contextlib.suppress(OSError):
        _fsync(out.parent)


def export_model(
    model: str = DEFAULT_MODEL,
    out: Path | str = "encoder",
    *,
    threshold: float = DEFAULT_THRESHOLD,
    opset: int = OPSET,
    force: bool = False,
) -> dict:
    """Export, verify and cache ``model`` in ``out``; the description written (``encoder.json``)
    plus ``reused`` and ``seconds``. An already usable cache of the same model is reused unless
    ``force``. :class:`ModelError` when the model cannot be exported or verification fails —
    then ``out`` is left as it was."""
    if threshold < enc.MIN_COSINE:
        raise ModelError(f"a threshold below {enc.MIN_COSINE} would write a cache the encoder refuses")
    started = time.perf_counter()
    out = Path(out).expanduser().absolute()
    source = resolve_source(model)
    with _export_lock(out):
        if not force:
            reason, meta = enc.cache_problem(out, model)
            if reason is None and meta is not None:
                return {**meta, "reused": True, "seconds": round(time.perf_counter() - started, 3)}
        _check_replaceable(out)
        import torch

        st = load_sentence_transformer(source)
        description = describe(st, source)
        model_facts = {"name": source.name, "path": str(source.path), **fingerprint(source.path)}
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the cache from a service account
            onnx_path = tmp / enc.ONNX_FILE
            inputs = _export_onnx(st, onnx_path, opset)
            _fsync(onnx_path)
            backend = st[0].tokenizer.backend_tokenizer
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_str(backend.to_str())  # a copy: the model's own stays as is
            tokenizer.no_padding()
            tokenizer.no_truncation()
            tokenizer.save(str(tmp / enc.TOKENIZER_FILE))
            _fsync(tmp / enc.TOKENIZER_FILE)

            reference = reference_embeddings(st, VERIFICATION_TEXTS)
            meta = {
                "format": enc.FORMAT,
                "model": model_facts,
                "dimension": int(reference.shape[1]),
                "max_seq_length": description["max_seq_length"],
                "pooling": description["pooling"],
                "normalize_module": description["normalize_module"],
                "prompt": description["prompt"],
                "modules": description["modules"],
                "onnx": {**_file_facts(onnx_path), "opset": opset, "inputs": inputs, "output": "last_hidden_state"},
                "tokenizer": {**_file_facts(tmp / enc.TOKENIZER_FILE), **description["tokenizer"]},
                "verification": None,
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "versions": _versions(),
                "torch_threads": torch.get_num_threads(),
            }
            encoder = enc.OnnxEncoder(tmp, query_cache_size=0, meta=meta)
            verification = verify_encoder(encoder, reference, VERIFICATION_TEXTS, threshold)
            _fail_unless_passed(verification, f"the ONNX export of {source.name!r}")
            meta["verification"] = verification.as_dict()
            meta["seconds"] = round(time.perf_counter() - started, 3)
            meta_path = tmp / enc.META_FILE
            meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            _fsync(meta_path)
            _publish(tmp, out)
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
            "onnx_bytes": meta["onnx"]["size"],
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
