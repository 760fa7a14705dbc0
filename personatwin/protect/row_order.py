"""The release's row order: rows sorted by (persona rank, rest of the block key), ties in a random order drawn
from the release key. Sorted in two levels, compiled: a counting sort by persona rank, then the rest of the key
inside each persona (what ``argsort(block * n + tie)`` gives, without sorting 10M 64-bit keys)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _by_major(major: np.ndarray, rows: np.ndarray, n_major: int) -> tuple[np.ndarray, np.ndarray]:
    """A counting sort by ``major`` of the rows taken in the order ``rows`` lists them (empty: 0, 1, ... without an
    array of them): the sorted rows and each major group's start."""
    starts = np.zeros(n_major + 1, dtype=np.int64)
    for r in range(len(major)):
        starts[major[r] + 1] += 1
    for b in range(n_major):
        starts[b + 1] += starts[b]
    fill = starts[:-1].copy()
    out = np.empty(len(major), dtype=np.int64)
    n_rows = len(rows) if len(rows) else len(major)
    for i in range(n_rows):
        r = rows[i] if len(rows) else i
        b = major[r]
        out[fill[b]] = r
        fill[b] += 1
    return out, starts


@njit(cache=True, nogil=True)
def _grouped_order(major: np.ndarray, minor: np.ndarray, by_tie: np.ndarray, n_major: int) -> np.ndarray:
    """Rows sorted by (major, minor, position in ``by_tie``): a counting sort of the rows in tie order by
    ``major``, then a stable sort by ``minor`` inside each major group."""
    out, starts = _by_major(major, by_tie, n_major)
    for b in range(n_major):
        lo, hi = starts[b], starts[b + 1]
        if hi - lo > 1:
            seg = out[lo:hi].copy()
            o = np.argsort(minor[seg], kind="mergesort")
            for i in range(hi - lo):
                out[lo + i] = seg[o[i]]
    return out


