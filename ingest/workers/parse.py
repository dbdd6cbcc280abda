"""One file, from bytes to a document and its passages: what a parse worker runs.

:func:`parse_file` is load → clean and structure → chunk, with the model's tokenizer from
the ``tokenizers`` library (:class:`FastOffsets`): a worker never imports torch or
sentence-transformers. It returns a :class:`Parsed` or a :class:`Failed` saying why, and
raises nothing but what the worker itself cannot survive.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer

from ingest.chunker import ChunkParams, TokenOffsets, chunk
from ingest.errors import LoadError
from ingest.loaders import load
from ingest.loaders.ocr import flag_ocr
from ingest.structure import build
from ingest.types import Document, Passage

if TYPE_CHECKING:
    import numpy as np

TOKENIZER_FILE = "tokenizer.json"
PIECE_CHARS = 20_000  # longer texts are tokenized in pieces of about this size
_PARALLELISM = "TOKENIZERS_PARALLELISM"


@dataclass(frozen=True)
class ParseJob:
    """A file to parse: where it is, its source name, content hash and document id."""

    path: Path
    source: str
    digest: str
    doc_id: str


@dataclass
class Parsed:
    """A file parsed: its document, its passages, and what the report should say about it;
    ``vectors``: its passages embedded already, by the cluster worker that parsed it."""

    source: str
    document: Document
    passages: list[Passage]
    warnings: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None


@dataclass
class Failed:
    """A file that could not be parsed, and why (shown to the user as is)."""

    source: str
    reason: str
    warnings: list[str] = field(default_factory=list)


@contextmanager
def _parallel_tokenizer() -> Iterator[None]:
    """``tokenizers`` on every core for one batch (it reads the variable at each call). The
    process is a parse worker that does nothing else meanwhile, started by the forkserver,
    which never ran the tokenizer in parallel (the case ``tokenizers`` refuses after a fork):
    a long file's tokens take half the time on two cores."""
    before = os.environ.get(_PARALLELISM)
    os.environ[_PARALLELISM] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_PARALLELISM, None)
        else:
            os.environ[_PARALLELISM] = before


class FastOffsets:
    """The character spans of the model's tokens, from its ``tokenizer.json`` alone.

    The same spans as the ``Embedder``'s transformers tokenizer gives (a test checks it), with
    padding and truncation switched off: the bundled model's file pads every input to 128.
    """

    def __init__(self, tokenizer_file: Path) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def __call__(self, text: str) -> list[tuple[int, int]]:
        """Long texts are encoded in pieces cut at white space: one encode of megabytes takes
        superlinear time in ``tokenizers`` (30 s for 2 MB, 4 s for 1 MB), pieces take linear
        time, and a WordPiece tokenizer never joins characters across white space."""
        if len(text) <= PIECE_CHARS:
            return self.tokenizer.encode(text, add_special_tokens=False).offsets
        starts = [0]
        while len(text) - starts[-1] > PIECE_CHARS:
            limit = starts[-1] + PIECE_CHARS
            cut = max(
                text.rfind(" ", limit - PIECE_CHARS // 2, limit), text.rfind("\n", limit - PIECE_CHARS // 2, limit)
            )
            starts.append(cut + 1 if cut > 0 else limit)
        bounds = list(zip(starts, starts[1:] + [len(text)]))
        with _parallel_tokenizer():
            encodings = self.tokenizer.encode_batch([text[a:b] for a, b in bounds], add_special_tokens=False)
        return [(a + start, a + end) for (a, _), e in zip(bounds, encodings) for start, end in e.offsets]


def parse_file(job: ParseJob, offsets: TokenOffsets, params: ChunkParams) -> Parsed | Failed:
    """``job``'s file as a document and its passages, or why not."""
    source = job.source
    try:
        raw = load(job.path, source)
    except LoadError as exc:
        return Failed(source, str(exc))
    clean = build(raw)
    passages = chunk(clean, job.doc_id, offsets, params)
    flag_ocr(passages, raw)  # cited as read by OCR
    if not passages:
        return Failed(source, "no text left after cleaning", raw.warnings)
    pages = max((p.number or 0 for p in raw.pages), default=0) or None
    document = Document(
        job.doc_id, source, clean.title or source, raw.kind, job.digest, pages, len(passages), len(clean.text)
    )
    return Parsed(source, document, passages, raw.warnings)
