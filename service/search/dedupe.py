"""The one de-duplication of a ranking, whatever index the rows come from."""

from __future__ import annotations

from collections.abc import Callable, Hashable


def drop_overlaps(
    ranked: list[tuple[int, float]],
    top_k: int,
    doc_of: Callable[[int], Hashable],
    span_of: Callable[[int], tuple[int, int]],
    hash_of: Callable[[int], Hashable],
) -> list[tuple[int, float]]:
    """The first ``top_k`` of ``ranked`` without passages overlapping a better one of the same
    document by more than half, and without exact repeats of a better passage's text."""
    kept: list[tuple[int, float]] = []
    seen_hashes: set[Hashable] = set()
    for row, score in ranked:
        text_hash = hash_of(row)
        if text_hash in seen_hashes:
            continue
        a, b = span_of(row)
        duplicate = False
        for other, _ in kept:
            if doc_of(other) != doc_of(row):
                continue
            c, d = span_of(other)
            if min(b, d) - max(a, c) > 0.5 * min(b - a, d - c):
                duplicate = True
                break
        if duplicate:
            continue
        kept.append((row, score))
        seen_hashes.add(text_hash)
        if len(kept) == top_k:
            break
    return kept
