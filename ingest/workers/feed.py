"""Embed files as the parse workers finish them, so that parsing and embedding overlap.

Passages wait in a buffer until a few batches' worth have gathered (tiny files would
otherwise be embedded in tiny batches), then go to the model together; :meth:`finish`
embeds the rest. Vectors are kept per source, in each file's passage order; a file that
arrives embedded (from a Dask worker, :mod:`ingest.cluster`) keeps the vectors it brings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ingest.store.writer import contextual_text
from ingest.workers.parse import Parsed

if TYPE_CHECKING:
    from ingest.embedder import Embedder

# A call sorts its passages by length before cutting them into forward passes, so a larger call
# pads less: over the shared corpus calls of 128 passages (4 batches of 32) padded the tokens
# embedded by 6.9 %, calls of 512 by 2.4 %, and a full build ran 1.06x as fast
# (docs/benchmarks.md, "Ingestion"). The wait costs no core: the model uses every core once it
# runs, while the last files parse.
BATCHES_PER_CALL = 16


class EmbedFeed:
    """Collects :class:`Parsed` files and embeds their passages in batches."""

    def __init__(self, embedder: Embedder, contextualize: bool, notify: Callable[[str, int, int], None]) -> None:
        self.embedder, self.contextualize, self.notify = embedder, contextualize, notify
        self.waiting: list[tuple[str, list[str]]] = []
        self.vectors: dict[str, np.ndarray] = {}
        self.seen = 0
        self.embedded = 0

    def add(self, parsed: Parsed) -> None:
        if parsed.vectors is not None:  # embedded where it was parsed (a cluster worker)
            self.vectors[parsed.source] = parsed.vectors
            return
        title = parsed.document.title
        texts = [contextual_text(p, title) if self.contextualize else p.text for p in parsed.passages]
        self.waiting.append((parsed.source, texts))
        self.seen += len(texts)
        if self.seen - self.embedded >= BATCHES_PER_CALL * self.embedder.batch_size:  # passages waiting
            self._flush()

    def finish(self) -> dict[str, np.ndarray]:
        """Embed what is still waiting; every file's vectors, by source."""
        self._flush()
        return self.vectors

    def _flush(self) -> None:
        if not self.waiting:
            return
        texts = [text for _, file_texts in self.waiting for text in file_texts]
        self.notify("embed", self.embedded, self.seen)
        vectors = self.embedder.embed_passages(texts)
        row = 0
        for source, file_texts in self.waiting:
            self.vectors[source] = vectors[row : row + len(file_texts)]
            row += len(file_texts)
        self.embedded += len(texts)
        self.waiting = []
        self.notify("embed", self.embedded, self.seen)
