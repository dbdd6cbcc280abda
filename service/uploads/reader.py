"""The streaming ``multipart/form-data`` reader: a request body is parsed as it arrives (never
spooled whole to memory or ``/tmp``), each file written to its staging file while its size is
counted against the caps and its SHA-256 computed."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ingest.errors import UploadRejected
from service.uploads.content import HEAD_BYTES
from service.uploads.names import safe_filename, safe_folder
from service.uploads.staging import new_part

MAX_FIELD_BYTES = 4096  # the non-file fields (``folder``)


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
    _digest: Any = dataclasses.field(default_factory=hashlib.sha256, repr=False)
    _handle: IO[bytes] | None = dataclasses.field(default=None, repr=False)

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()

    @property
    def open(self) -> bool:
        return self._handle is not None and not self._handle.closed


@dataclass
class ParsedUpload:
    files: list[StagedFile]
    folder: str


class UploadReader:
    """Feeds a ``multipart/form-data`` body through python-multipart into staged files.

    ``max_file`` and ``max_request`` are byte caps. A file past ``max_file`` is noted and
    the rest of the body drained (up to ``max_request``) so that the client reads a clean 413;
    a body past ``max_request`` is refused at once.
    """

    def __init__(self, content_type: str, corpus: Path, max_file: int, max_request: int, max_files: int) -> None:
        kind, params = parse_options_header(content_type or "")
        if kind != b"multipart/form-data":
            raise UploadRejected("send the files as multipart/form-data (curl -F 'files=@report.pdf')", status=415)
        boundary = params.get(b"boundary")
        if not boundary:
            raise UploadRejected("multipart/form-data without a boundary")
        self.corpus = corpus
        self.max_file = max_file
        self.max_request = max_request
        self.max_files = max_files
        self.files: list[StagedFile] = []
        self.fields: dict[str, str] = {}
        self.received = 0
        self.too_large: str | None = None
        self.error: UploadRejected | None = None
        self._part_headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._field_name: str | None = None
        self._field_data = bytearray()
        self._file: StagedFile | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

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
            self.error = UploadRejected(f"more than {self.max_files} files in one request", status=413)
            return
        try:
            clean = safe_filename(raw_name)
        except UploadRejected as exc:
            self.error = exc
            return
        path = new_part(self.corpus)
        staged = StagedFile(field=name, raw_name=raw_name, name=clean, path=path)
        staged._handle = open(path, "xb")  # noqa: SIM115 — written part by part; closed at the part's end
        self.files.append(staged)
        self._file = staged

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        staged = self._file
        if staged is None:
            if self._field_name is not None:
                if len(self._field_data) + len(chunk) > MAX_FIELD_BYTES:
                    self.error = self.error or UploadRejected(
                        f"form field {self._field_name!r} is too long", status=413
                    )
                else:
                    self._field_data.extend(chunk)
            return
        staged.size += len(chunk)
        if staged.size > self.max_file:
            if self.too_large is None:
                self.too_large = staged.name
            staged.close()
            self._file = None
            return
        if len(staged.head) < HEAD_BYTES:
            staged.head += chunk[: HEAD_BYTES - len(staged.head)]
        if not staged.has_nul and b"\x00" in chunk:
            staged.has_nul = True
        staged._digest.update(chunk)
        if staged._handle is not None:
            staged._handle.write(chunk)

    def _on_part_end(self) -> None:
        if self._file is not None:
            self._file.sha256 = self._file._digest.hexdigest()
            self._file.close()
            self._file = None
        elif self._field_name is not None:
            self.fields[self._field_name] = self._field_data.decode("utf-8", "replace")

    # driving
    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_request:
            raise UploadRejected(
                f"request larger than the {self.max_request / 2**20:g} MB limit (CLAUSEWISE_MAX_REQUEST_MB)", status=413
            )
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise UploadRejected(f"malformed multipart body: {exc}") from exc

    def finish(self) -> ParsedUpload:
        """The request's files and folder, once the whole body is read; refused (and nothing
        stored) if anything in it is."""
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise UploadRejected(f"malformed multipart body: {exc}") from exc
        if self.too_large is not None:
            raise UploadRejected(
                f"{self.too_large} is larger than the {self.max_file / 2**20:g} MB per-file limit (CLAUSEWISE_MAX_UPLOAD_MB)",
                status=413,
            )
        if self.error is not None:
            raise self.error
        if any(staged.open for staged in self.files):
            raise UploadRejected("the multipart body ended in the middle of a file")
        if not self.files:
            raise UploadRejected(
                "no file in the request: send one or more parts with a filename (curl -F 'files=@x.pdf')"
            )
        folder = safe_folder(self.fields.get("folder"))
        seen: set[str] = set()
        for staged in self.files:
            staged.source = f"{folder}/{staged.name}" if folder else staged.name
            if staged.source.lower() in seen:
                raise UploadRejected(f"two files in the request would both be stored as {staged.source}")
            seen.add(staged.source.lower())
        return ParsedUpload(self.files, folder)

    def discard(self) -> None:
        """Remove every staged file (the request is refused, or committed files are gone)."""
        for staged in self.files:
            staged.close()
            with contextlib.suppress(FileNotFoundError):
                staged.path.unlink()
