"""Compiled run counting for the linkage attack: the released events among the first m of their (persona, cell).

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
    run = 0
    n = len(order) if len(order) else len(persona)
    prev_p, prev_c = -1, -1
    for i in range(n):
        j = order[i] if len(order) else i
        p, c = persona[j], cell[j]
        if i > 0 and p == prev_p and c == prev_c:
            run += 1
        else:
            run = 0
        prev_p, prev_c = p, c
        if run < m:
            if not count_only:
                out_persona[kept] = p
                out_cell[kept] = c
                out_occ[kept] = run
            kept += 1
    return kept


def first_occurrences(persona: np.ndarray, cell: np.ndarray, m: int, order: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of rows (taken in ``order`` when given: ``persona[order]``, ``cell[order]`` without gathering them) whose
    equal (persona, cell) pairs are contiguous: the rows among the first ``m`` of their run, as (persona, cell,
    occurrence), in release order: each row's place in its run counted while scanning, in two passes (count, then
    fill) and no event-long temporary."""
    persona = np.ascontiguousarray(persona, dtype=np.int64)
    cell = np.ascontiguousarray(cell, dtype=np.int64)
    rows = np.zeros(0, dtype=np.int64) if order is None else np.ascontiguousarray(order, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    n = _first_occurrences(persona, cell, rows, m, True, empty, empty, empty)
    out = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    _first_occurrences(persona, cell, rows, m, False, *out)
    return out