def keyed_order_grouped(major: np.ndarray, n_major: int, minor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions sorted by (``major`` < ``n_major``, ``minor``), ties in the order of one permutation drawn from
    ``rng`` (the release key): ``argsort((major * M + minor) * n + tie)`` for any M above ``minor``'s values."""
    tie = rng.permutation(len(major))
    by_tie = np.empty(len(tie), dtype=np.int64)
    by_tie[tie] = np.arange(len(tie), dtype=np.int64)  # the row holding each tie rank
    del tie  # 10M positions freed before the sort
    return _grouped_order(np.asarray(major, dtype=np.int64), np.asarray(minor, dtype=np.int64), by_tie,
                          int(n_major))


@njit(cache=True, nogil=True)
def _keyed_order(major: np.ndarray, minor: np.ndarray, tie: np.ndarray, n_major: int, top: int = -1) -> np.ndarray:
    """Rows sorted by (major, minor, tie, position): a counting sort by ``major``, then inside each major group one
    sort of minor and the tie's top bits packed in one 63-bit key (two stable sorts when minors are too wide).
    ``top``: the largest minor of the whole release when these rows are a shard of it (the tie bits kept depend on
    it, so a shard's rows sort as they do among all rows); -1: these rows' largest."""
    out, starts = _by_major(major, np.zeros(0, dtype=np.int64), n_major)
    hi_minor = max(top, 0)
    if top < 0:
        for r in range(len(minor)):
            hi_minor = max(hi_minor, minor[r])
    m_bits = 0
    while (1 << m_bits) <= hi_minor:
        m_bits += 1
    t_bits = 63 - m_bits  # one sort key per row: minor in the high bits, the tie's top bits below it
    for b in range(n_major):
        lo, hi = starts[b], starts[b + 1]
        if hi - lo > 1:
            seg = out[lo:hi].copy()
            if t_bits >= 24:
                key = (minor[seg] << t_bits) | (tie[seg] >> (63 - t_bits))
                o = np.argsort(key, kind="mergesort")  # equal keys (tie bits alike): canonical order
            else:  # minors too wide to share a 63-bit key
                seg = seg[np.argsort(tie[seg], kind="mergesort")]
                o = np.argsort(minor[seg], kind="mergesort")
            for i in range(hi - lo):
                out[lo + i] = seg[o[i]]
    return out


def bucket_ties(n_rows: int, draw) -> np.ndarray:
    """One random 63-bit tie key per row of a bucket (its generator ``draw``), in the bucket's canonical order."""
    return draw.integers(0, 2**63 - 1, size=n_rows, dtype=np.int64)


def row_ties(row_bucket: np.ndarray, n: int, draw) -> np.ndarray:
    """Each row's random tie key from its bucket's generator (rows of a bucket in canonical order)."""
    from personatwin.core.codes import grouped

    order, bounds = grouped(row_bucket, n)
    tie = np.empty(len(row_bucket), dtype=np.int64)
    for b in np.flatnonzero(np.diff(bounds)):  # a loop over buckets
        rows = order[bounds[b]:bounds[b + 1]]
        tie[rows] = bucket_ties(len(rows), draw(int(b)))
    return tie


def keyed_order_bucketed(major: np.ndarray, n_major: int, minor: np.ndarray, row_bucket: np.ndarray, n: int,
                         draw) -> np.ndarray:
    """``keyed_order_grouped`` with the ties drawn bucket by bucket (``draw(b)``: the bucket's generator): each row a
    random key from its bucket's generator, rows of equal (major, minor) in key order. A persona's rows come from
    several buckets (its members'), so the order inside its blocks is random across members, never grouped by
    bucket (which would group each person's rows). One bucket: ``keyed_order_grouped``'s permutation."""
    if n == 1:
        return keyed_order_grouped(major, n_major, minor, draw(0))
    tie = row_ties(row_bucket, n, draw)
    del row_bucket  # the caller's only reference (``stages._row_order``): 100M rows' buckets freed before the sort
    return _keyed_order(np.asarray(major, dtype=np.int64), np.asarray(minor, dtype=np.int64), tie, int(n_major))


def sort_keys(minor: np.ndarray, tie: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The keys below the rank that ``_keyed_order`` sorts rows by (``top``: the release's largest minor): minor
    and the tie's top bits packed in one key (None second), or minor and the whole tie when minors are wide."""
    t_bits = 63 - int(top).bit_length()
    if t_bits >= 24:
        key = np.left_shift(np.asarray(minor, dtype=np.int64), t_bits)
        key |= np.right_shift(np.asarray(tie, dtype=np.int64), 63 - t_bits)
        return key, None
    return np.asarray(minor, dtype=np.int64), np.asarray(tie, dtype=np.int64)


@njit(cache=True, nogil=True)
def _merge_runs(rank: np.ndarray, key: np.ndarray, key2: np.ndarray, position: np.ndarray,
                bounds: np.ndarray) -> np.ndarray:
    n_runs = len(bounds) - 1
    heads = bounds[:-1].copy()
    out = np.empty(bounds[-1], dtype=np.int64)
    wide = len(key2) > 0
    for i in range(len(out)):
        best = -1
        for s in range(n_runs):
            h = heads[s]
            if h >= bounds[s + 1]:
                continue
            if best < 0:
                best = s
                continue
            b = heads[best]
            if rank[h] != rank[b]:
                less = rank[h] < rank[b]
            elif key[h] != key[b]:
                less = key[h] < key[b]
            elif wide and key2[h] != key2[b]:
                less = key2[h] < key2[b]
            else:
                less = position[h] < position[b]
            if less:
                best = s
        out[i] = heads[best]
        heads[best] += 1
    return out


def merge_runs(rank: np.ndarray, key: np.ndarray, key2: np.ndarray | None, position: np.ndarray,
               bounds: np.ndarray) -> np.ndarray:
    """The order of rows given as runs (``bounds``: each run's start, then the end), each run sorted by (rank, key,
    key2, position) as ``sort_keys`` makes them: the runs merged (shards' rows into the release's order; linear in
    the rows times the runs, no sort)."""
    return _merge_runs(np.asarray(rank, dtype=np.int64), np.asarray(key, dtype=np.int64),
                       np.zeros(0, dtype=np.int64) if key2 is None else np.asarray(key2, dtype=np.int64),
                       np.asarray(position, dtype=np.int64), np.asarray(bounds, dtype=np.int64))
