"""Integer codes for the hot paths: dense codes of int64 values without a sort where the range is small."""

from __future__ import annotations

import numpy as np

DENSE_RANGE_LIMIT = 50_000_000  # above this value range, fall back to a sort (np.unique)


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..u-1 and the sorted distinct values of an int64 array, in O(n + range) when compact."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), values[:0]
    lo, hi = int(values.min()), int(values.max())
    if hi - lo < DENSE_RANGE_LIMIT:
        present = np.bincount(values - lo) > 0
        uniq = np.flatnonzero(present) + lo
        lut = np.cumsum(present) - 1
        return lut[values - lo], uniq
    found = np.unique(values, return_inverse=True)  # unpacked by index: mypy crashes on unpacking np.unique's tuple
    uniq, inv = found[0], found[1]
    return inv.reshape(-1), uniq
