"""PDF text artefacts per document: pypdf as extracted, clausewise's cleaned text, and
poppler's `pdftotext` as the yardstick (Debian `poppler-utils`, used only here).

    python bench/pdf_artefacts.py [FOLDER] [--json OUT] [--before BEFORE.json] [--write]

Counted per document, on the whole text:

- split-initial words: a capital standing alone before a lower-case fragment it forms a word
  with ("P rovided", "A s a result", "T he"): the joined word is a word of the pdftotext
  extraction; for "A" and "I", which are words, the fragment must not be one;
- letter-spaced runs: three or more single letters one space apart ("c o n v e n t i o n");
- small-caps glyph case: a word with a capital after a lower-case letter ("prohiBition")
  whose lower-case form is a word of the pdftotext extraction and which that extraction never
  writes so ("McKinsey" stays a name);
- unjoined hyphens: "word- word" (a line break read as a space) where the two halves form a
  word or a hyphenated compound of the pdftotext extraction, and the hyphen is not a suspended
  one ("gender- and");
- split words: two pieces of letters one space apart ("Gener al", "imple menting", "t o") that
  form a word of the pdftotext extraction while one of them is none; a lone capital before its
  fragment is a split initial, counted above.

The vocabulary is pdftotext's, so the cleaned text is judged against an independent
extraction, not against itself. ``--before`` adds the clausewise column of an earlier run (the
same script run on the code before a change, ``--json``) to the table; ``--write`` puts the
table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from collections import Counter
from itertools import pairwise
from pathlib import Path

from common import SHARED, md_table, write_block
from pypdf import PdfReader

from ingest.errors import LoadError
from ingest.loaders import load
from ingest.structure import build

SPLIT = re.compile(r"(?<![\w’'])([A-Z])\s+([a-z]+)\b")
SPACED = re.compile(r"(?<!\S)(?:[^\W\d_] ){2,}[^\W\d_](?!\S)")
GLYPH = re.compile(r"\b[A-Za-z][a-z]*[A-Z][a-z]+\b")
HYPHEN = re.compile(r"\b([^\W\d_]{2,})-\s+([^\W\d_]+)")
SUSPENDED = {"and", "or", "to", "nor"}
KINDS = ["split_initial", "letter_spaced", "glyph_case", "unjoined_hyphen", "split_word"]
SOURCES = ["pdftotext", "pypdf_raw", "before", "clausewise"]


def vocabulary(text: str) -> Counter[str]:
    """pdftotext keeps a soft hyphen where a word breaks ("imple\u00ad" / "menting"): one word."""
    text = re.sub(r"\u00ad\s*", "", text)
    return Counter(w.lower() for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text))


def counts(text: str, vocab: Counter[str], exact: set[str]) -> dict[str, int]:
    """The four artefact counts of ``text`` (see the module docstring)."""
    flat = " ".join(text.split())
    split = 0
    for letter, fragment in SPLIT.findall(text):
        joined = (letter + fragment).lower()
        if vocab[joined] and (letter not in "AI" or not vocab[fragment]):
            split += 1
    glyph = sum(1 for w in GLYPH.findall(flat) if w not in exact and vocab[w.lower()])
    hyphens = 0
    for left, right in HYPHEN.findall(text):
        if right.lower() not in SUSPENDED and (vocab[(left + right).lower()] or vocab[f"{left}-{right}".lower()]):
            hyphens += 1
    tokens = flat.split(" ")
    split_words = sum(
        1
        for left, right in pairwise(tokens)
        if left.isalpha()
        and right.isalpha()
        and right[0].islower()
        and not (len(left) == 1 and left.isupper())
        and vocab[(left + right).lower()]
        and not (vocab[left.lower()] and vocab[right.lower()])
    )
    return {
        "split_initial": split,
        "letter_spaced": len(SPACED.findall(flat)),
        "glyph_case": glyph,
        "unjoined_hyphen": hyphens,
        "split_word": split_words,
    }


def measure(folder: Path) -> dict[str, dict[str, dict[str, int] | None]]:
    rows: dict[str, dict[str, dict[str, int] | None]] = {}
    for path in sorted(folder.glob("*.pdf")):
        reference = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=False
        ).stdout
        vocab, exact = vocabulary(reference), set(re.findall(r"[^\W\d_]+", reference))
        raw = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
        try:
            cleaned: str | None = build(load(path, path.name)).text
        except LoadError as exc:
            cleaned = None
            print(f"{path.name}: not ingested ({exc})")
        rows[path.name] = {
            "pdftotext": counts(reference, vocab, exact),
            "pypdf_raw": counts(raw, vocab, exact),
            "clausewise": counts(cleaned, vocab, exact) if cleaned is not None else None,
        }
    return rows


def table(rows: dict, before: dict | None) -> str:
    """Totals over the documents, one row per artefact kind, one column per extraction."""
    sources = [s for s in SOURCES if s != "before" or before]
    total = {s: Counter() for s in sources}
    for name, row in rows.items():
        merged = {**row, "before": (before or {}).get(name, {}).get("clausewise")}
        for source in sources:
            if merged.get(source):
                total[source].update(merged[source])
    names = {"pypdf_raw": "pypdf raw", "before": "clausewise before", "clausewise": "clausewise now"}
    headers = ["artefact (all shared treaty PDFs)", *(names.get(s, s) for s in sources)]
    body = [[kind.replace("_", " "), *(total[s][kind] for s in sources)] for kind in KINDS]
    per_doc = [
        [name, *(" / ".join(str(row[s][k]) if row.get(s) else "–" for s in ("pypdf_raw", "clausewise")) for k in KINDS)]
        for name, row in rows.items()
    ]
    return (
        md_table(headers, body)
        + "\n\nPer document, pypdf raw / clausewise now:\n\n"
        + md_table(["document", *(k.replace("_", " ") for k in KINDS)], per_doc)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=SHARED / "corpus" / "treaties")
    parser.add_argument("--json", type=Path, help="Write the per-document counts here.")
    parser.add_argument("--before", type=Path, help="Counts of an earlier run (its --json) to show beside.")
    parser.add_argument("--write", action="store_true", help="Put the table into docs/benchmarks.md.")
    args = parser.parse_args()
    if not shutil.which("pdftotext"):
        raise SystemExit("pdftotext not found: apt-get install poppler-utils (used only as a yardstick)")
    rows = measure(args.folder)
    before = json.loads(args.before.read_text()) if args.before else None
    text = table(rows, before)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.write:
        write_block("pdf_artefacts", text)


if __name__ == "__main__":
    main()
