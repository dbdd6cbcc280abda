"""What a new generation keeps of the current one, and the merge policy that keeps the number
of segments bounded.

:func:`carry_over` gives the current generation's segments with the rows of replaced
documents added to their deletions. :func:`merge_segments` runs at the end of an ingest,
after its generation is published (readers keep the generation they hold, so a merge never
blocks them): while the policy (:func:`plan`, tiered as in Lucene's ``TieredMergePolicy``)
finds segments to merge, it writes one segment of their live rows, re-using the stored
vectors and term frequencies (nothing is re-embedded or re-tokenised, deleted passages are
dropped), and publishes a generation naming it in their place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.store.dense import DensePolicy
from ingest.store.format import Manifest, SegmentRef
from ingest.store.lexical import Postings
from ingest.store.reader import StoredIndex, read_manifest
from ingest.store.segment import Segment, write_segment
from ingest.store.writer import publish
from ingest.types import Document, Passage

FLOOR = 1_000  # live rows below which all segments share the lowest tier
TIER_FACTOR = 10  # each tier holds segments up to ten times larger than the one below
PER_TIER = 8  # segments a tier may hold before they are merged into one
EXPUNGE = 0.5  # a segment with more than this share of its rows deleted is rewritten


def carry_over(index: StoredIndex, replaced: Iterable[str]) -> tuple[list[SegmentRef], dict[str, np.ndarray]]:
    """The current generation's segments, and their deleted rows once the rows of the
    ``replaced`` documents are added; a segment left with no live row is dropped."""
    gone: dict[int, list[int]] = {}
    for doc_id in replaced:
        s = index.segment_of(doc_id)
        if s is not None:
            gone.setdefault(s, []).extend(index.segments[s].document_rows(doc_id))
    refs, deleted = [], {}
    for s, segment in enumerate(index.segments):
        dead = ~segment.live
        dead[gone.get(s, [])] = True
        if dead.all():
            continue
        refs.append(segment.ref)
        if dead.any():
            deleted[segment.ref.id] = np.flatnonzero(dead)
    return refs, deleted


def _tier(live: int) -> int:
    return int(np.log(max(live, FLOOR) / FLOOR) / np.log(TIER_FACTOR) + 1e-9)


def plan(manifest: Manifest) -> list[int]:
    """Positions of the segments to merge next (empty: none): a segment mostly deleted, or the
    lowest tier holding more than :data:`PER_TIER` segments of similar size."""
    refs = manifest.segments
    for s, ref in enumerate(refs):
        if ref.deleted > EXPUNGE * ref.rows:
            return [s]
    tiers: dict[int, list[int]] = {}
    for s, ref in enumerate(refs):
        tiers.setdefault(_tier(ref.live), []).append(s)
    for tier in sorted(tiers):
        if len(tiers[tier]) > PER_TIER:
            return tiers[tier]
    return []


def _live_part(segment: Segment, vocab: dict[str, int], start: int) -> tuple[list, list, np.ndarray, tuple]:
    """A segment's live documents, passages, vectors and postings (renumbered from ``start``
    in a merged vocabulary)."""
    live = np.flatnonzero(segment.live)
    docs_alive = np.unique(np.asarray(segment.columns["doc"])[live])
    documents = [segment.documents[i] for i in docs_alive]
    by_row = segment.passages(live.tolist())
    passages = [by_row[r] for r in live.tolist()]
    new_row = np.full(segment.ref.rows, -1, dtype=np.int64)
    new_row[live] = start + np.arange(len(live))
    terms, rows, tf = segment.postings.triplets()
    keep = segment.live[rows]
    local_vocab = sorted(segment.postings.vocab.items(), key=lambda item: item[1])
    to_merged = np.array([vocab.setdefault(term, len(vocab)) for term, _ in local_vocab], dtype=np.int64)
    postings = (to_merged[terms[keep]], new_row[rows[keep]], tf[keep], np.asarray(segment.postings.lengths)[live])
    return documents, passages, np.asarray(segment.vectors[live]), postings


def merge_once(index_dir: Path, index: StoredIndex, group: list[int], policy: DensePolicy) -> Path:
    """Merge the segments at ``group`` into one and publish the generation holding it."""
    vocab: dict[str, int] = {}
    documents: list[Document] = []
    passages: list[Passage] = []
    vectors, terms, rows, tfs, lengths = [], [], [], [], []
    for s in group:
        docs, found, vecs, (t, r, f, n) = _live_part(index.segments[s], vocab, len(passages))
        documents += docs
        passages += found
        vectors.append(vecs)
        terms.append(t)
        rows.append(r)
        tfs.append(f)
        lengths.append(n)
    postings = Postings.from_triplets(
        vocab, np.concatenate(terms), np.concatenate(rows), np.concatenate(tfs), np.concatenate(lengths)
    )
    merged = write_segment(index_dir, documents, passages, np.concatenate(vectors), postings, policy)
    first = min(group)
    ordered = [
        merged if s == first else ref for s, ref in enumerate(index.manifest.segments) if s == first or s not in group
    ]
    deleted = {
        segment.ref.id: np.flatnonzero(~segment.live)
        for s, segment in enumerate(index.segments)
        if s not in group and not segment.live.all()
    }
    created = datetime.now(UTC)
    version = f"{created:%Y%m%dT%H%M%S}.{created.microsecond // 1000:03d}Z-{index.manifest.content_digest[:8]}"
    manifest = dataclasses.replace(index.manifest, index_version=version, created_at=created.isoformat())
    return publish(index_dir, manifest, ordered, deleted)


def merge_segments(index_dir: Path, policy: DensePolicy) -> int:
    """Merge while the policy finds segments to merge; how many merges ran."""
    merges = 0
    # The plan needs the manifest only: the index (seconds to open at a million rows) is
    # opened when there is something to merge.
    while plan(read_manifest(index_dir)):
        index = StoredIndex.open(index_dir)
        try:
            merge_once(index_dir, index, plan(index.manifest), policy)
        finally:
            index.close()
        merges += 1
    return merges
