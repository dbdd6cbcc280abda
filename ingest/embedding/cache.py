"""The on-disk cache of an exported model: its layout, when it may be used, how it is replaced.

A cache folder holds ``model.onnx`` (the graph), ``model.onnx.data`` (its weights, kept apart
so that onnxruntime memory-maps them instead of copying them into each session: the workers
of a machine share those pages; each session still keeps ~45 MiB of its own, the matrices
onnxruntime repacks for its kernels), ``tokenizer.json`` and ``encoder.json`` (pooling,
normalisation, ``max_seq_length``, the model's name, fingerprints of its weights and of the
exported files, and the verification result). The service keeps it beside the index, in
``INDEX/encoder`` (:func:`encoder_dir`): outside the builds, so rebuilds never remove it; a
per-user copy per model (:func:`shared_encoder_dir`) lets a new index link to it instead of
exporting again.

:func:`cache_problem` refuses a cache that is missing, of another format, unverified, stale (the
model's weights or configuration changed since) or corrupted (``model.onnx``, its
weights or ``tokenizer.json`` changed), and says why. The exporter writes a new cache into a
temporary folder beside it and renames it into place under a lock (:func:`export_lock`,
:func:`publish`), so a reader sees either the old complete export or the new one. Files are
never written in place: a file copied over a mapped one would crash the processes reading it.

Imports nothing heavier than :mod:`ingest.embedding.source`: no numpy, onnxruntime or torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from ingest.embedding.source import matches, resolve_source, sha256_file
from ingest.errors import ModelError

FORMAT = 3  # of encoder.json; a cache of another format is refused (re-exported). 2: weights apart; 3: eager attention
META_FILE = "encoder.json"
ONNX_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"  # the graph's external data, named by model.onnx
TOKENIZER_FILE = "tokenizer.json"
EXPORT_FILES = (ONNX_FILE, WEIGHTS_FILE, TOKENIZER_FILE, META_FILE)  # what a copy of a cache holds
ENCODER_DIR = "encoder"  # the cache's folder inside an index folder
MIN_COSINE = 0.9999  # the least agreement with torch a cache may record to be used


def encoder_dir(index_dir: Path | str) -> Path:
    """Where the query encoder of the index in ``index_dir`` is cached."""
    return Path(index_dir) / ENCODER_DIR


def shared_encoder_dir(root: Path | str, model: str) -> Path:
    """The per-user cache of ``model``'s export under ``root`` (``Settings.encoder_cache``):
    one folder a model name or path and cache format, readable by people and unique by a hash
    of the name. The format is in the name so that two versions of clausewise a user runs keep
    an export each, instead of replacing each other's at every build."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model).name or model).strip("-.")[:48] or "model"
    return Path(root) / f"{slug}-{hashlib.sha256(model.encode()).hexdigest()[:12]}-f{FORMAT}"


def read_meta(cache_dir: Path | str) -> dict:
    """``encoder.json`` of a cache folder; :class:`ModelError` if missing or unreadable."""
    path = Path(cache_dir) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"no ONNX export in {cache_dir} ({META_FILE} missing)") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{path} is not an encoder description")
    return meta


def _verification_problem(cache_dir: Path, meta: dict) -> str | None:
    if meta.get("format") != FORMAT:
        return f"the export in {cache_dir} has format {meta.get('format')!r}, not {FORMAT}: export again"
    verification = meta.get("verification") or {}
    cosine = verification.get("min_cosine")
    if verification.get("passed") is not True or not isinstance(cosine, (int, float)) or cosine < MIN_COSINE:
        return f"the export in {cache_dir} is not verified against torch (min cosine {cosine!r})"
    return None


def _files_problem(cache_dir: Path, meta: dict, strict: bool) -> str | None:
    """Whether ``model.onnx``, its weights and ``tokenizer.json`` are still the files that
    were verified."""
    for key, name in (("onnx", ONNX_FILE), ("weights", WEIGHTS_FILE), ("tokenizer", TOKENIZER_FILE)):
        path, facts = cache_dir / name, meta.get(key) or {}
        try:
            st = path.stat()
        except OSError:
            return f"the export in {cache_dir} is incomplete ({name} missing)"
        if st.st_size != facts.get("size"):
            return f"the export in {cache_dir} is corrupted ({name} changed size)"
        unchanged = st.st_mtime_ns == facts.get("mtime_ns") and not strict
        if not unchanged and sha256_file(path) != facts.get("sha256"):
            return f"the export in {cache_dir} is corrupted ({name} differs from the verified export)"
    return None


def cache_problem(
    cache_dir: Path | str, model: str | None = None, *, strict: bool = False
) -> tuple[str | None, dict | None]:
    """``(None, meta)`` when ``cache_dir`` holds a usable export (of ``model`` when given),
    else ``(reason, meta or None)``. ``strict`` re-hashes every file even when its size and
    mtime are unchanged."""
    cache_dir = Path(cache_dir)
    try:
        meta = read_meta(cache_dir)
    except ModelError as exc:
        return exc.message, None
    problem = _verification_problem(cache_dir, meta)
    if problem:
        return problem, meta
    recorded = meta.get("model") or {}
    source_path = Path(recorded.get("path", ""))
    if model is not None:
        try:
            source = resolve_source(model)
        except ModelError as exc:
            return exc.message, meta
        if source.name != recorded.get("name"):
            return f"the export in {cache_dir} is of {recorded.get('name')!r}, not {source.name!r}", meta
        source_path = source.path
    if not source_path.is_dir():
        return f"the exported model's folder {source_path} is gone", meta
    stale = matches(source_path, recorded, strict=strict)
    if stale:
        return f"the export in {cache_dir} is stale: {stale}", meta
    return _files_problem(cache_dir, meta, strict), meta


# -- writing a cache ---------------------------------------------------------------------


def file_facts(path: Path) -> dict:
    """What :func:`cache_problem` later checks of an exported file."""
    st = path.stat()
    return {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def export_lock(out: Path) -> Iterator[None]:
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


def check_replaceable(out: Path) -> None:
    """An existing ``out`` is replaced only when it is an empty folder or a previous export."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / META_FILE).exists())):
        raise ModelError(f"{out} exists and is not an ONNX export cache: choose another folder")


def publish(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``, replacing a previous export (never another kind of folder)."""
    if out.exists():
        check_replaceable(out)
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
        fsync(out.parent)
