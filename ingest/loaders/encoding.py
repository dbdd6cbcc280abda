"""Decode bytes of unknown encoding without mojibake."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def decode(data: bytes) -> str:
    """BOM first, then strict UTF-8, then charset-normalizer's best guess, then cp1252.

    Strict UTF-8 comes before guessing because valid UTF-8 of real text is almost never
    anything else, while detectors sometimes mistake short UTF-8 files for legacy code pages.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return str(best)
    return data.decode("cp1252", errors="replace")
