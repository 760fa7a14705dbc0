"""Compiled occurrence counting for the linkage attack: each (persona, cell)'s first m released occurrences.

A kernel so the released events' occurrences cost only the kept rows, not a (persona, cell) key, an occurrence
per event and the temporaries of the vectorized form (100M released events: about 5 GB less); numba, so imported
only where it is used.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _first_occurrences(persona: np.ndarray, cell: np.ndarray, order: np.ndarray, m: int, count_only: bool,
                       out_persona: np.ndarray, out_cell: np.ndarray, out_occ: np.ndarray) -> int:
    kept = 0
    n = len(order) if len(order) else len(persona)
    buf = np.empty(64, dtype=np.int64)  # one persona's cells, grown as needed
    i = 0
    while i < n:
        p = persona[order[i] if len(order) else i]
        e = i
        while e < n and persona[order[e] if len(order) else e] == p:
            e += 1
        if e - i > len(buf):
            buf = np.empty(2 * (e - i), dtype=np.int64)
        for q in range(i, e):
            buf[q - i] = cell[order[q] if len(order) else q]
        block = np.sort(buf[: e - i])  # a persona's rows of one cell need not be adjacent (outcome, details)
        run = 0
        for q in range(len(block)):
            run = run + 1 if q > 0 and block[q] == block[q - 1] else 0
            if run < m:
                if not count_only:
                    out_persona[kept] = p
                    out_cell[kept] = block[q]
                    out_occ[kept] = run
                kept += 1
        i = e
    return kept


def first_occurrences(persona: np.ndarray, cell: np.ndarray, m: int, order: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of rows (taken in ``order`` when given: ``persona[order]``, ``cell[order]`` without gathering them) whose
    equal personas are contiguous (the release's row order): for each (persona, cell), its first ``m``
    occurrences as (persona, cell, occurrence) triples, personas in row order, cells ascending inside each; counted
    per persona block (its cells sorted in a small buffer), in two passes (count, then fill), no event-long
    temporary."""
    persona = np.ascontiguousarray(persona, dtype=np.int64)
    cell = np.ascontiguousarray(cell, dtype=np.int64)
    rows = np.zeros(0, dtype=np.int64) if order is None else np.ascontiguousarray(order, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    n = _first_occurrences(persona, cell, rows, m, True, empty, empty, empty)
    out = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    _first_occurrences(persona, cell, rows, m, False, *out)
    return out
