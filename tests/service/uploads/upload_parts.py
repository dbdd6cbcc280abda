"""Multipart bodies and PDFs for the upload tests."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from ingest.errors import UploadRejected
from service.uploads.reader import ParsedUpload, UploadReader


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> tuple[str, list[bytes]]:
    """A multipart body as (content type, chunks): ``(field, filename or None, data)`` per part."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", [body[i : i + 1000] for i in range(0, len(body), 1000)]


def read(corpus: Path, parts, max_file=10_000, max_request=100_000, max_files=10) -> tuple[UploadReader, ParsedUpload]:
    content_type, chunks = multipart(parts)
    reader = UploadReader(content_type, corpus, max_file, max_request, max_files)
    try:
        for chunk in chunks:
            reader.feed(chunk)
        return reader, reader.finish()
    except UploadRejected:
        reader.discard()
        raise


def pdf_bytes() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "A real PDF page.")
    return bytes(pdf.output())
