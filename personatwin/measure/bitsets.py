"""Compiled kernels over candidate bitsets (one bit per persona, 64 per word) of the linkage simulation."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def people_in(cand: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Sum of ``sizes`` over the set bits of each row of ``cand`` (rows x words, uint64): the people in a target's
    candidate personas. Empty words cost one test; the GIL is released (the attack evaluation runs beside it)."""
    n, w = cand.shape
    out = np.zeros(n)
    one = np.uint64(1)
    for r in range(n):
        acc = 0.0
        for j in range(w):
            word = cand[r, j]
            b = j * 64
            while word:
                if word & one:
                    acc += sizes[b]
                word >>= one
                b += 1
        out[r] = acc
    return out
