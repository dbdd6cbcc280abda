"""Decode the bytes of a text file whose encoding nobody declared, on the evidence of the file.

1. A byte-order mark decides.
2. UTF-8 when the bytes are UTF-8 — and also when they are *mostly* UTF-8: valid multi-byte
   sequences outnumber invalid bytes, so one bad byte becomes U+FFFD there instead of flipping
   the whole file to a legacy code page ("Café" → "CafĂ©").
3. Otherwise a single-byte code page, chosen by likelihood: every non-ASCII byte is read
   through each candidate code page and scored by how often the resulting character occurs in
   the languages written in that code page (:data:`_LETTERS`). Windows-1252 / Latin-1 wins
   ties, so Western-European text whose accents read the same in a Central-European page
   ("é", "ä", "ö", "ü", "ß") never comes out as one, and a Central-European page wins only
   when its letters fit clearly better ("ł", "ą", "ě", "ř"). The score is a sum over a
   256-bin byte histogram: linear in the file and independent of where the accents sit.
4. When the bytes are also valid in a CJK multi-byte encoding (real Western, Central-European
   or Cyrillic text almost never is: an accented letter before a space ends no double-byte
   character), charset-normalizer judges between that and the single-byte page.

NUL characters are removed from the result: they are never text.
"""

from __future__ import annotations

import codecs
import math
import re
from functools import cache

import numpy as np

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]

# Non-ASCII letters of each language and their frequency in running text (per mille of
# letters, rounded from published letter-frequency tables), by the code pages that write it.
_WESTERN = {
    "french": "é19 à5 è3 ê2 ç1 â.5 ô.5 û.5 ù.5 î.4 œ.2 ï.1 ë.1",
    "german": "ü6.5 ä5.8 ö3 ß3",
    "spanish": "ó8 í7 á5 é4.3 ñ3 ú1.7 ü.1",
    "portuguese": "ã7 ô6 â5.6 ç5.3 ê4.5 é3.4 ó3 ú2 í1.3 á1.2 à.7 õ.4",
    "italian": "è2.6 à.6 ò.6 ì.3 ù.2 é.3",
    "catalan": "è4 à3 é3 ò1.5 ç1 í1 ó1 ú.5 ï.5 ü.3",
    "dutch": "ë.2 é.2 ï.1",
    "nordic": "ä18 ö13 å13 æ9 ø9 é.5 ü.2",
    "icelandic": "á18 ð45 é6 í15 ó10 ú6 ý2 þ16 æ8 ö8",
}
_CENTRAL = {
    "polish": "ł18 ę11 ą10 ó8.5 ż8.3 ś6.6 ć4 ń3.6 ź.8",
    "czech": "í16 ě12 ý10 á8.7 ž7.2 š6.9 é6.3 č4.6 ř3.8 ů2 ú.5 ň.8 ď.2 ť.1 ó.2",
    "slovak": "á20 ý15 í16 č10 ž8 é7 š7 ú7 ť4 ľ3 ô2 ó3 ň1 ď1 ä1 ĺ.1 ŕ.1",
    "hungarian": "á34 é33 ó10 ö10 ő9 í6 ü5 ú3 ű1",
    "romanian": "ă40 î15 ş14 ţ10 â10",
    "croatian": "č10 š8 ž7 ć5 đ2",
}
_TURKISH = {"turkish": "ı51 ş18 ü19 ç12 ğ11 ö8 â.2"}
_CYRILLIC = {"cyrillic": " ".join(f"{chr(c)}30" for c in range(0x430, 0x460))}
_GREEK = {"greek": " ".join(f"{chr(c)}40" for c in range(0x3AC, 0x3D0))}

_LETTERS: dict[str, dict[str, str]] = {
    "cp1252": _WESTERN,
    "cp1250": _CENTRAL,
    "iso-8859-2": _CENTRAL,
    "cp1254": _TURKISH,
    "cp1251": _CYRILLIC,
    "cp1253": _GREEK,
}
# Punctuation and symbols that real text holds in any of these languages.
_PUNCTUATION = set("«»“”„‘’‚–—…•€§°·\xa0©®™¿¡×")
_PUNCTUATION_WEIGHT = 2.0  # per mille, each
_OTHER_LETTER = 0.05  # a letter the language does not use
_OTHER_SYMBOL = 0.02
_UNREADABLE = 1e-5  # a control character, or a byte the code page does not define
_NON_LATIN = {"cp1251", "cp1253"}
LATIN_SHARE = 0.05  # non-ASCII letters among the letters of a Latin-script language
MARGIN_NATS = 2.0  # how much better another code page must explain the bytes than cp1252
# ISO-8859-2 and cp1250 read most letters alike; where they differ (š, ž, ś, ź, ą) the
# evidence is strong either way (a control character, or a symbol inside a word).
SIBLING_MARGIN_NATS = 0.5

