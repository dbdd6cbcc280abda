"""The names an upload is stored under: safe file names, safe folders, and a target path that
stays inside the corpus folder. Every refusal is an :class:`~ingest.errors.UploadRejected`
(400, or 415 for an unsupported type, 409 for a target that must not be replaced)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path, PurePosixPath

from ingest.errors import UploadRejected
from ingest.loaders import SUPPORTED_SUFFIXES

MAX_NAME_BYTES = 200  # per file or folder name; file systems stop at 255
MAX_FOLDER_DEPTH = 8

_UNSAFE_CHARS = re.compile(r'[<>:"|?*\\]')
# Removed: control characters (C0, DEL, C1; whitespace among them becomes a space first),
# bidirectional controls, which make a name display other than it is ("txt.exe" shown as
# "exe.txt"), zero-width spaces and unpaired surrogates.
_REMOVED_CHARS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)


def _clean_component(raw: str) -> str:
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw))
    name = _REMOVED_CHARS.sub("", name).strip()
    return re.sub(r" +", " ", _UNSAFE_CHARS.sub("_", name))


def suffix_of(name: str) -> str:
    """The lower-case extension, with its dot (``.pdf``); ``""`` when there is none."""
    return PurePosixPath(name).suffix.lower()


def safe_filename(raw: str) -> str:
    """The name a file is stored under: the last path component of what the client sent
    (``../../etc/x.txt`` → ``x.txt``, ``C:\\docs\\x.txt`` → ``x.txt``), control and shell-special
    characters replaced. Hidden names and unsupported types are refused."""
    base = re.split(r"[/\\]", raw or "")[-1]
    name = _clean_component(base)
    if not name or name in {".", ".."}:
        raise UploadRejected(f"file name {raw!r} is empty once its folder part is removed")
    if name.startswith("."):
        raise UploadRejected(f"file name {name!r} is hidden (starts with '.'); hidden files are not stored")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UploadRejected(f"file name {name[:40]!r}… is longer than {MAX_NAME_BYTES} bytes")
    suffix = suffix_of(name)
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadRejected(
            f"{name}: unsupported file type {suffix or '(none)'}; allowed: {', '.join(sorted(SUPPORTED_SUFFIXES))}",
            status=415,
        )
    return name


def safe_folder(raw: str | None) -> str:
    """A relative folder inside the corpus (``treaties/2024``); ``""`` for the corpus root."""
    if raw is None or not raw.strip():
        return ""
    parts = [p for p in re.split(r"[/\\]", raw.strip()) if p not in {"", "."}]
    if raw.strip().startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw.strip()):
        raise UploadRejected(f"folder {raw!r} must be relative to the corpus folder")
    clean = []
    for part in parts:
        if part == "..":
            raise UploadRejected(f"folder {raw!r} leaves the corpus folder ('..')")
        name = _clean_component(part)
        if not name or name.startswith("."):
            raise UploadRejected(f"folder {raw!r} has a hidden or empty component {part!r}")
        if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise UploadRejected(f"folder name {name[:40]!r}… is longer than {MAX_NAME_BYTES} bytes")
        clean.append(name)
    if len(clean) > MAX_FOLDER_DEPTH:
        raise UploadRejected(f"folder {raw!r} is nested deeper than {MAX_FOLDER_DEPTH} levels")
    return "/".join(clean)


def target_path(corpus: Path, source: str) -> Path:
    """``corpus / source``, refusing anything that would land outside the corpus folder
    (a symlinked sub-folder pointing elsewhere included)."""
    root = corpus.resolve()
    path = root / source
    parent = path.parent.resolve()
    if parent != root and root not in parent.parents:
        raise UploadRejected(f"{source!r} resolves outside the corpus folder")
    if path.is_symlink():
        raise UploadRejected(f"{source} is a symbolic link in the corpus folder; refusing to replace it", status=409)
    if path.is_dir():
        raise UploadRejected(f"{source} is a folder in the corpus folder", status=409)
    for folder in reversed(path.relative_to(root).parents[:-1]):  # outermost first
        if (root / folder).exists() and not (root / folder).is_dir():
            raise UploadRejected(f"{folder} is a file in the corpus folder, not a folder", status=409)
    return path
