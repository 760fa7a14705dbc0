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


@njit(cache=True, nogil=True)
def set_released_bits(bits: np.ndarray, persona: np.ndarray, cell: np.ndarray, occurrence: np.ndarray,
                      needed: np.ndarray, m: int) -> None:
    """Set bit (row, persona) for each released occurrence whose key ``cell * m + occurrence`` is row ``row`` of
    the sorted ``needed`` keys: the event rows of the attack's bitsets, in one pass over the released events with no
    event-long temporary (100M released events: a few GB less than listing the (row, persona) pairs)."""
    one = np.uint64(1)
    n = len(needed)
    for i in range(len(cell)):
        key = cell[i] * m + occurrence[i]
        row = np.searchsorted(needed, key)
        if row < n and needed[row] == key:
            p = persona[i]
            bits[row, p >> 6] |= one << np.uint64(p & 63)
