"""A segment's ``vectors.npy``, read with ``pread`` instead of being memory-mapped.

A search reads a few dozen scattered rows (the approximate index's candidates, re-scored
exactly). Through a memory map each row faulted in its whole page-cache folio, which ext4 on
recent kernels keeps in 2 MiB pieces: re-scoring 80 rows put ~150 MiB into the process's RSS,
and ten questions every vector of a million-row index (``madvise`` changes nothing for large
folios). Copying the rows out costs one system call per run of consecutive rows and leaves the
resident set to what the process itself holds; the page cache still serves repeated reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_MAX_READ = 256 << 20  # bytes per system call (Linux caps one read just under 2 GiB)


class StoredVectors:
    """The rows of a ``.npy`` file of shape ``(rows, dimension)``, read on demand; indexed like
    an array by an int, a slice, an integer array (any order, repeats allowed) or a boolean mask."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(handle)
            self._offset = handle.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path} is not a C-ordered matrix")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        size = path.stat().st_size
        if size < self._offset + self.shape[0] * self._row_bytes:  # a truncated copy: refused at open, not mid-query
            raise ValueError(f"{path} holds {size} bytes, short of its {self.shape[0]} rows")
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: int | slice | np.ndarray | list[int] | range) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                return self._run(start, max(stop, start))
            key = np.arange(start, stop, step)
        rows = np.asarray(key)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise IndexError("a boolean mask must have one entry a row")
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False)
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"row out of range for {len(self)} rows")
        rows = np.where(rows < 0, rows + len(self), rows)
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), self.shape[1]), dtype=self.dtype)
        if not len(unique):
            return out
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for first, last in zip(np.r_[0, breaks], np.r_[breaks, len(unique)]):
            self._read_into(out[first:last], int(unique[first]))
        return out if len(unique) == len(rows) and np.array_equal(unique, rows) else out[inverse]

    def _run(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.shape[1]), dtype=self.dtype)
        self._read_into(out, start)
        return out

    def _read_into(self, out: np.ndarray, first_row: int) -> None:
        view = memoryview(out.data).cast("B")
        position = self._offset + first_row * self._row_bytes
        done = 0
        while done < len(view):
            got = os.preadv(self._fd, [view[done : done + _MAX_READ]], position + done)
            if got <= 0:
                raise OSError(f"vectors file ended {len(view) - done} bytes early")
            done += got

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
