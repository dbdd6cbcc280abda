"""Finding or making the verified ONNX export a query encoder needs.

- :func:`ensure_encoder` — for a serving process (no torch): the cache's encoder, exporting it
  first in a subprocess (:func:`export_in_subprocess`) when the cache is missing, stale or
  corrupted; ``(None, reason)`` when that fails, and the caller falls back to torch.
- :func:`export_beside_index` — for ``clausewise ingest`` (torch and the model are loaded
  already): after a build is published, make ``INDEX/encoder`` fresh in-process, so that the
  server that opens the index next starts in a second instead of exporting for half a minute.

Imports nothing heavy at module level (torch only inside :func:`export_beside_index`, which
runs in the ingesting process).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.embedding.cache import (
    META_FILE,
    ONNX_FILE,
    TOKENIZER_FILE,
    cache_problem,
    check_replaceable,
    encoder_dir,
    export_lock,
    publish,
)
from ingest.errors import ModelError

if TYPE_CHECKING:
    from ingest.embedder import Embedder
    from ingest.embedding.onnx_encoder import OnnxEncoder
    from ingest.settings import Settings

log = logging.getLogger(__name__)

# Model name (as an index records it) → a fresh cache this process exported or loaded: a later
# index of the same model gets hard links to it (milliseconds) instead of a new export (~15 s).
_FRESH: dict[str, Path] = {}


def export_in_subprocess(
    model: str, out: Path | str, *, force: bool = False, timeout: float = 900, python: str | None = None
) -> dict:
    """Run ``python -m ingest.embedding.onnx_export`` (torch lives in the child only) and return
    its JSON result; :class:`ModelError` when it fails, says nothing, or outlasts ``timeout``."""
    cmd = [python or sys.executable, "-m", "ingest.embedding.onnx_export", "--model", str(model), "--out", str(out)]
    if force:
        cmd.append("--force")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"the ONNX export of {model!r} took more than {timeout:.0f} s") from exc
    result = None
    for line in reversed(proc.stdout.splitlines()):
        if line.strip().startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
    if not isinstance(result, dict):
        tail = (proc.stderr or "").strip()[-1500:]
        raise ModelError(f"the ONNX export of {model!r} failed (exit {proc.returncode}) without a result: {tail}")
    if not result.get("ok"):
        raise ModelError(f"the ONNX export of {model!r} failed: {result.get('error')}")
    return result


def ensure_encoder(
    model: str,
    cache_dir: Path | str,
    *,
    export: bool = True,
    timeout: float = 900,
    **encoder_kwargs,
) -> tuple[OnnxEncoder | None, str]:
    """The verified ONNX encoder of ``model`` from ``cache_dir``, exporting it first (in a
    subprocess) when the cache is missing, stale or corrupted; ``(None, reason)`` when that is
    impossible — the caller then falls back to sentence-transformers and logs ``reason``.
    ``encoder_kwargs`` go to :func:`~ingest.embedding.onnx_encoder.try_load`."""
    from ingest.embedding.onnx_encoder import try_load

    encoder, reason = try_load(cache_dir, model, **encoder_kwargs)
    if encoder is None and export:
        log.info("exporting the query encoder of %s to %s (once; ~30 s): %s", model, cache_dir, reason)
        try:
            export_in_subprocess(model, cache_dir, timeout=timeout)
        except ModelError as exc:
            return None, f"{reason}; exporting it failed: {exc.message}"
        encoder, reason = try_load(cache_dir, model, **encoder_kwargs)
    if encoder is not None:
        _FRESH[encoder.name] = Path(cache_dir)
    return encoder, reason


def _link_copy(src: Path, out: Path) -> None:
    """A copy of the cache ``src`` published as ``out``: hard links where the file system
    allows (the files are never written in place: a new export replaces the folder)."""
    with export_lock(out):
        check_replaceable(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            os.chmod(tmp, 0o755)
            for name in (ONNX_FILE, TOKENIZER_FILE, META_FILE):
                try:
                    os.link(src / name, tmp / name)
                except OSError:  # another file system: a real copy keeps size and mtime
                    shutil.copy2(src / name, tmp / name)
            publish(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def export_beside_index(index_dir: Path, embedder: Embedder | None, model: str) -> str | None:
    """Make ``INDEX/encoder`` a fresh export of ``model``; ``None`` when it is, else why not
    (the caller logs it: the index itself is fine, a server will try again or use torch).
    ``embedder``: the ingesting process's model, whose loaded SentenceTransformer is exported
    rather than a second copy."""
    out = encoder_dir(index_dir)
    reason, _ = cache_problem(out, model)
    if reason is None:
        _FRESH[model] = out
        return None
    known = _FRESH.get(model)
    try:
        if known is not None and known != out and cache_problem(known, model)[0] is None:
            _link_copy(known, out)
        else:
            from ingest.embedding.onnx_export import export_model

            export_model(model, out, st=embedder.model if embedder is not None else None)
    except Exception as exc:  # noqa: BLE001 — the build is published already: no export failure may undo that
        return str(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
    reason, _ = cache_problem(out, model)
    if reason is None:
        _FRESH[model] = out
    return reason


def prepare_query_encoder(index_dir: Path, embedder: Embedder, settings: Settings) -> None:
    """The step after a build is published: the query encoder beside it is made fresh, unless
    the service is configured for torch (``CLAUSEWISE_QUERY_ENCODER=torch``). A failure is a
    WARNING, never an error of the ingest."""
    if settings.query_encoder == "torch":
        return
    reason = export_beside_index(index_dir, embedder, embedder.name)
    if reason:
        log.warning("no ONNX query encoder beside the index (the server will use sentence-transformers): %s", reason)
