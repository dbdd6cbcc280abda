"""Staging and commit: where uploads wait until the whole request has passed every check, and
how they move into the corpus folder.

Each file of a request streams into ``<corpus>/.uploads-tmp/<pid>-<random>.part`` (a hidden
folder, which ingestion never reads). Only when every file has passed the caps and the content
checks is any of them moved into place, each with one ``os.replace``, which is atomic: a crash
leaves either the old file or the new one, never half of one, and at worst a stale ``.part``
that :func:`clean_staging` removes at the next server start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import UploadRejected
from ingest.store.writer import fsync_dir
from service.rebuilds.process import pid_alive
from service.uploads.names import target_path

if TYPE_CHECKING:
    from service.uploads.reader import StagedFile

STAGING = ".uploads-tmp"
STALE_SECONDS = 24 * 3600


def staging_dir(corpus: Path) -> Path:
    return corpus / STAGING


def new_part(corpus: Path) -> Path:
    """A fresh staging file name of this process (the folder is created)."""
    folder = staging_dir(corpus)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{os.getpid()}-{secrets.token_hex(8)}.part"


def clean_staging(corpus: Path) -> int:
    """Remove staged files of processes that are gone (a crash mid-upload), and any older
    than a day. Returns how many were removed."""
    folder = staging_dir(corpus)
    removed = 0
    if not folder.is_dir():
        return 0
    for part in folder.glob("*.part"):
        pid = part.name.split("-", 1)[0]
        alive = pid.isdigit() and pid_alive(int(pid))
        try:
            stale = time.time() - part.stat().st_mtime > STALE_SECONDS
        except FileNotFoundError:
            continue
        if not alive or stale:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
                removed += 1
    return removed


def _same_content(path: Path, sha256: str) -> bool:
    from ingest.changes import file_hash

    try:
        return path.is_file() and file_hash(path) == sha256
    except OSError:
        return False


def commit(corpus: Path, files: list[StagedFile]) -> list[tuple[StagedFile, bool]]:
    """Move the staged files into the corpus folder, each with one atomic ``os.replace``;
    returns ``(file, written)`` pairs (``written`` is false when identical content was
    already there). Every target is checked before any file moves. Blocking: call it in a thread."""
    targets = [(staged, target_path(corpus, staged.source)) for staged in files]
    results = []
    for staged, target in targets:
        if _same_content(target, staged.sha256):
            with contextlib.suppress(FileNotFoundError):
                staged.path.unlink()
            results.append((staged, False))
            continue
        created = _make_folders(target.parent)
        with open(staged.path, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(staged.path, 0o644)
        os.replace(staged.path, target)
        fsync_dir(target.parent)  # the rename, then every folder it created, innermost first
        for folder in created:
            fsync_dir(folder.parent)
        results.append((staged, True))
    return results


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, innermost first. A name
    the file system refuses (too long, a file in the way) is a 4xx, never a 500."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    try:
        for path in reversed(missing):
            path.mkdir()
    except (FileExistsError, NotADirectoryError) as exc:
        raise UploadRejected(
            f"cannot create the folder {exc.filename}: a file of that name is in the way", status=409
        ) from exc
    except OSError as exc:
        raise UploadRejected(f"cannot create the folder {exc.filename}: {exc.strerror}") from exc
    return missing
