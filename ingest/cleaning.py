"""Text cleaning that does not need document structure: Unicode folding, running headers
and footers, page numbers, and words hyphenated across line breaks."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cached_property

from ingest.wordlist import in_list, is_word, mostly_english

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
# A soft hyphen marks where a word may break, so a word broken there is one word: the spaces
# and the line break around it go too ("imple \u00ad\nmenting" in the Dublin III PDF).
_SOFT_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])[^\S\n]*\u00ad[^\S\n]*\n?[^\S\n]*(?=[^\W\d_])")
_SPACES = re.compile(r"[^\S\n]+")
_PAGE_NUMBER = re.compile(
    # Arabic numbers, or lower-case roman ones (front matter); "II" or "Did" alone are text.
    r"^(?:(?:[Pp]age|PAGE)\s*)?[-–—(\[]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$",
)
_BROKEN_DOT = re.compile(r"(?<=[0-9IVX])\ufffd(?=[0-9a-zA-Z])")
EDGE_LINES = 3  # how many lines at the top and at the bottom of a page may be running text
# "Article 7" and "Article 12" differ only in their numbers, like running footers do, and
# headings often start a page: a bare numbered heading repeats only if its number does too.
_NUMBERED_HEADING = re.compile(r"^(?:part|chapter|section|article|art\.|annex|title)\s*\d+[a-z]?\.?$")


def normalize(text: str) -> str:
    """NFKC (folds ligatures such as "ﬁ", full-width forms, odd spaces), joins words broken
    at a soft hyphen, drops invisible characters, and collapses horizontal whitespace; other
    line breaks are kept."""
    text = _SOFT_HYPHEN_BREAK.sub(_soft_hyphen, unicodedata.normalize("NFKC", text)).translate(_INVISIBLE)
    # Some PDFs map the full stop of "2.1" to U+FFFD; between numbering characters it is one.
    text = _BROKEN_DOT.sub(".", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", join_letter_spaced(line)).strip() for line in text.split("\n"))


def _soft_hyphen(match: re.Match[str]) -> str:
    """A word goes on after a soft hyphen in lower case; before a capital ("Secretary\u00ad" /
    "General") the break stays a break."""
    if match.string[match.end()].islower():
        return ""
    return "\n" if "\n" in match.group(0) else " "


def _edge_key(line: str) -> str:
    text = " ".join(line.lower().split())
    return text if _NUMBERED_HEADING.match(text) else re.sub(r"\d+", "#", text)


def strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop headers, footers and page numbers: lines near the top or bottom of a page that
    repeat (digits ignored) on many pages, and lines that are only a page number."""
    n = len(pages)
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = lines[:EDGE_LINES] + lines[-EDGE_LINES:]
        counts.update({_edge_key(line) for line in edge if line})
    threshold = max(3, int(0.3 * n + 0.999))
    cleaned = []
    for lines in pages:
        kept = []
        for i, line in enumerate(lines):
            at_edge = i < EDGE_LINES or i >= len(lines) - EDGE_LINES
            if at_edge and line and (_PAGE_NUMBER.match(line) or (n >= 3 and counts[_edge_key(line)] >= threshold)):
                continue
            kept.append(line)
        cleaned.append(kept)
    return cleaned


def vocabulary(text: str) -> Counter[str]:
    """Word counts of a document, hyphenated compounds counted as one word."""
    return Counter(re.findall(r"\w+(?:-\w+)*", text.lower()))


def join_hyphenated(left: str, right: str, words: Counter[str]) -> str:
    """How to write ``left``-``right`` when a line break split it after the hyphen.

    The hyphen is kept when the document itself writes that compound with a hyphen more
    often than without ("self-\\ndetermination" stays "self-determination").
    """
    hyphenated = words[f"{left}-{right}".lower()]
    joined = words[f"{left}{right}".lower()]
    return f"{left}-{right}" if hyphenated > joined else f"{left}{right}"


_CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z]*\b")
# A small-caps font's capital glyph inside a lower-case word: "prohiBition", "parTies".
_SMALL_CAPS_GLYPH = re.compile(r"[A-Za-z]?[a-z]{2,}[A-Z][a-z]+")
# A lone letter before a fragment; lower-case "a" and "i" are words, so are never drop capitals.
# Not after an apostrophe ("Women’s low", "doesn’t ask"), nor before an address ("E
# postbox@ipu.org", "W www.ipu.org").
_DROP_CAP = re.compile(r"(?<![’'])\b([A-Zb-hj-z]) ([a-z]+)\b(?![-@]|\.\w)")
_CAP_PAIR = re.compile(r"\b([A-Z])\s([a-z]+)\b")
# Two pieces of letters one space or line break apart, the second lower-case: "Gener al",
# "t o", "Sta" / "tes".
# The second piece is only looked at, so that every adjacent pair is tried ("the gener al":
# "the gener", then "gener al"); joining drops the space.
_WORD_PAIR = re.compile(r"(?<![\w'’./@-])([A-Za-z]+)[ \n](?=([a-z]+)(?![\w'’-]))")
# Capitalised words to the end of the line or the next punctuation after a fragment: a name
# runs on ("A gudas Israel World Organization;"), a sentence does not ("A colour Chart is").
_NAME_AFTER = re.compile(r"(?:\s+[A-Z][\w’'-]*)+\s*(?:[;,.:)]|$)")
# A lower-case word after a fragment: "al." of "J et al.", where a form's label is followed
# by none ("S ex *Strike out").
_WORD_AFTER = re.compile(r"\s+[a-z]")
# The piece after a pair's second one: "ceiving" of "the re ceiving".
_NEXT_PIECE = re.compile(r"[ \n]([a-z]+)(?![\w'’-])")
_LINE_END_PIECE = re.compile(r"(?:^|(?<=[\s(\[“\"]))([A-Za-z]+)$")
_LINE_END_CAP = re.compile(r"(?:^|(?<=[\s(\[“\"]))([A-Z])$")
_LINE_START_FRAGMENT = re.compile(r"^([a-z]+)\b(?!-)")
# Three letters or more, one space apart: each repetition consumes a letter and a space, so
# the match is linear in the line.
_LETTER_SPACED = re.compile(r"(?:[^\W\d_] ){2,}[^\W\d_]")
_TWO_LETTERS = re.compile(r"[^\W\d_] [^\W\d_]")
_WIDE_GAP = re.compile(r"( {2,})")
# Distinct words a document must show an artefact on before a rule that has no dictionary
# evidence for the single word is trusted.
ARTEFACT_EVIDENCE = 3
_PUNCTUATION = ".,;:!?()[]{}\"'“”‘’*"


def join_letter_spaced(line: str) -> str:
    """Letter-spaced headings ("c o n v e n t i o n  a n d  p r o t o c o l"): pypdf writes a
    space between letters and two between words. A run of three or more single letters
    standing between double spaces (or the line's ends) is one word; two-letter pieces ("t o")
    join only beside such a run. A line without a double space is left alone unless it is one
    run, so "Annex A B C of the list" stays."""
    stripped = line.strip()
    if "  " not in stripped:
        return stripped.replace(" ", "") if _LETTER_SPACED.fullmatch(stripped) else line
    parts = _WIDE_GAP.split(line)
    words = range(0, len(parts), 2)
    if not any(_LETTER_SPACED.fullmatch(parts[i].strip()) for i in words):
        return line
    for i in words:
        piece = parts[i].strip()
        if _LETTER_SPACED.fullmatch(piece) or _TWO_LETTERS.fullmatch(piece):
            parts[i] = parts[i].replace(piece, piece.replace(" ", ""))
    return "".join(parts)


