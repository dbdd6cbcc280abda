"""Find the files to ingest under the given folders."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import pathspec

from ingest.errors import SourceNotFound
from ingest.loaders import SUPPORTED_SUFFIXES

IGNORE_FILE = ".clausewiseignore"


@dataclass(frozen=True)
class FoundFile:
    """A file to ingest: its path on disk and its ``source``, the path relative to its root."""

    path: Path
    source: str


@dataclass
class Discovery:
    files: list[FoundFile]
    skipped: list[tuple[str, str]]  # (source, reason) for unknown types


def _ignore_spec(root: Path, excludes: list[str]) -> pathspec.PathSpec:
    lines = list(excludes)
    ignore_file = root / IGNORE_FILE
    if ignore_file.is_file():
        lines += ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def discover(paths: list[Path], excludes: list[str] | None = None) -> Discovery:
    """Walk ``paths`` recursively, skipping hidden and ignored files.

    A folder's files get sources relative to that folder; a file given directly gets its
    own name. Unknown file types are listed in ``skipped`` rather than treated as errors; a
    path that does not exist is a :class:`~ingest.errors.SourceNotFound`.
    """
    excludes = excludes or []
    found: list[FoundFile] = []
    skipped: list[tuple[str, str]] = []
    for root in paths:
        root = root.resolve()
        if root.is_file():
            candidates = [(root, root.name)]
        elif root.is_dir():
            spec = _ignore_spec(root, excludes)
            candidates = []
            for dirpath, dirnames, filenames in os.walk(root):
                rel_dir = Path(dirpath).relative_to(root)
                dirnames[:] = sorted(
                    d for d in dirnames if not d.startswith(".") and not spec.match_file(f"{(rel_dir / d).as_posix()}/")
                )
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    rel = (rel_dir / name).as_posix()
                    if spec.match_file(rel):
                        continue
                    candidates.append((Path(dirpath) / name, rel))
        else:
            raise SourceNotFound(f"no such file or folder: {root}")
        for path, source in candidates:
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in excludes):
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append((source, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            found.append(FoundFile(path=path, source=source))
    return Discovery(files=found, skipped=skipped)
