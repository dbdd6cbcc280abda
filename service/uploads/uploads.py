"""Uploads into the served corpus folder: streamed, capped, sniffed, sanitised, atomic per file.

A request body is parsed as it arrives (never spooled whole to memory or ``/tmp``): each file
goes to ``<corpus>/.uploads-tmp/<pid>-<random>.part`` (hidden, so discovery never sees it)
while its size is counted and its SHA-256 computed. Only when every file of the request has
passed the caps and the content checks is any of them moved into place with ``os.replace``,
which is atomic: a crash leaves either the old file or the new one, never half of one, and
at worst a stale ``.part`` that the next server start removes.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ingest.loaders import HTML_SUFFIXES, PDF_SUFFIXES, SUPPORTED_SUFFIXES
from ingest.store.index import fsync_dir
from service.rebuilds.jobs import pid_alive

STAGING = ".uploads-tmp"
HEAD_BYTES = 64 * 1024  # what content sniffing looks at
MAX_FIELD_BYTES = 4096  # the non-file fields (``folder``)
MAX_NAME_BYTES = 200
MAX_FOLDER_DEPTH = 8
STALE_SECONDS = 24 * 3600

# Formats that are certainly not text, whatever the extension claims.
_BINARY_MAGIC = (
    b"%PDF-", b"PK\x03\x04", b"\x7fELF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"BZh",
    b"\xfd7zXZ", b"Rar!", b"7z\xbc\xaf", b"\xd0\xcf\x11\xe0", b"MZ", b"\x00asm",
)
_HTML_TAG = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|title|meta|p|div|h[1-6]|article|section|main|table|ul|ol|span|a)[\s>/]",
    re.IGNORECASE,
)
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\]')


class UploadError(Exception):
    """A request to refuse: ``status`` is the HTTP status, the message says what to change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- names -------------------------------------------------------------------------------


def _clean_component(raw: str) -> str:
    name = unicodedata.normalize("NFC", raw).strip()
    name = _UNSAFE_CHARS.sub("_", name)
    return re.sub(r"\s+", " ", name)


def safe_filename(raw: str) -> str:
    """The name a file is stored under: the last path component of what the client sent
    (``../../etc/x.txt`` → ``x.txt``, ``C:\\docs\\x.txt`` → ``x.txt``), control and shell-special
    characters replaced. Hidden names and unsupported types are refused."""
    base = re.split(r"[/\\]", raw or "")[-1]
    name = _clean_component(base)
    if not name or name in {".", ".."}:
        raise UploadError(400, f"file name {raw!r} is empty once its folder part is removed")
    if name.startswith("."):
        raise UploadError(400, f"file name {name!r} is hidden (starts with '.'); hidden files are not stored")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UploadError(400, f"file name {name[:40]!r}… is longer than {MAX_NAME_BYTES} bytes")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            415, f"{name}: unsupported file type {suffix or '(none)'}; allowed: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    return name


def safe_folder(raw: str | None) -> str:
    """A relative folder inside the corpus (``treaties/2024``); ``""`` for the corpus root."""
    if raw is None or not raw.strip():
        return ""
    parts = [p for p in re.split(r"[/\\]", raw.strip()) if p not in {"", "."}]
    if raw.strip().startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw.strip()):
        raise UploadError(400, f"folder {raw!r} must be relative to the corpus folder")
    clean = []
    for part in parts:
        if part == "..":
            raise UploadError(400, f"folder {raw!r} leaves the corpus folder ('..')")
        name = _clean_component(part)
        if not name or name.startswith("."):
            raise UploadError(400, f"folder {raw!r} has a hidden or empty component {part!r}")
        clean.append(name)
    if len(clean) > MAX_FOLDER_DEPTH:
        raise UploadError(400, f"folder {raw!r} is nested deeper than {MAX_FOLDER_DEPTH} levels")
    return "/".join(clean)


def target_path(corpus: Path, source: str) -> Path:
    """``corpus / source``, refusing anything that would land outside the corpus folder
    (a symlinked sub-folder pointing elsewhere included)."""
    root = corpus.resolve()
    path = root / source
    parent = path.parent.resolve()
    if parent != root and root not in parent.parents:
        raise UploadError(400, f"{source!r} resolves outside the corpus folder")
    if path.is_symlink():
        raise UploadError(409, f"{source} is a symbolic link in the corpus folder; refusing to replace it")
    if path.is_dir():
        raise UploadError(409, f"{source} is a folder in the corpus folder")
    return path


