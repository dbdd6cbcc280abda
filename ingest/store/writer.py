"""Publishing generations atomically, under the one writer's lock, and removing what no
reader can hold any more.

A segment is written into ``index/.tmp-*``, fsynced and renamed into ``segments/``
(:func:`~ingest.store.segment.write_segment`); a generation likewise into ``generations/``,
and only then made ``current`` by replacing the link in one rename, each rename followed by
an fsync of the folder it happened in (the layout is in :mod:`ingest.store.format`). A crash
or Ctrl-C at any point leaves the previous ``current`` untouched; the next writer removes the
leftovers (:func:`clean_leftovers`). What is kept is decided by link history, not by time:
the current generation and its ``parent`` (the one current before it, which a reader may
still hold), and every segment either names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from ingest.errors import IndexBusyError
from ingest.store.format import (
    CURRENT,
    GENERATIONS,
    LOCK,
    MANIFEST,
    SEGMENTS,
    TMP_PREFIX,
    Manifest,
    SegmentRef,
    deleted_file,
)
from ingest.store.segment import fsync_dir, fsync_tree
from ingest.types import Passage

OLD_BUILDS = "builds"  # where format 1 kept its builds; removed once no reader can hold one

__all__ = ["clean_leftovers", "contextual_text", "fsync_dir", "fsync_tree", "publish", "write_lock"]


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, flushed to disk, then
    renamed over it, so a crash leaves the old content or the new, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def contextual_text(passage: Passage, title: str) -> str:
    """What gets embedded and BM25-indexed: the passage under its document title and section."""
    head = f"{title} — {passage.section}" if passage.section else title
    return f"{head}\n{passage.text}"


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock, or raise :class:`~ingest.errors.IndexBusyError` at once."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(f"another process is writing the index in {index_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _current_name(index_dir: Path) -> str | None:
    """The generation ``current`` names, if it names one of ``generations/``."""
    try:
        target = os.readlink(index_dir / CURRENT)
    except OSError:
        return None
    parts = Path(target).parts
    return parts[-1] if len(parts) == 2 and parts[0] == GENERATIONS else None


def _recorded(generation: Path) -> tuple[str | None, list[str]]:
    """The parent and the segment ids a generation's manifest records (read leniently: this
    decides what to keep, so an unreadable manifest keeps everything)."""
    data = json.loads((generation / MANIFEST).read_text())
    return data.get("parent"), [str(s["id"]) for s in data.get("segments") or ()]


def clean_leftovers(index_dir: Path) -> None:
    """Remove unfinished writes (``.tmp-*``), generations other than the current one and its
    parent, and segments neither of them names."""
    for tmp in index_dir.glob(f"{TMP_PREFIX}*"):
        if tmp.is_symlink() or tmp.is_file():  # a `current` link never renamed into place
            tmp.unlink(missing_ok=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    current = _current_name(index_dir)
    generations = index_dir / GENERATIONS
    if current is None or not (generations / current).is_dir():
        return  # no generation published (or a format 1 index): nothing else is ours to judge
    try:
        parent, segments = _recorded(generations / current)
        keep = {current}
        if parent is not None and (generations / parent).is_dir():
            keep.add(parent)
            segments += _recorded(generations / parent)[1]
    except (OSError, ValueError, TypeError, KeyError):
        return
    for old in generations.iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for old in (index_dir / SEGMENTS).iterdir() if (index_dir / SEGMENTS).is_dir() else ():
        if old.name not in segments:
            shutil.rmtree(old, ignore_errors=True)
    if parent in keep - {current} and (index_dir / OLD_BUILDS).is_dir():
        shutil.rmtree(index_dir / OLD_BUILDS, ignore_errors=True)  # no reader holds a format 1 build now
    fsync_dir(index_dir)


def publish(index_dir: Path, manifest: Manifest, segments: list[SegmentRef], deleted: Mapping[str, np.ndarray]) -> Path:
    """Publish a generation of ``segments`` (written already) with ``deleted`` rows per segment
    id, as ``current``; the generation folder. Call under :func:`write_lock`."""
    refs = [dataclasses.replace(s, deleted=len(deleted.get(s.id, ()))) for s in segments]
    manifest = dataclasses.replace(manifest, segments=tuple(refs), parent=_current_name(index_dir))
    generations = index_dir / GENERATIONS
    generations.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        for ref in refs:
            if ref.deleted:
                np.save(deleted_file(tmp, ref.id), np.unique(np.asarray(deleted[ref.id], dtype=np.int32)))
        (tmp / MANIFEST).write_text(manifest.dumps())
        fsync_tree(tmp)
        final = generations / manifest.index_version
        if final.exists():
            final = generations / f"{manifest.index_version}-{uuid.uuid4().hex[:6]}"
        os.rename(tmp, final)
        fsync_dir(generations)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = index_dir / f"{TMP_PREFIX}link-{uuid.uuid4().hex[:8]}"
    os.symlink(Path(GENERATIONS) / final.name, link_tmp)
    os.replace(link_tmp, index_dir / CURRENT)  # the atomic switch
    fsync_dir(index_dir)
    clean_leftovers(index_dir)
    return final