class _Glyphs:
    """The document's own words as the dictionary for :func:`repair_glyphs`."""

    def __init__(self, pages: list[list[str]]) -> None:
        text = "\n".join("\n".join(lines) for lines in pages)
        self.counts = Counter(re.findall(r"[A-Za-z]+", text))
        # Words standing alone between spaces, punctuation around them aside ("example," is
        # one; "s" of "women's" is not).
        tokens = (token.strip(_PUNCTUATION) for token in text.split())
        self.lower = Counter(token.lower() for token in tokens if token.isalpha())
        # A fragment's uses right after a lone capital, which are not uses as a word of its own,
        # and the capitals it follows: a drop capital belongs to one word ("S ex"), a fragment
        # after several is a word ("J et al.", "K et al.").
        pairs = _CAP_PAIR.findall(text)
        self.as_fragment = Counter(fragment for _, fragment in pairs)
        self.capitals_before: dict[str, set[str]] = {}
        for capital, fragment in pairs:
            self.capitals_before.setdefault(fragment, set()).add(capital)
        # A piece's uses inside a pair that forms a word of the document: "t" of "t o".
        self.as_piece: Counter[str] = Counter()
        uses: Counter[tuple[str, str, bool]] = Counter()
        for match in _WORD_PAIR.finditer(text):
            left, right = match.group(1), match.group(2)
            lowered = left.lower()
            if self.lower[lowered + right] >= 2:
                self.as_piece.update((lowered, right))
                uses[lowered, right, len(left) == 1 and left.isupper()] += 1
        pairs_known = {(left, right) for left, right, _ in uses}
        # Uses of a word that are not uses as a word of its own: after a lone capital, or as a
        # piece of a word in pieces ("for ex ample") whose other piece, or itself, is never
        # written alone; not "a broad" (the article) nor "in formal" (two words). A fragment after
        # a capital counts once.
        self.explained = Counter(self.as_fragment)
        for (left, right, after_capital), count in uses.items():
            if left not in ("a", "i") and (self._only_piece(left) or self._only_piece(right)):
                for piece in (left,) if after_capital else (left, right):
                    self.explained[piece] += count
        camels = {w for w in self.counts if _CAMEL.fullmatch(w) and self.known(_lower_tail(w)) > self.counts[w]}
        self.small_caps = len(camels) >= ARTEFACT_EVIDENCE
        self.drop_caps = len({a + b for a, b in pairs if self.joins_known(a, b)}) >= ARTEFACT_EVIDENCE
        self._text = text
        # Words in pieces are trusted only once the document shows a few whose pieces are
        # both no word of their own ("gener al", "sta tes"): "in formal" or "a broad" alone
        # prove nothing, their pieces being words. In an English document at least one piece of
        # each must be no English word either: a short document may write "in" only once.
        evidence = [pair for pair in pairs_known if self._only_piece(pair[0]) and self._only_piece(pair[1])]
        self.pieces = (
            len(evidence) >= ARTEFACT_EVIDENCE
            and (not self.english or sum(1 for pair in evidence if not all(map(in_list, pair))) >= ARTEFACT_EVIDENCE)
        ) or (self.english and self._listed_evidence() >= ARTEFACT_EVIDENCE)

    @cached_property
    def english(self) -> bool:
        """The document reads as English, so :mod:`ingest.wordlist` may decide what its own
        words cannot. Asked of a PDF whose own evidence of words in pieces falls short, so a
        process that cleans PDFs loads the list once (~0.1 s)."""
        return mostly_english(self.lower)

    @cached_property
    def _listed(self) -> tuple[Counter[str], set[tuple[str, str]]]:
        """One pass over the pairs of pieces that form a word of the English list: the uses of
        their pieces the list does not know, outside pairs the document writes twice ("br" of
        "br ackets"), and the pairs the document writes whole whose pieces the list knows
        neither of, as they stand ("w orld", "internat ional", "servic e")."""
        uses: Counter[str] = Counter()
        pairs: set[tuple[str, str]] = set()
        for match in _WORD_PAIR.finditer(self._text):
            left, right = match.group(1).lower(), match.group(2)
            joined = left + right
            if not is_word(joined):
                continue
            if self.lower[joined] < 2:
                uses.update(piece for piece in (left, right) if not is_word(piece))
            if self.lower[joined] and not in_list(left) and not in_list(right):
                pairs.add((left, right))
        return uses, pairs

    def _listed_evidence(self) -> int:
        """Pairs of :attr:`_listed` whose pieces the document never writes alone."""
        return sum(1 for pair in self._listed[1] if all(map(self._listed_only_piece, pair)))

    def _listed_only_piece(self, piece: str) -> bool:
        return self.lower[piece] <= self.as_piece[piece] + self._listed[0][piece]

    def known(self, word: str) -> int:
        return self.counts[word] + self.counts[word.lower()] + self.counts[word.capitalize()]

    def alone(self, fragment: str) -> int:
        """Uses of ``fragment`` as a word of its own: not after a lone capital ("S ex"), not as a
        piece of a word in pieces ("for ex ample")."""
        return max(0, self.lower[fragment] - self.explained[fragment])

    def joins_known(self, letter: str, fragment: str) -> bool:
        """``letter`` + ``fragment`` is a word the document writes; "A" and "I" are words of
        their own, so "A s a result" joins but "A refugee" and "I agree" do not."""
        joined = letter + fragment
        if self.known(joined) < 2:
            return False
        if letter in "AI":
            return (len(fragment) == 1 and fragment not in "ai") or self.alone(fragment) * 5 < self.known(joined)
        return True

    def joins(self, letter: str, fragment: str, line: str = "", end: int = 0) -> bool:
        """Once the document shows split capitals, "C entral" joins too: the fragment is no
        word of the document's own. "A" and "I", words themselves, join only then ("I deal" in a
        document that writes "ideal" stays).

        In an English document the word list decides two more (what follows the fragment:
        ``line`` from ``end``, matched in place, never copied, so a long line stays linear). A short fragment that follows no other capital, nor comes before a
        lower-case word, joins into a word the list knows ("S ex *Strike out"; "J et al."
        stays). After "A", a fragment the list does not know joins when capitalised words run
        on to the line's end or punctuation, as a name does ("A gudas Israel World
        Organization;"; "A street", "A colour Chart is annexed", "Table A summarises" stay)."""
        if self.joins_known(letter, fragment):
            return letter not in "AI" or self.drop_caps
        if not (self.drop_caps and letter.isupper() and self.alone(fragment) == 0):
            return False
        if letter not in "AI" and len(fragment) >= 3:
            return True
        if not self.english or len(self.capitals_before.get(fragment, ())) > 1:
            return False
        if letter not in "AI":
            return _WORD_AFTER.match(line, end) is None and is_word((letter + fragment).lower())
        name_runs_on = _NAME_AFTER.match(line, end) is not None
        return letter == "A" and len(fragment) >= 3 and name_runs_on and not is_word(fragment)

    def split_words(self, line: str) -> str:
        """ "Gener al" is "General" in a document that shows words in pieces (:attr:`pieces`),
        writes "general" as a word of its own at least twice, and never writes one of the
        pieces alone; "me an" stays two words where "me" stands alone. (Some PDFs place
        each piece of a word with its own text matrix, which pypdf reads as a gap.)

        A piece joins one neighbour: where it could join either ("the re ceiving": "there",
        "receiving"), the pair with more pieces that are no words of their own wins; three
        pieces or more join only into a word the document writes."""
        out: list[str] = []
        done = 0  # the end of ``line`` copied to ``out``
        word, word_end = "", -1  # the word the last join made, and where it ends
        for match in _WORD_PAIR.finditer(line):
            left, right = match.group(1), match.group(2)
            chained = match.start() == word_end  # ``left`` ends the word just joined
            if not self.joins_split(left, right):
                continue
            if chained and not self.lower[(word + right).lower()]:
                continue
            after = _NEXT_PIECE.match(line, match.end() + len(right))
            if (
                not chained
                and after
                and self.joins_split(right, after.group(1))
                and self._strength(right, after.group(1)) > self._strength(left, right)
            ):
                continue
            out.append(line[done : match.start()] + left)  # the space dropped
            done = match.end()
            word, word_end = (word if chained else left) + right, match.end()
        out.append(line[done:])
        return "".join(out)

    def _strength(self, left: str, right: str) -> tuple[int, int]:
        """How many of two pieces are no words of their own (by the document's evidence, or, in
        an English document, by the word list's), then how seldom they stand alone: "re" of
        "the re mission" joins "mission" rather than "the"."""
        pieces = (left.lower(), right)
        only = sum(
            self._only_piece(piece) or (self.english and not is_word(piece) and self._listed_only_piece(piece))
            for piece in pieces
        )
        return only, -sum(self.lower[piece] for piece in pieces)

    def _only_piece(self, word: str) -> bool:
        """``word`` never stands alone outside pairs that form a word of the document."""
        return self.lower[word] <= self.as_piece[word]

    def joins_split(self, left: str, right: str) -> bool:
        """See :meth:`split_words`. A word the document writes whole only once ("c hild",
        "significanc e") joins when the English word list knows it and one piece is no word of
        the list that the document never writes alone elsewhere; two words of the list stay apart
        ("the re")."""
        lowered = left.lower()
        if not self.pieces or lowered in ("a", "i") or right in ("a", "i"):  # words on either side
            return False
        if self.lower[lowered + right] >= 2:
            return self._only_piece(lowered) or self._only_piece(right)
        if len(left) == 1 and left.isupper():  # a split capital: :meth:`joins` decides ("J et al.")
            return False
        if left[0].isupper() and is_word(right):  # a name the list lacks, then a word: "Europe an"
            return False
        if not self.lower[lowered + right] or not self.english or not is_word(lowered + right):
            return False
        return any(not is_word(piece) and self._listed_only_piece(piece) for piece in (lowered, right))

    def camel(self, match: re.Match[str]) -> str:
        word = match.group(0)
        fixed = _lower_tail(word)
        if self.known(fixed) > self.counts[word] or (self.small_caps and _SMALL_CAPS_GLYPH.fullmatch(word)):
            return fixed
        return word

    def drop_cap(self, match: re.Match[str]) -> str:
        letter, fragment = match.group(1), match.group(2)
        return letter + fragment if self.joins(letter, fragment, match.string, match.end()) else match.group(0)


