"""Finding or making the verified ONNX export a query encoder needs.

- :func:`ensure_encoder` — for a serving process (no torch): the cache's encoder, exporting it
  first in a subprocess (:func:`export_in_subprocess`) when the cache is missing, stale or
  corrupted; ``(None, reason)`` when that fails, and the caller falls back to torch.
- :func:`export_beside_index` — for ``clausewise ingest`` (torch and the model are loaded
  already): after a build is published, make ``INDEX/encoder`` fresh in-process, so that the
  server that opens the index next starts in a second instead of exporting for half a minute.

Both first look for a fresh export to hard-link instead of exporting: one this process made
(``_FRESH``), then the per-user one of ``Settings.encoder_cache``
(:func:`~ingest.embedding.cache.shared_encoder_dir`), which every new export also fills. Any
copy is checked against the model (:func:`~ingest.embedding.cache.cache_problem`) before use.

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
    EXPORT_FILES,
    cache_problem,
    check_replaceable,
    encoder_dir,
    export_lock,
    publish,
    shared_encoder_dir,
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


def _shared_fresh(shared: Path | None, model: str) -> Path | None:
    """The per-user export of ``model`` under ``shared`` when it is there and fresh. Whatever is
    wrong with that folder only means it is not used: it is an optimisation, never a failure."""
    if shared is None:
        return None
    folder = shared_encoder_dir(shared, model)
    try:
        return folder if cache_problem(folder, model)[0] is None else None
    except Exception as exc:  # noqa: BLE001 — e.g. an encoder.json of the right format and wrong types
        log.info("the ONNX export in %s is not used: %s: %s", folder, type(exc).__name__, exc)
        return None


def fresh_export(index_dir: Path, model: str, shared: Path | None) -> Path | None:
    """A fresh, verified export of ``model`` at hand without exporting: ``INDEX/encoder``, else
    the per-user copy under ``shared``; ``None`` when neither is."""
    out = encoder_dir(index_dir)
    try:
        if cache_problem(out, model)[0] is None:
            return out
    except Exception as exc:  # noqa: BLE001 — see _shared_fresh
        log.info("the ONNX export in %s is not used: %s: %s", out, type(exc).__name__, exc)
    return _shared_fresh(shared, model)


def _share(out: Path, model: str, shared: Path | None) -> None:
    """Make the fresh export ``out`` the per-user copy of ``model`` too (hard links); best
    effort: a cache folder that cannot be written only costs the next index an export."""
    if shared is None:
        return
    folder = shared_encoder_dir(shared, model)
    try:
        if cache_problem(folder, model)[0] is None:
            return
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _link_copy(out, folder)
    except Exception as exc:  # noqa: BLE001 — see _shared_fresh
        log.info("the ONNX export of %s is not kept in %s for other indexes: %s", model, folder, exc)


def _linked(known: Path, out: Path, model: str) -> bool:
    """Link the fresh export ``known`` to ``out``; False (nothing to undo: ``out`` is then
    exported as if there had been no copy) when that fails or the result is not fresh, e.g. the
    copy was replaced or removed in between."""
    try:
        _link_copy(known, out)
        return cache_problem(out, model)[0] is None
    except ModelError:  # something that is no export stands at ``out``: exporting cannot help
        raise
    except Exception as exc:  # noqa: BLE001
        log.info("linking the ONNX export %s to %s failed (%s): exporting instead", known, out, exc)
        return False


def ensure_encoder(
    model: str,
    cache_dir: Path | str,
    *,
    export: bool = True,
    shared: Path | None = None,
    timeout: float = 900,
    **encoder_kwargs,
) -> tuple[OnnxEncoder | None, str]:
    """The verified ONNX encoder of ``model`` from ``cache_dir``; when that cache is missing,
    stale or corrupted, a fresh per-user one (under ``shared``) is linked there, or else the
    model is exported (in a subprocess). ``(None, reason)`` when all that is impossible — the
    caller then falls back to sentence-transformers and logs ``reason``. ``export=False``
    writes nothing. ``encoder_kwargs`` go to :func:`~ingest.embedding.onnx_encoder.try_load`."""
    from ingest.embedding.onnx_encoder import try_load

    cache_dir = Path(cache_dir)
    encoder, reason = try_load(cache_dir, model, **encoder_kwargs)
    if encoder is None and export:
        known = _shared_fresh(shared, model)
        try:
            linked = known is not None and _linked(known, cache_dir, model)
            if not linked:
                log.info("exporting the query encoder of %s to %s (once; ~30 s): %s", model, cache_dir, reason)
                export_in_subprocess(model, cache_dir, timeout=timeout)
        except (ModelError, OSError) as exc:
            return None, f"{reason}; making it failed: {getattr(exc, 'message', None) or exc}"
        encoder, reason = try_load(cache_dir, model, **encoder_kwargs)
        if encoder is not None and not linked:
            _share(cache_dir, model, shared)
    if encoder is not None:
        _FRESH[encoder.name] = cache_dir
    return encoder, reason


def _link_copy(src: Path, out: Path) -> None:
    """A copy of the cache ``src`` published as ``out``: hard links where the file system
    allows (the files are never written in place: a new export replaces the folder)."""
    with export_lock(out):
        check_replaceable(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            os.chmod(tmp, 0o755)
            for name in EXPORT_FILES:
                try:
                    os.link(src / name, tmp / name)
                except OSError:  # another file system: a real copy keeps size and mtime
                    shutil.copy2(src / name, tmp / name)
            publish(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def export_beside_index(
    index_dir: Path, embedder: Embedder | None, model: str, shared: Path | None = None
) -> str | None:
    """Make ``INDEX/encoder`` a fresh export of ``model``; ``None`` when it is, else why not
    (the caller logs it: the index itself is fine, a server will try again or use torch).
    ``embedder``: the ingesting process's model, whose loaded SentenceTransformer is exported
    rather than a second copy. ``shared``: the per-user cache (``Settings.encoder_cache``)
    linked from when fresh, and filled after an export."""
    out = encoder_dir(index_dir)
    reason, _ = cache_problem(out, model)
    if reason is None:
        _FRESH[model] = out
        return None
    known = _FRESH.get(model)
    if known is None or known == out or cache_problem(known, model)[0] is not None:
        known = _shared_fresh(shared, model)
    exported = False
    try:
        if known is None or not _linked(known, out, model):
            exported = True
            from ingest.embedding.onnx_export import export_model

            export_model(model, out, st=embedder.model if embedder is not None else None)
    except Exception as exc:  # noqa: BLE001 — the build is published already: no export failure may undo that
        return str(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
    reason, _ = cache_problem(out, model)
    if reason is None:
        _FRESH[model] = out
        if exported:
            _share(out, model, shared)
    return reason


def prepare_query_encoder(index_dir: Path, embedder: Embedder, settings: Settings) -> None:
    """The step after a build is published: the query encoder beside it is made fresh, unless
    the service is configured for torch (``CLAUSEWISE_QUERY_ENCODER=torch``). A failure is a
    WARNING, never an error of the ingest."""
    if settings.query_encoder == "torch":
        return
    reason = export_beside_index(index_dir, embedder, embedder.name, settings.encoder_cache)
    if reason:
        log.warning("no ONNX query encoder beside the index (the server will use sentence-transformers): %s", reason)
