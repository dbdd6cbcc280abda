"""A segment's vectors are read row by row (``pread``), indexed exactly as the array they hold,
and a search does not pull the vector file into the process's memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.store.vectors import StoredVectors


@pytest.fixture
def stored(tmp_path: Path) -> tuple[np.ndarray, StoredVectors]:
    array = np.random.default_rng(0).random((5000, 16)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", array)
    vectors = StoredVectors(tmp_path / "vectors.npy")
    yield array, vectors
    vectors.close()


@pytest.mark.parametrize(
    "key",
    [
        7,
        -1,
        slice(10, 20),
        slice(4990, 9000),
        slice(0, 5000, 13),
        np.array([3, 1, 2, 2, 4999]),
        [0, 1, 2],
        range(100, 104),
        np.arange(5000) % 3 == 0,
        np.array([], dtype=np.int64),
    ],
)
def test_rows_read_as_the_array_indexes_them(stored, key) -> None:
    array, vectors = stored
    assert len(vectors) == 5000 and vectors.shape == (5000, 16)
    np.testing.assert_array_equal(vectors[key], array[key])


@pytest.mark.parametrize("key", [5000, -5001, np.array([0, 5000]), np.ones(10, dtype=bool)])
def test_rows_out_of_range_are_refused(stored, key) -> None:
    with pytest.raises(IndexError):
        stored[1][key]


def test_scattered_rows_stay_out_of_the_resident_set(tmp_path: Path) -> None:
    """Reading 200 scattered rows of a 200 MB file adds far less than the file to the RSS (a
    memory map of it faulted in 2 MiB page-cache folios a row on this machine's kernel)."""
    rows, dim = 130_000, 384
    path = tmp_path / "big.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))[:] = 1.0
    vectors = StoredVectors(path)

    def resident_file_mib() -> float:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile")) / 1024

    before = resident_file_mib()
    picked = np.random.default_rng(1).choice(rows, 200, replace=False)
    assert float(vectors[picked].sum()) == 200 * dim
    assert resident_file_mib() - before < 8
    vectors.close()


def test_a_truncated_vector_file_is_refused_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "vectors.npy"
    np.save(path, np.ones((100, 16), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-64])  # a copy cut short
    with pytest.raises(ValueError, match="short of its 100 rows"):
        StoredVectors(path)