def _join_across_lines(lines: list[str], glyphs: _Glyphs) -> list[str]:
    """A capital or a piece of a word ending a line joins the fragment starting the next
    ("(6) B" / "eing a person", "Sta" / "tes,"), and the joined line is carried down to meet
    the next one ("Name F" / "orename(s) P" / "lace of birth": both join). A line is built
    from pieces and only its last piece is searched, so a page of one-piece lines that all
    join stays linear."""
    out: list[str] = []
    pieces: list[str] = []  # the line being built
    for line in lines:
        fragment = _LINE_START_FRAGMENT.match(line) if pieces else None
        if fragment:
            last = pieces[-1]
            cap = _LINE_END_CAP.search(last)
            piece = None if cap else _LINE_END_PIECE.search(last)
            end = None
            if cap and glyphs.joins(cap.group(1), fragment.group(1), line, fragment.end()):
                end = cap
            elif piece and glyphs.joins_split(piece.group(1), fragment.group(1)):
                end = piece
            if end is not None:
                before = last[: end.start()].rstrip()
                if before:
                    pieces[-1] = before
                else:
                    pieces.pop()
                pieces.append(end.group(1) + line)
                continue
        if pieces:
            out.append(" ".join(pieces))
        pieces = [line]
    if pieces:
        out.append(" ".join(pieces))
    return [line for line in out if line]


def _lower_tail(word: str) -> str:
    return word[0] + word[1:].lower()


def repair_glyphs(pages: list[list[str]]) -> list[list[str]]:
    """Undo PDF font artefacts, using the document's own words as the dictionary.

    Small-caps fonts whose "b" maps to "B" give "ProhiBition", "oBligations": such a word is
    lower-cased after its first letter when the document writes that form elsewhere, or, once
    the document shows the artefact on a few words, whenever the capital follows two
    lower-case letters ("McDonald" keeps its capital). Drop capitals set apart from their word
    give "T he", "P rovided", "A s a result", on one line or with the capital ending the line
    before ("(2) A" / "s a result"): the letter is joined to its fragment (:class:`_Glyphs`).
    Words set in pieces give "Gener al As sembly": pieces that form a word of the document
    join when one of them is no word of its own (:meth:`_Glyphs.split_words`).
    """
    glyphs = _Glyphs(pages)
    repaired = []
    for lines in pages:
        lines = [glyphs.split_words(_DROP_CAP.sub(glyphs.drop_cap, _CAMEL.sub(glyphs.camel, line))) for line in lines]
        repaired.append(_join_across_lines(lines, glyphs))
    return repaired
