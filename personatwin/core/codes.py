"""Integer codes for the hot paths: dense codes of int64 values without a sort of the values (a table where the
range is small, a hash otherwise)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

DENSE_RANGE_LIMIT = 50_000_000  # above this value range, fall back to a sort (np.unique)


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..u-1 and the sorted distinct values of an int64 array, in O(n + range) when compact."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), values[:0]
    lo, hi = int(values.min()), int(values.max())
    if hi - lo < DENSE_RANGE_LIMIT:
        offset = values - lo
        present = np.bincount(offset) > 0
        uniq = np.flatnonzero(present) + lo
        lut = np.cumsum(present) - 1
        return lut[offset], uniq
    inv, uniq = pd.factorize(values, sort=True)  # hashed, then the distinct values sorted: np.unique's result
    return inv.astype(np.int64, copy=False), np.asarray(uniq, dtype=np.int64)


def _first_seen_rank(parts: tuple[np.ndarray, ...], present: np.ndarray, targets: tuple[int, ...]) -> np.ndarray:
    """Rank of each distinct key (``present``, sorted) by its first appearance across ``parts`` read in
    order (the codes ``pd.factorize`` gives their concatenation). Growing prefixes of a part are read
    only until ``targets[i]`` keys (those of parts 0..i) have been seen."""
    seen = np.zeros(0, dtype=np.int64)
    for part, target in zip(parts, targets):
        start, step = 0, 4096
        while len(seen) < target and start < len(part):
            seen = pd.unique(np.concatenate([seen, part[start:start + step]]))  # keeps first-appearance order
            start, step = start + step, step * 2
    rank = np.empty(len(present), dtype=np.int64)
    rank[np.searchsorted(present, seen)] = np.arange(len(seen))
    return rank


def tuple_codes(columns: list[tuple[np.ndarray, np.ndarray, int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the rows of two sets a and b (e.g. the true and the released values of the same events)
    by the tuple of their column values: equal tuples get equal codes, in both sets.

    Each column is (keys in a, keys in b, span, ordered): int keys in 0..span-1, coded in order of first
    appearance over a then b unless ``ordered`` (the keys already are such codes). The codes are the
    dense ranks of the tuples of column codes in lexicographic order, i.e. ``dense_codes`` of the
    concatenation of a and b coded column by column with ``pd.factorize``. They are computed on one
    int64 key per row (a table over every key when that is small, else hashing), the ranking itself on
    the distinct tuples only."""
    spans = [int(c[2]) for c in columns]
    if len(columns) > 1 and math.prod(spans) >= 2**62:  # the key would overflow: in two steps
        head_a, head_b = tuple_codes(columns[:-1])
        span = int(max(head_a.max(initial=0), head_b.max(initial=0))) + 1
        return tuple_codes([(head_a, head_b, span, True), columns[-1]])
    key_a, key_b = columns[0][0].astype(np.int64), columns[0][1].astype(np.int64)  # copies
    for a, b, span, _ in columns[1:]:  # mixed radix: key order is the lexicographic order of the keys
        key_a *= span
        key_a += a
        key_b *= span
        key_b += b
    n_keys = math.prod(spans)
    table = n_keys <= 2 * (len(key_a) + len(key_b)) + 4096  # the table's memory stays within the keys'
    if table:  # which keys occur, marked in a table of every key
        seen_a, seen_b = np.zeros(n_keys, dtype=bool), np.zeros(n_keys, dtype=bool)
        seen_a[key_a] = True
        seen_b[key_b] = True
        tuples = np.flatnonzero(seen_a | seen_b)
        in_a = seen_a[tuples]
    else:
        code_a, uniq_a = pd.factorize(key_a)
        code_b, uniq_b = pd.factorize(key_b)
        uniq_a, uniq_b = np.asarray(uniq_a, dtype=np.int64), np.asarray(uniq_b, dtype=np.int64)
        tuples = np.unique(np.concatenate([uniq_a, uniq_b]))
        at_a, at_b = np.searchsorted(tuples, uniq_a), np.searchsorted(tuples, uniq_b)
        in_a = np.zeros(len(tuples), dtype=bool)
        in_a[at_a] = True
    rest, digits = tuples.copy(), []
    for span in reversed(spans):
        digits.append(rest % span)
        rest //= span
    coded = []  # each column's code of every distinct tuple, last column first (np.lexsort's order)
    for (a, b, _, ordered), d in zip(reversed(columns), digits):
        if ordered:
            coded.append(d)
            continue
        found = np.unique(d, return_inverse=True)  # unpacked by index: mypy crashes on unpacking np.unique's tuple
        targets = (len(np.unique(d[in_a])), len(found[0]))
        coded.append(_first_seen_rank((a, b), found[0], targets)[found[1].reshape(-1)])
    rank = np.empty(len(tuples), dtype=np.int64)
    rank[np.lexsort(coded)] = np.arange(len(tuples))
    if table:
        lut = np.empty(n_keys, dtype=np.int64)  # read only at keys that occur
        lut[tuples] = rank
        return lut[key_a], lut[key_b]
    return rank[at_a][code_a], rank[at_b][code_b]


def grouped(codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions sorted by small non-negative codes, input order kept inside a group (a radix sort on
    8/16-bit keys), and the group bounds: group g is ``order[bounds[g]:bounds[g + 1]]``."""
    codes = np.asarray(codes)
    hi = int(codes.max()) if len(codes) else 0
    small = codes.astype(np.uint8) if hi < 2**8 else codes.astype(np.uint16) if hi < 2**16 else codes
    order = np.argsort(small, kind="stable")
    counts = np.bincount(codes, minlength=n_groups) if len(codes) else np.zeros(n_groups, dtype=np.int64)
    return order, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
