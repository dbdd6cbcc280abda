"""Decode bytes of unknown encoding without mojibake."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import CharsetMatch, from_bytes

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
COHERENCE_MARGIN = 0.02
# Mac and DOS code pages: obsolete for documents, yet short Windows-1252 text often scores
# marginally better as one of them ("Déjà" → "DÈj‡" in Mac Roman).
_OBSOLETE = re.compile(r"^(?:mac_|hp_|cp(?:437|7\d\d|8[56]\d|1006|1125)$)")


def _as_western(data: bytes) -> str | None:
    """``data`` as Windows-1252 (Latin-1's printable range plus curly quotes, dashes, €…),
    if every byte is defined there."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def _clearly_better(rival: CharsetMatch, western: list[CharsetMatch]) -> bool:
    """Whether a current code page reads the bytes as text no more chaotic, and in a language
    that fits clearly better, than Windows-1252 does."""
    if _OBSOLETE.match(rival.encoding):
        return False
    chaos = min(m.chaos for m in western)
    coherence = max(m.coherence for m in western)
    return rival.chaos <= chaos and rival.coherence > coherence + COHERENCE_MARGIN


def decode(data: bytes) -> str:
    """BOM first, then strict UTF-8, then cp1252 unless charset-normalizer finds a better fit.

    Strict UTF-8 comes before guessing because valid UTF-8 of real text is almost never
    anything else, while detectors sometimes mistake short UTF-8 files for legacy code pages.
    Among legacy code pages the detector often cannot tell Western European text from Baltic
    or Central European (``à`` → ``ą``, ``è`` → ``č``); Windows-1252/Latin-1 wins those ties
    because it is by far the most common, and another current code page is used only when
    the detector clearly prefers it.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    matches = from_bytes(data)
    western = _as_western(data)
    same = [m for m in matches if "cp1252" in m.could_be_from_charset or str(m) == western]
    if western is not None and same:
        rival = next((m for m in matches if m not in same and _clearly_better(m, same)), None)
        return western if rival is None else str(rival)
    best = matches.best()
    if best is not None and best.encoding:
        return str(best)
    return data.decode("cp1252", errors="replace")
