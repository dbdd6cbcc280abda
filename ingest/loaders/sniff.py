"""What a file holds, judged from its first bytes rather than its name: the one sniffer of
every path that reads documents (``clausewise ingest``, rebuild jobs, uploads).

:func:`sniff` tells a PDF (``%PDF-`` in the first KiB, where the format allows it), an HTML
document (it opens with a doctype or an ``<html>``/``<head>``/``<body>`` tag), text, or binary
data (the signature of another format, NUL bytes making up much of it, or control
characters no text holds). :func:`reading` then decides, from that and the file's suffix, how
the loader reads it: by its content when the name lies in a way that can be read anyway (a
PDF named ``.md``, a web page named ``.pdf``), or not at all, with the reason.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

HEAD_BYTES = 64 * 1024  # what sniffing looks at

Kind = Literal["pdf", "html", "text", "binary", "empty"]

# Formats that are certainly not text, whatever the extension claims.
_BINARY_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (or a Word/ODF document)"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "a Windows executable"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
    (b"\x00asm", "a WebAssembly module"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_TEXT_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# How an HTML document opens (after white space and comments); tags anywhere mark markup.
_HTML_START = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>/]", re.IGNORECASE)
_HTML_TAG = re.compile(
    r"<\s*(?:!doctype\s+html|html|head|body|title|meta|p|div|h[1-6]|article|section|main|table|ul|ol|span|a)[\s>/]",
    re.IGNORECASE,
)
_CONTROL = re.compile("[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")
NUL_SHARE = 0.3  # a text file may carry stray NULs (they are removed); this many is data


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of a file show: ``kind``, ``why`` it is binary, and whether the
    text carries HTML markup at all (a fragment like ``<p>hello</p>``)."""

    kind: Kind
    why: str = ""
    markup: bool = False


def sniff(head: bytes) -> Sniffed:
    """The kind of content whose first bytes (up to :data:`HEAD_BYTES`) are ``head``."""
    if not head:
        return Sniffed("empty")
    if b"%PDF-" in head[:1024]:
        return Sniffed("pdf")
    text = None
    for bom, encoding in _TEXT_BOMS:
        if head.startswith(bom):
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            except UnicodeDecodeError:
                return Sniffed("binary", f"it starts with a {encoding} byte-order mark but is not {encoding}")
            break
    if text is None:
        for magic, what in _BINARY_MAGIC:
            if head.startswith(magic):
                return Sniffed("binary", f"it is a binary file ({what})")
        if head.count(0) > NUL_SHARE * len(head):
            return Sniffed("binary", "it is mostly NUL bytes (binary data)")
        # Single-byte text of any code page decodes as Latin-1: only control bytes matter here.
        text = head.replace(b"\x00", b"").decode("latin-1")
    if len(_CONTROL.findall(text)) > max(4, len(text) // 100):
        return Sniffed("binary", "it does not decode as text (too many control characters)")
    if _opens_html(text):
        return Sniffed("html", markup=True)
    return Sniffed("text", markup=_HTML_TAG.search(text) is not None)


def _opens_html(text: str) -> bool:
    """``text`` opens like an HTML document, past white space, an XML declaration and comments."""
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n\ufeff":
            at += 1
        if text.startswith("<!--", at):
            end = text.find("-->", at + 4)
            if end < 0:
                return False
            at = end + 3
        elif text.startswith("<?xml", at):
            end = text.find("?>", at)
            if end < 0:
                return False
            at = end + 2
        else:
            return _HTML_START.match(text, at) is not None


Reader = Literal["pdf", "html", "markdown", "text"]


@dataclass(frozen=True)
class Reading:
    """How to read a file: with ``reader``, noting ``warning``; or not (``problem``)."""

    reader: Reader | None
    warning: str | None = None
    problem: str | None = None


def reading(claimed: Reader, sniffed: Sniffed) -> Reading:
    """How to read a file its suffix says is ``claimed`` and whose content is ``sniffed``."""
    kind = sniffed.kind
    if kind == "binary":
        return Reading(None, problem=f"not a document: {sniffed.why}")
    if kind == "empty":
        return Reading(None, problem="empty file (0 bytes)")
    if kind == "pdf":
        if claimed == "pdf":
            return Reading("pdf")
        return Reading("pdf", warning=f"named as {claimed} but holds a PDF: read as PDF")
    if claimed == "pdf":
        if kind == "html":
            return Reading("html", warning="named .pdf but holds an HTML page: read as HTML")
        return Reading(None, problem="broken or truncated PDF: it does not start with the %PDF- signature")
    if claimed == "text" and kind == "html":
        return Reading("html", warning="named as text but holds an HTML page: read as HTML")
    return Reading(claimed)