_LONE_SURROGATE = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


def decode(data: bytes) -> str:
    """The text of ``data``: see the module docstring for how the encoding is chosen."""
    return _decode(data).replace("\x00", "")


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):
        return data.decode("utf-8", errors="replace")
    histogram = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    encoding = best_code_page(histogram)
    multibyte = _multibyte_guess(data, encoding)
    return multibyte if multibyte is not None else data.decode(encoding, errors="replace")


def _mostly_utf8(data: bytes) -> bool:
    """Valid UTF-8 multi-byte characters outnumber the bytes that are not UTF-8."""
    text = data.decode("utf-8", errors="surrogateescape")
    invalid = len(_LONE_SURROGATE.findall(text))
    valid = len(_NON_ASCII.findall(text)) - invalid
    return valid > 0 and valid >= invalid


@cache
def _weights(encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """The log-probability of each byte 0x80–0xFF read in ``encoding``, given that a byte is
    not ASCII: the largest among the languages written in it, as one document may quote
    several ("déjà", "Über", "señora"); and ``[log p, log (1 - p)]`` of a letter being non-ASCII."""
    chars = [bytes([b]).decode(encoding, errors="replace") for b in range(128, 256)]
    mixture = np.zeros(128)  # floored below by _weight: never log(0)
    shares = []
    tables = _LETTERS[encoding].values()
    for table in tables:
        freq = {entry[0]: float(entry[1:]) for entry in table.split()}
        row = np.array([_weight(c, freq) for c in chars])
        mixture = np.maximum(mixture, row / (sum(freq.values()) + _PUNCTUATION_WEIGHT * len(_PUNCTUATION)))
        shares.append(min(0.97, sum(freq.values()) / 1000 + 0.005))
    # Latin-script pages are told apart by their accents alone: how many letters carry one
    # varies by language more than by page, and short files have few.
    share = sum(shares) / len(shares) if encoding in _NON_LATIN else LATIN_SHARE
    return np.log(mixture), np.array([math.log(share), math.log(1 - share)])


def _weight(char: str, freq: dict[str, float]) -> float:
    """How often ``char`` occurs in a language with non-ASCII letters ``freq`` (per mille)."""
    if char == "\ufffd" or (not char.isprintable() and char != "\xa0"):
        return _UNREADABLE
    if char.lower() in freq:
        return freq[char.lower()]
    if char in _PUNCTUATION:
        return _PUNCTUATION_WEIGHT
    return _OTHER_LETTER if char.isalpha() else _OTHER_SYMBOL


def best_code_page(histogram: np.ndarray) -> str:
    """The single-byte code page that best explains a file's byte counts (``histogram``,
    256 bins). ASCII letters count too: Greek or Cyrillic text is mostly non-ASCII."""
    high = histogram[128:]
    ascii_letters = int(histogram[65:91].sum() + histogram[97:123].sum())
    counts = np.array([high.sum(), ascii_letters], dtype=np.float64)
    scores: dict[str, float] = {}
    for encoding in _LETTERS:
        logp, odds = _weights(encoding)
        scores[encoding] = float(logp @ high + odds @ counts)
    best = max(scores, key=lambda e: scores[e])
    if scores[best] < scores["cp1252"] + MARGIN_NATS:
        best = "cp1252"
    elif best == "iso-8859-2" and scores[best] < scores["cp1250"] + SIBLING_MARGIN_NATS:
        best = "cp1250"  # the same letters mostly: the Windows page wins a tie
    return best


# gb18030 is left out: it decodes almost any byte string.
_MULTIBYTE = ("cp932", "euc_jp", "cp949", "big5", "gbk")


def _multibyte_guess(data: bytes, single: str) -> str | None:
    """``data`` read in a CJK multi-byte encoding it is valid in, when charset-normalizer
    prefers that to the single-byte page ``single``; else ``None``."""
    valid = []
    for encoding in _MULTIBYTE:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        valid.append(encoding)
    if not valid:
        return None
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 20], cp_isolation=[*valid, single]).best()
    if best is None or best.encoding not in valid:
        return None
    return data.decode(best.encoding, errors="replace")