# --- content -----------------------------------------------------------------------------


def _text_problem(head: bytes, has_nul: bool) -> str | None:
    """Why ``head`` (the first bytes of a file) is not text, or ``None``."""
    text = None
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            except UnicodeDecodeError:
                return f"it starts with a {encoding} byte-order mark but is not {encoding}"
            break
    if text is None:
        if has_nul:
            return "it contains NUL bytes (binary data)"
        if head.startswith(_BINARY_MAGIC):
            return "it is a binary file (its first bytes are those of another format)"
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            text = head.decode("latin-1")  # some legacy 8-bit encoding: judged by its control bytes
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\x7f")
    if controls > max(4, len(text) // 100):
        return "it does not decode as text (too many control characters)"
    return None


def _pdf_problem(path: Path, head: bytes) -> str | None:
    if b"%PDF-" not in head[:1024]:
        return "it does not start with the %PDF- signature"
    import pypdf

    try:
        with open(path, "rb") as handle:
            reader = pypdf.PdfReader(handle, strict=False)
            if reader.is_encrypted:
                return None  # the loader decides (an empty owner-only password is common)
            if len(reader.pages) == 0:
                return "it has no pages"
    except Exception as exc:  # pypdf raises many kinds on damaged files
        return f"it cannot be read as a PDF ({type(exc).__name__}: {exc})"
    return None


def content_problem(path: Path, name: str, head: bytes, has_nul: bool) -> str | None:
    """Check a staged file's content against the type its extension claims; ``None`` if it fits."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in PDF_SUFFIXES:
        return _pdf_problem(path, head)
    problem = _text_problem(head, has_nul)
    if problem is None and suffix in HTML_SUFFIXES and not _HTML_TAG.search(head):
        problem = "it has no HTML markup"
    return problem


# --- streaming multipart -----------------------------------------------------------------


@dataclass
class StagedFile:
    field: str
    raw_name: str
    name: str
    path: Path  # the staging file
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    has_nul: bool = False
    source: str = ""  # set once the folder is known
    _digest: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)
    _handle: object = field(default=None, repr=False)


@dataclass
class ParsedUpload:
    files: list[StagedFile]
    folder: str


def staging_dir(corpus: Path) -> Path:
    return corpus / STAGING


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


class UploadReader:
    """Feeds a ``multipart/form-data`` body through python-multipart into staged files.

    ``max_file`` and ``max_request`` are byte caps. A file past ``max_file`` is noted and
    the rest of the body drained (up to ``max_request``) so that the client reads a clean 413;
    a body past ``max_request`` is refused at once.
    """

    def __init__(self, content_type: str, corpus: Path, max_file: int, max_request: int, max_files: int) -> None:
        kind, params = parse_options_header(content_type or "")
        if kind != b"multipart/form-data":
            raise UploadError(415, "send the files as multipart/form-data (curl -F 'files=@report.pdf')")
        boundary = params.get(b"boundary")
        if not boundary:
            raise UploadError(400, "multipart/form-data without a boundary")
        self.corpus = corpus
        self.max_file = max_file
        self.max_request = max_request
        self.max_files = max_files
        self.files: list[StagedFile] = []
        self.fields: dict[str, str] = {}
        self.received = 0
        self.too_large: str | None = None
        self.error: UploadError | None = None
        self._part_headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._field_name: str | None = None
        self._field_data = bytearray()
        self._file: StagedFile | None = None
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        })

    # python-multipart callbacks
    def _on_part_begin(self) -> None:
        self._part_headers = {}
        self._field_name = None
        self._field_data = bytearray()
        self._file = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part_headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part_headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            self._field_name = name
            return
        raw_name = options[b"filename"].decode("utf-8", "replace")
        if self.error is not None or self.too_large is not None:
            return  # already refusing: drain only
        if len(self.files) >= self.max_files:
            self.error = UploadError(413, f"more than {self.max_files} files in one request")
            return
        try:
            clean = safe_filename(raw_name)
        except UploadError as exc:
            self.error = exc
            return
        folder = staging_dir(self.corpus)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        staged = StagedFile(field=name, raw_name=raw_name, name=clean, path=path)
        staged._handle = open(path, "xb")
        self.files.append(staged)
        self._file = staged

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        staged = self._file
        if staged is None:
            if self._field_name is not None:
                if len(self._field_data) + len(chunk) > MAX_FIELD_BYTES:
                    self.error = self.error or UploadError(413, f"form field {self._field_name!r} is too long")
                else:
                    self._field_data.extend(chunk)
            return
        staged.size += len(chunk)
        if staged.size > self.max_file:
            if self.too_large is None:
                self.too_large = staged.name
            self._close(staged)
            self._file = None
            return
        if len(staged.head) < HEAD_BYTES:
            staged.head += chunk[: HEAD_BYTES - len(staged.head)]
        if not staged.has_nul and b"\x00" in chunk:
            staged.has_nul = True
        staged._digest.update(chunk)
        staged._handle.write(chunk)

    def _on_part_end(self) -> None:
        if self._file is not None:
            self._file.sha256 = self._file._digest.hexdigest()
            self._close(self._file)
            self._file = None
        elif self._field_name is not None:
            self.fields[self._field_name] = self._field_data.decode("utf-8", "replace")

    @staticmethod
    def _close(staged: StagedFile) -> None:
        handle = staged._handle
        if handle is not None and not handle.closed:
            handle.close()

    # driving
    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_request:
            raise UploadError(413, f"request larger than the {self.max_request / 2**20:g} MB limit (CLAUSEWISE_MAX_REQUEST_MB)")
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise UploadError(400, f"malformed multipart body: {exc}") from exc

    def finish(self) -> ParsedUpload:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise UploadError(400, f"malformed multipart body: {exc}") from exc
        if self.too_large is not None:
            raise UploadError(
                413, f"{self.too_large} is larger than the {self.max_file / 2**20:g} MB per-file limit (CLAUSEWISE_MAX_UPLOAD_MB)"
            )
        if self.error is not None:
            raise self.error
        if any(f._handle is not None and not f._handle.closed for f in self.files):
            raise UploadError(400, "the multipart body ended in the middle of a file")
        if not self.files:
            raise UploadError(400, "no file in the request: send one or more parts with a filename (curl -F 'files=@x.pdf')")
        folder = safe_folder(self.fields.get("folder"))
        seen: dict[str, str] = {}
        for staged in self.files:
            staged.source = f"{folder}/{staged.name}" if folder else staged.name
            if staged.source.lower() in seen:
                raise UploadError(400, f"two files in the request would both be stored as {staged.source}")
            seen[staged.source.lower()] = staged.raw_name
        return ParsedUpload(self.files, folder)

    def discard(self) -> None:
        """Remove every staged file (the request is refused, or committed files are gone)."""
        for staged in self.files:
            self._close(staged)
            with contextlib.suppress(FileNotFoundError):
                staged.path.unlink()


# --- checks and commit (blocking: call in a thread) ---------------------------------------


def check_contents(files: list[StagedFile]) -> None:
    """Refuse the request (415) if any file's content does not match its extension."""
    for staged in files:
        if staged.size == 0:
            raise UploadError(415, f"{staged.name}: the file is empty")
        problem = content_problem(staged.path, staged.name, staged.head, staged.has_nul)
        if problem:
            suffix = PurePosixPath(staged.name).suffix.lower()
            raise UploadError(415, f"{staged.name} is not a valid {suffix} file: {problem}")


def _same_content(path: Path, sha256: str) -> bool:
    from ingest.pipeline import file_hash

    try:
        return path.is_file() and file_hash(path) == sha256
    except OSError:
        return False


def commit(corpus: Path, files: list[StagedFile]) -> list[tuple[StagedFile, bool]]:
    """Move the staged files into the corpus folder, each with one atomic ``os.replace``;
    returns ``(file, written)`` pairs (``written`` is false when identical content was
    already there). Every target is checked before any file moves."""
    targets = [(staged, target_path(corpus, staged.source)) for staged in files]
    results = []
    for staged, target in targets:
        if _same_content(target, staged.sha256):
            with contextlib.suppress(FileNotFoundError):
                staged.path.unlink()
            results.append((staged, False))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(staged.path, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(staged.path, 0o644)
        os.replace(staged.path, target)
        fsync_dir(target.parent)
        results.append((staged, True))
    return results
