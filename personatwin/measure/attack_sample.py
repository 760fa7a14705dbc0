"""Anonymeter's three attacks on a keyed sample of targets, at a cost that does not grow with the partition (issue 14).

The stock run (``anonymeter_eval`` with ``engine="anonymeter"``) attacks every member and held-out person by
brute-force nearest-neighbour search over one release row per member: about n^1.8 (206 s at 100,000 people).
The precision of a risk comes from the number of attacks, not from attacking everyone, so this engine:

* **Targets.** Draws a keyed (``ReleaseKey.rng``, purpose ``anonymeter-targets``), stratified sample of
  members and of held-out people: sorted by QI stratum in a keyed random order and taken systematically,
  so every stratum gets its share. Its size per side is the worst-case (p = 0.5) number of attacks for the
  half-width asked (``AnonymeterOptions.half_width``, default +-0.01 at 95%: 9,604), at most
  ``max_targets``; smaller sides are attacked whole. The held-out side is the control split (at most
  ``max_control`` = 5,000 people: +-0.014 worst case on its own rate).
* **Release rows.** Members of a persona share one release row, so the release is searched at one row per
  distinct persona row (n/k rows), each weighted by its member count where Anonymeter's row-per-member
  table matters (linkability ties, see below).
* **Nearest rows, exactly.** Anonymeter's distance (categorical mismatch 1, numeric |a - b| / range with one
  range per run as in ``fix_numeric_ranges``, both missing +1, one missing: never nearest) is searched in
  blocks: release rows grouped by missing pattern and exact categorical values, each block sorted by the
  sum of its scaled numeric values. A target visits blocks in order of categorical mismatches and scans a
  block outward from its own sum; since |sum(a) - sum(b)| <= L1(a, b), a scan stops when that bound
  passes the best distance, and blocks with more mismatches than the best distance are skipped: the
  nearest row found is the exact nearest row. Ties (equal distance) go to a keyed random priority, as
  Anonymeter's unstable argsort picks any of them. The count of distances computed is recorded (``work``).
* **Singling out.** Queries are made from the distinct release rows exactly as Anonymeter makes them
  (univariate: rare values, minima and maxima; multivariate: ``n_cols`` attributes of a random row, numeric
  ones as >= or <= its value by the column median) and kept when they isolate one release row. Their
  matches are counted on the distinct member rows and held-out rows through per-column sorted indexes (a
  query scans the rows of its most selective predicate and stops at two matches): success = exactly one.
  The number of queries follows the half-width too; the rate's denominator is the larger of the queries
  made and ``n_attacks`` (Anonymeter divides by the queries asked for, ``n_attacks``). Held-out counts are
  corrected for the size difference as Anonymeter does: the model ``norm * P(n, w)`` fitted (least squares)
  on successes in keyed random subsets of the held-out rows (10 sizes x 5 repeats), evaluated at the member
  count over the held-out count; below 1,000 distinct held-out rows both sides are cut to equally many.
* **Linkability.** QIs on one side, event counts and periods on the other. Anonymeter links when both
  halves have the very same nearest row of its row-per-member table; ties among a persona's members and
  among personas with equal QIs are broken at random, so a target whose event-side nearest persona is
  among its QI-nearest ones links with probability 1 / (members of all QI-nearest personas). That
  expectation is summed (no random draw).
* **Inference.** The guess of each secret is the secret of the target's nearest distinct release row
  (QIs and event history known); per secret and pooled over secrets with the design effect of guesses about
  one person, as ``_anonymeter_runner.py`` does.

Every rate is Anonymeter's Wilson score and every risk ``(attack - control) / (1 - control)`` with its
propagated error, bounded to [0, 1] (``stats.confidence`` of Anonymeter 1.x). Cost: building the
persona-level evaluation release and the member table is linear in the partition (as the release itself);
the attacks are bounded by the sample sizes, the number of distinct QI blocks and, for singling out, the
rows behind one predicate. No value of the data reaches a log line or an error message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd
from numba import njit

POOLED = "all secrets (pooled)"  # as anonymeter_eval.POOLED
EQUAL_SIZES_BELOW = 1000  # Anonymeter's size correction fits on subsets of >= 1,000 distinct rows


# --- Anonymeter's statistics (stats/confidence.py) --------------------------------------------------

@dataclass(frozen=True)
class Rate:
    value: float
    error: float


def probit(confidence_level: float) -> float:
    return NormalDist().inv_cdf(0.5 * (1.0 + confidence_level))


def success_rate(n_total: float, n_success: float, confidence_level: float) -> Rate:
    """Wilson score estimate and error of a success rate (Anonymeter's ``success_rate``)."""
    z = probit(confidence_level)
    z2 = z * z
    if n_total <= 0:
        return Rate(0.5, 1.0)
    var = n_success * (n_total - n_success) / n_total
    denom = n_total + z2
    return Rate((n_success + 0.5 * z2) / denom, (z / denom) * math.sqrt(max(var, 0.0) + 0.25 * z2))


def residual_risk(attack: Rate, control: Rate) -> tuple[float, float, float]:
    """(risk, ci_low, ci_high): ``(attack - control) / (1 - control)`` with the propagated error, bounded to [0, 1]."""
    one_minus = 1.0 - control.value
    value = (attack.value - control.value) / one_minus
    d_attack = 1 / abs(one_minus)
    d_control = (attack.value - 1) / one_minus**2
    error = math.sqrt((attack.error * d_attack) ** 2 + (control.error * d_control) ** 2)
    clip = lambda x: min(max(x, 0.0), 1.0)  # noqa: E731
    return clip(value), clip(value - error), clip(value + error)


def result_row(attack: str, variant: str, n_attacks: float, n_success: float, n_baseline: float,
               n_control: float, n_attacks_control: float, confidence: float, n_attacks_baseline: float | None = None,
               **extra) -> dict:
    """One evaluator's figures in the runner's result format (``anonymeter_eval._attack_risk`` reads it)."""
    a = success_rate(n_attacks, n_success, confidence)
    b = success_rate(n_attacks if n_attacks_baseline is None else n_attacks_baseline, n_baseline, confidence)
    c = success_rate(n_attacks_control, n_control, confidence)
    risk, lo, hi = residual_risk(a, c)
    return {"attack": attack, "variant": variant, "risk": risk, "ci_low": lo, "ci_high": hi,
            "attack_rate": {"value": a.value, "error": a.error}, "baseline_rate": {"value": b.value, "error": b.error},
            "control_rate": {"value": c.value, "error": c.error}, "n_attacks": int(round(n_attacks)),
            "n_success": float(n_success), "n_baseline": float(n_baseline), "n_control": float(n_control),
            "n_attacks_control": float(n_attacks_control), **extra}


def targets_for(half_width: float, confidence_level: float, cap: int) -> int:
    """Attacks per side for a worst-case (p = 0.5) Wilson half-width: z^2 / (4 h^2), at most ``cap``."""
    z = probit(confidence_level)
    return int(min(cap, math.ceil(z * z * 0.25 / half_width**2)))


# --- tables in one code space -------------------------------------------------------------------

@dataclass(frozen=True)
class CodeSpace:
    """Every column's values in one sorted code space over the release, the members and the held-out people:
    ``codes[t][:, j]`` indexes ``values[j]``; ``len(values[j])`` stands for a missing value."""

    names: tuple[str, ...]
    numeric: np.ndarray  # bool per column
    values: tuple[np.ndarray, ...]
    codes: tuple[np.ndarray, ...]  # one (rows, columns) int32 matrix per table
    scaled: tuple[np.ndarray, ...]  # numeric columns / one range per column (NaN kept), one per table

    def n_values(self) -> np.ndarray:
        return np.array([len(v) for v in self.values], dtype=np.int64)


def code_space(tables: list[pd.DataFrame], names: list[str], numeric: list[bool]) -> CodeSpace:
    """Encode the tables column by column (sorted values; missing last) and scale numeric columns by their
    range over all tables (Anonymeter with ``fix_numeric_ranges``; a zero range counts as 1)."""
    sizes = [len(t) for t in tables]
    bounds = np.cumsum([0, *sizes])
    codes = [np.empty((n, len(names)), dtype=np.int32) for n in sizes]
    scaled = [np.empty((n, int(sum(numeric)))) for n in sizes]
    values = []
    k = 0
    for j, (name, num) in enumerate(zip(names, numeric)):
        allv = np.concatenate([t[name].to_numpy(dtype=np.float64 if num else object) for t in tables])
        c, uniq = pd.factorize(allv, sort=True, use_na_sentinel=True)
        c = np.where(c < 0, len(uniq), c).astype(np.int32)
        values.append(np.asarray(uniq))
        for i in range(len(tables)):
            codes[i][:, j] = c[bounds[i]:bounds[i + 1]]
        if num:
            finite = allv[~np.isnan(allv)]
            rng = float(finite.max() - finite.min()) if len(finite) else 0.0
            rng = rng if rng > 0 else 1.0
            for i in range(len(tables)):
                scaled[i][:, k] = allv[bounds[i]:bounds[i + 1]] / rng
            k += 1
    return CodeSpace(tuple(names), np.asarray(numeric, dtype=bool), tuple(values), tuple(codes), tuple(scaled))


def distinct_rows(codes: np.ndarray) -> np.ndarray:
    """The first row of every distinct row of a code matrix, in row order (Anonymeter's ``unique``): exact,
    by pandas' hashing of the columns."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(~pd.DataFrame(codes).duplicated(keep="first").to_numpy())


def row_groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First row of every distinct row (in row order) and each row's distinct-row number (small tables)."""
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


def _row_keys(codes: np.ndarray) -> np.ndarray:
    """An exact key per row (its codes as bytes), for removing repeated queries."""
    c = np.ascontiguousarray(codes.astype(np.int32))
    return c.view(np.dtype((np.void, c.dtype.itemsize * c.shape[1]))).ravel()


def strata_of(codes: np.ndarray, n_values: np.ndarray) -> np.ndarray:
    """One integer per row for its combination of codes (mixed radix; the QIs' code counts are small)."""
    key = np.zeros(len(codes), dtype=np.int64)
    for j in range(codes.shape[1]):
        key = key * (int(n_values[j]) + 1) + codes[:, j]
    return key


def stratified_sample(strata: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """A keyed, proportionally stratified sample of ``m`` row indices: rows sorted by stratum in a random order
    within each, then every (n/m)-th from a random start; everyone when ``m`` >= the number of rows."""
    n = len(strata)
    if m >= n:
        return np.arange(n)
    order = np.lexsort((rng.random(n), strata))
    step = n / m
    picks = (rng.random() * step + step * np.arange(m)).astype(np.int64)
    return np.sort(order[np.minimum(picks, n - 1)])


# --- exact nearest rows under Anonymeter's distance -----------------------------------------------

@dataclass(frozen=True)
class BlockIndex:
    """Release rows grouped by missing pattern, then exact categorical values, each block sorted by the sum of
    its scaled numeric values (see the module text)."""

    order: np.ndarray  # release row at each sorted position
    cat: np.ndarray  # (rows, C) categorical codes in sorted order
    num: np.ndarray  # (rows, D) scaled numeric values in sorted order (NaN where missing)
    sums: np.ndarray  # sum of the non-missing scaled values, sorted within each block
    priority: np.ndarray  # tie-break priority, sorted order
    block_start: np.ndarray  # (B + 1,)
    block_cat: np.ndarray  # (B, C)
    pattern_start: np.ndarray  # (G + 1,) block ranges per missing pattern
    patterns: np.ndarray  # (G,) the missing pattern (bit mask) of each group, sorted


def _patterns(num: np.ndarray) -> np.ndarray:
    bits = (1 << np.arange(num.shape[1], dtype=np.int64)) if num.shape[1] else np.zeros(0, dtype=np.int64)
    return (np.isnan(num) * bits).sum(axis=1).astype(np.int64) if num.shape[1] else np.zeros(len(num), np.int64)


def block_index(cat: np.ndarray, num: np.ndarray, priority: np.ndarray) -> BlockIndex:
    pattern = _patterns(num)
    sums = np.where(np.isnan(num), 0.0, num).sum(axis=1)
    _, block = np.unique(np.column_stack([pattern, cat]).astype(np.int64), axis=0, return_inverse=True)
    block = block.ravel()
    order = np.lexsort((sums, block))
    b_sorted = block[order]
    starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
    block_start = np.r_[starts, len(order)].astype(np.int64)
    first = order[starts]
    pat_b = pattern[first]
    pat_starts = np.flatnonzero(np.r_[True, pat_b[1:] != pat_b[:-1]])
    return BlockIndex(order=order, cat=np.ascontiguousarray(cat[order]), num=np.ascontiguousarray(num[order]),
                      sums=sums[order], priority=priority[order], block_start=block_start,
                      block_cat=np.ascontiguousarray(cat[first]), pattern_start=np.r_[pat_starts, len(first)],
                      patterns=pat_b[pat_starts])


def nearest_rows(index: BlockIndex, cat: np.ndarray, num: np.ndarray) -> tuple[np.ndarray, int]:
    """Each query's nearest release row (exact; ties to the lowest priority) and the number of distances computed.
    A query whose missing pattern no release row shares has every distance undefined in Anonymeter, which then
    returns an arbitrary row: here the row of lowest priority."""
    pattern = _patterns(num)
    g = np.searchsorted(index.patterns, pattern)
    g = np.where((g < len(index.patterns)) & (index.patterns[np.minimum(g, len(index.patterns) - 1)] == pattern),
                 g, -1)
    sums = np.where(np.isnan(num), 0.0, num).sum(axis=1)
    pos, work = _nearest(np.ascontiguousarray(cat, dtype=np.int32), np.ascontiguousarray(num), sums,
                         g.astype(np.int64), index.cat.astype(np.int32), index.num, index.sums, index.priority,
                         index.block_start, index.block_cat.astype(np.int32), index.pattern_start.astype(np.int64))
    out = np.where(pos >= 0, index.order[np.maximum(pos, 0)], index.order[int(np.argmin(index.priority))])
    return out, int(work)


@njit(cache=True, nogil=True)
def _nearest(q_cat, q_num, q_sum, q_group, c_cat, c_num, c_sum, c_pri, block_start, block_cat,
             pattern_start):  # pragma: no cover - compiled
    Q = q_cat.shape[0]
    C = q_cat.shape[1]
    D = q_num.shape[1]
    best_pos = np.full(Q, -1, np.int64)
    work = 0
    for i in range(Q):
        g = q_group[i]
        if g < 0:
            continue
        b0 = pattern_start[g]
        nb = pattern_start[g + 1] - b0
        nan_const = 0.0
        for j in range(D):
            if np.isnan(q_num[i, j]):
                nan_const += 1.0
        mism = np.empty(nb, np.int64)
        for b in range(nb):
            m = 0
            for j in range(C):
                if block_cat[b0 + b, j] != q_cat[i, j]:
                    m += 1
            mism[b] = m
        best = np.inf
        best_p = np.inf
        bi = -1
        for c in range(C + 1):
            if c + nan_const > best:
                break
            for b in range(nb):
                if mism[b] != c:
                    continue
                s0 = block_start[b0 + b]
                s1 = block_start[b0 + b + 1]
                base = c + nan_const
                start = s0 + np.searchsorted(c_sum[s0:s1], q_sum[i])
                for step in (1, -1):  # outward from the target's own sum, up, then down
                    r = start if step == 1 else start - 1
                    while s0 <= r < s1:
                        if base + step * (c_sum[r] - q_sum[i]) > best:
                            break
                        d = base
                        for j in range(D):
                            if not np.isnan(q_num[i, j]):
                                d += abs(q_num[i, j] - c_num[r, j])
                        work += 1
                        if d < best or (d == best and c_pri[r] < best_p):
                            best, best_p, bi = d, c_pri[r], r
                        r += step
        best_pos[i] = bi
    return best_pos, work


@njit(cache=True, nogil=True)
def _fewest_mismatches(q_cat, block_cat, block_weight):  # pragma: no cover - compiled
    """Per query: the fewest categorical mismatches with any block and the summed weight of the blocks at it."""
    Q = q_cat.shape[0]
    B = block_cat.shape[0]
    C = q_cat.shape[1]
    fewest = np.empty(Q, np.int64)
    weight = np.zeros(Q)
    for i in range(Q):
        best = C + 1
        w = 0.0
        for b in range(B):
            m = 0
            for j in range(C):
                if block_cat[b, j] != q_cat[i, j]:
                    m += 1
            if m < best:
                best = m
                w = block_weight[b]
            elif m == best:
                w += block_weight[b]
        fewest[i] = best
        weight[i] = w
    return fewest, weight


# --- singling-out queries: predicates on codes, counted through sorted indexes ---------------------

@dataclass(frozen=True)
class Queries:
    """Conjunctions of up to K predicates; predicate k of query q matches code c of column ``col[q, k]`` when
    ``lo <= c < hi`` (``neg``: a present value outside that range). Unused slots have ``col = -1``."""

    col: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    neg: np.ndarray

    def __len__(self) -> int:
        return len(self.col)

    def take(self, keep: np.ndarray) -> Queries:
        return Queries(self.col[keep], self.lo[keep], self.hi[keep], self.neg[keep])

    def keys(self) -> np.ndarray:
        """An exact identity per query (its predicates in column order) for removing repeats."""
        return _row_keys(np.concatenate([self.col, self.lo, self.hi, self.neg.astype(np.int32)], axis=1))

    @staticmethod
    def concat(parts: list[Queries]) -> Queries:
        return Queries(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("col", "lo", "hi", "neg")))


@dataclass(frozen=True)
class CodeIndex:
    """Rows of one table sorted by each column's code: predicate rows are one or two contiguous slices."""

    codes: np.ndarray  # (rows, J)
    order: np.ndarray  # (J, rows)
    starts: np.ndarray  # (J, max_values + 2): position of the first row with each code
    n_values: np.ndarray  # (J,)


def code_index(codes: np.ndarray, n_values: np.ndarray) -> CodeIndex:
    J = codes.shape[1]
    width = int(n_values.max()) + 2 if J else 2
    order = np.empty((J, len(codes)), dtype=np.int64)
    starts = np.zeros((J, width), dtype=np.int64)
    for j in range(J):  # one counting sort per column
        order[j] = np.argsort(codes[:, j], kind="stable")
        counts = np.bincount(codes[:, j], minlength=width - 1)[:width - 1]
        starts[j, 1:] = np.cumsum(counts)
        starts[j, int(n_values[j]) + 2:] = len(codes)
    return CodeIndex(np.ascontiguousarray(codes, dtype=np.int32), order, starts, n_values.astype(np.int64))


def count_matches(index: CodeIndex, q: Queries, limit: int) -> np.ndarray:
    """Rows matching each query, counted up to ``limit`` (2 is enough to tell 'exactly one')."""
    return _count(index.codes, index.order, index.starts, index.n_values, q.col.astype(np.int64),
                  q.lo.astype(np.int64), q.hi.astype(np.int64), q.neg, limit)


@njit(cache=True, nogil=True)
def _count(codes, order, starts, n_values, col, lo, hi, neg, limit):  # pragma: no cover - compiled
    Q, K = col.shape
    out = np.zeros(Q, np.int64)
    for q in range(Q):
        best_k = -1
        best_size = np.int64(1) << 62
        for k in range(K):
            j = col[q, k]
            if j < 0:
                continue
            inside = starts[j, hi[q, k]] - starts[j, lo[q, k]]
            size = starts[j, n_values[j]] - inside if neg[q, k] else inside
            if size < best_size:
                best_size, best_k = size, k
        if best_k < 0:
            continue
        j = col[q, best_k]
        if neg[q, best_k]:
            ranges = ((0, lo[q, best_k]), (hi[q, best_k], n_values[j]))
        else:
            ranges = ((lo[q, best_k], hi[q, best_k]), (0, 0))
        n = 0
        for a, b in ranges:
            if n >= limit:
                break
            for p in range(starts[j, a], starts[j, b]):
                row = order[j, p]
                ok = True
                for k in range(K):
                    jj = col[q, k]
                    if k == best_k or jj < 0:
                        continue
                    c = codes[row, jj]
                    inside = lo[q, k] <= c < hi[q, k]
                    if neg[q, k]:
                        ok = (c < n_values[jj]) and not inside
                    else:
                        ok = inside
                    if not ok:
                        break
                if ok:
                    n += 1
                    if n >= limit:
                        break
        out[q] = n
    return out


def matching_pairs(codes: np.ndarray, q: Queries, n_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, row) match on a small table (the held-out rows): a bounded brute force, in blocks of queries."""
    qs, rows = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(q), 256):
        part = q.take(np.arange(start, min(len(q), start + 256)))
        ok = np.ones((len(part), len(codes)), dtype=bool)
        for k in range(part.col.shape[1]):
            j = part.col[:, k]
            used = j >= 0
            c = codes[:, np.maximum(j, 0)].T  # (queries, rows)
            inside = (part.lo[:, k, None] <= c) & (c < part.hi[:, k, None])
            present = c < n_values[np.maximum(j, 0)][:, None]
            hit = np.where(part.neg[:, k, None], present & ~inside, inside)
            ok &= np.where(used[:, None], hit, True)
        qi, ri = np.nonzero(ok)
        qs.append(qi + start)
        rows.append(ri)
    return np.concatenate(qs), np.concatenate(rows)


def _predicate_for(codes: np.ndarray, numeric: np.ndarray, n_values: np.ndarray, median_value: np.ndarray,
                   values_num: list[np.ndarray], cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anonymeter's query from a record (``_query_from_record``): missing -> is null; numeric -> >= the value
    when it is above the column median, else <=; otherwise == the value."""
    c = codes
    nv = n_values[cols]
    null = c == nv
    is_num = numeric[cols]
    above = np.zeros_like(null)
    if is_num.any():
        val = np.full(c.shape, np.nan)
        for j in np.unique(cols[is_num]):
            m = (cols == j) & ~null
            val[m] = values_num[j][c[m]]
        above = is_num & ~null & (val > median_value[cols])
    lo = np.where(null, nv, np.where(is_num & ~above, 0, c))
    hi = np.where(null, nv + 1, np.where(is_num & above, nv, c + 1))
    return lo.astype(np.int32), hi.astype(np.int32)


def univariate_queries(syn_codes: np.ndarray, space: CodeSpace, rng: np.random.Generator) -> Queries:
    """Anonymeter's univariate candidates (a single missing value, numeric minimum and maximum, values held by
    one release row), shuffled with the key."""
    nvs = space.n_values()
    cols, lo, hi = [], [], []
    for j in range(syn_codes.shape[1]):
        counts = np.bincount(syn_codes[:, j], minlength=nvs[j] + 1)
        nv = int(nvs[j])
        if counts[nv] == 1:
            cols.append(j)
            lo.append(nv)
            hi.append(nv + 1)
        present = np.flatnonzero(counts[:nv])
        if space.numeric[j] and len(present):
            cols += [j, j]
            lo += [0, int(present.max())]
            hi += [int(present.min()) + 1, nv]
        rare = np.flatnonzero(counts[:nv] == 1)
        cols += [j] * len(rare)
        lo += rare.tolist()
        hi += (rare + 1).tolist()
    perm = rng.permutation(len(cols))
    col = np.asarray(cols, dtype=np.int32)[perm][:, None]
    return Queries(col, np.asarray(lo, dtype=np.int32)[perm][:, None], np.asarray(hi, dtype=np.int32)[perm][:, None],
                   np.zeros_like(col, dtype=bool))


def multivariate_batch(syn_codes: np.ndarray, space: CodeSpace, n_cols: int, size: int, medians: np.ndarray,
                       rng: np.random.Generator) -> Queries:
    """One batch of Anonymeter's multivariate queries: ``n_cols`` attributes of random release rows."""
    J = syn_codes.shape[1]
    rows = rng.integers(0, len(syn_codes), size=size)
    cols = np.sort(np.argsort(rng.random((size, J)), axis=1)[:, :n_cols], axis=1)
    codes = syn_codes[rows[:, None], cols]
    values_num = [v.astype(np.float64) if space.numeric[j] else np.zeros(0) for j, v in enumerate(space.values)]
    lo, hi = _predicate_for(codes, space.numeric, space.n_values(), medians, values_num, cols)
    return Queries(cols.astype(np.int32), lo, hi, np.zeros(cols.shape, dtype=bool))


def random_queries(syn_codes: np.ndarray, space: CodeSpace, n: int, n_cols: int,
                   rng: np.random.Generator) -> Queries:
    """Anonymeter's baseline: random columns, a random value of the release (missing included) and a random
    operator (==, != for categories; ==, !=, >, <, >=, <= for numbers); reported, never part of the risk."""
    J = syn_codes.shape[1]
    nvs = space.n_values()
    cols = np.sort(np.argsort(rng.random((n, J)), axis=1)[:, :n_cols], axis=1)
    lo = np.empty(cols.shape, dtype=np.int32)
    hi = np.empty(cols.shape, dtype=np.int32)
    neg = np.zeros(cols.shape, dtype=bool)
    distinct = [np.unique(syn_codes[:, j]) for j in range(J)]
    pick = rng.random(cols.shape)
    op = rng.random(cols.shape)
    for j in range(J):
        m = cols == j
        if not m.any():
            continue
        v = distinct[j][(pick[m] * len(distinct[j])).astype(np.int64)]
        nv = int(nvs[j])
        n_ops = 6 if space.numeric[j] else 2
        o = (op[m] * n_ops).astype(np.int64)  # 0 ==, 1 !=, 2 >, 3 <, 4 >=, 5 <=
        null = v == nv
        lo_j = np.select([o <= 1, o == 2, o == 3, o == 4, o == 5], [v, v + 1, 0 * v, v, 0 * v])
        hi_j = np.select([o <= 1, o == 2, o == 3, o == 4, o == 5], [v + 1, 0 * v + nv, v, 0 * v + nv, v + 1])
        neg_j = o == 1
        lo_j = np.where(null, nv, lo_j)  # missing: == is null, any other operator: is not null
        hi_j = np.where(null, nv + 1, hi_j)
        neg_j = np.where(null, o != 0, neg_j)
        lo[m], hi[m], neg[m] = lo_j, hi_j, neg_j
    return Queries(cols.astype(np.int32), lo, hi, neg)


def _model(x: np.ndarray, w: float) -> np.ndarray:
    """Anonymeter's singling-out probability integral over weights [0, w] in a population of x rows."""
    x = np.asarray(x, dtype=np.float64)
    tail = np.exp(x * math.log1p(-w)) if w < 1 else np.zeros_like(x)
    return (1.0 - (x * w + 1.0) * tail) / (x + 1.0)


def fit_correction(sizes: np.ndarray, successes: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ``norm * model(x, w)`` (Anonymeter fits the same with scipy's ``curve_fit``):
    ``norm`` in closed form for each ``w``, ``w`` on a log grid refined by golden-section search."""
    y = successes.astype(np.float64)

    def sse(w: float) -> tuple[float, float]:
        f = _model(sizes, w)
        ff = float(f @ f)
        norm = max(0.0, float(f @ y) / ff) if ff > 0 else 0.0
        return float(((norm * f - y) ** 2).sum()), norm

    grid = np.logspace(-12, 0, 241)
    errs = [sse(float(w))[0] for w in grid]
    i = int(np.argmin(errs))
    a, b = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    phi = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        c, d = b - phi * (b - a), a + phi * (b - a)
        if sse(math.exp(c))[0] <= sse(math.exp(d))[0]:
            b = d
        else:
            a = c
    w = math.exp((a + b) / 2)
    return w, sse(w)[1]


# --- the evaluation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampledConfig:
    """What the sampled engine needs from ``AnonymeterOptions`` (kept separate so this module stands alone)."""

    qis: tuple[str, ...]
    events: tuple[str, ...]  # counts and periods: the linkability's second source, with the QIs inference's aux
    secrets: tuple[str, ...]
    attacks: tuple[str, ...]
    singling_out_modes: tuple[str, ...]
    n_attacks: int
    n_cols: int
    max_attempts: int
    n_targets: int  # targets per side (from the half-width)
    confidence_level: float


@dataclass
class Work:
    """Counts of the work done, for the report and the cost tests (no wall time)."""

    counts: dict = field(default_factory=dict)

    def add(self, name: str, value: int) -> None:
        self.counts[name] = int(self.counts.get(name, 0)) + int(value)


def evaluate_sampled(ori: pd.DataFrame, personas: pd.DataFrame, member: np.ndarray, control: pd.DataFrame,
                     numeric: dict[str, bool], cfg: SampledConfig, rng_for) -> tuple[list[dict], dict]:
    """The three attacks on sampled targets; ``rng_for(purpose)`` gives a keyed generator. Returns the result rows
    (runner format) and the work counts."""
    work = Work()
    names = list(cfg.qis + cfg.events + cfg.secrets)
    space = code_space([personas, ori, control], names, [numeric[c] for c in names])
    syn_codes, ori_codes, ctl_codes = space.codes
    syn_scaled, ori_scaled, ctl_scaled = space.scaled
    # distinct release rows (members of a persona share one; equal personas collapse), weighted by members
    first, row_of_persona = row_groups(syn_codes)
    weight = np.bincount(row_of_persona[member], minlength=len(first)).astype(np.float64)
    syn_codes, syn_scaled = syn_codes[first], syn_scaled[first]
    work.add("release_rows", len(first))
    J_qi, J_ev = len(cfg.qis), len(cfg.events)
    qi_j = np.arange(J_qi)
    num_cols = [j for j in range(len(names)) if space.numeric[j]]
    ev_num = [num_cols.index(j) for j in range(J_qi, J_qi + J_ev)]
    cat_qi = list(qi_j)  # linkability's QI side compares codes (the shipped domains' QIs are all categorical)

    # targets: keyed stratified samples of members and held-out people (strata: the QI codes)
    def sample(codes: np.ndarray, purpose: str) -> np.ndarray:
        return stratified_sample(strata_of(codes[:, qi_j], space.n_values()[qi_j]), cfg.n_targets, rng_for(purpose))

    t_ori, t_ctl = sample(ori_codes, "targets-members"), sample(ctl_codes, "targets-held-out")
    work.add("targets_members", len(t_ori))
    work.add("targets_held_out", len(t_ctl))
    out: list[dict] = []
    conf = cfg.confidence_level
    priority = rng_for("tie-break").random(len(first))

    if "singling_out" in cfg.attacks:
        out += _singling_out(space, syn_codes, ori_codes, ctl_codes, cfg, rng_for, work)

    if "linkability" in cfg.attacks and J_ev and J_qi:
        # event side: the exact nearest distinct row on counts and periods (missing pattern blocks)
        ev_index = block_index(np.zeros((len(first), 0), dtype=np.int32), syn_scaled[:, ev_num], priority)
        # QI side: the QI-nearest distinct rows, weighted by members (Anonymeter's table has a row per member)
        qi_codes = syn_codes[:, cat_qi]
        blocks, block_of = np.unique(qi_codes, axis=0, return_inverse=True)
        block_weight = np.bincount(block_of.ravel(), weights=weight, minlength=len(blocks))
        rates = []
        for codes, scaled, t in ((ori_codes, ori_scaled, t_ori), (ctl_codes, ctl_scaled, t_ctl)):
            nn, w = nearest_rows(ev_index, np.zeros((len(t), 0), np.int32), scaled[t][:, ev_num])
            work.add("distances", w)
            q = np.ascontiguousarray(codes[t][:, cat_qi], dtype=np.int32)
            fewest, total = _fewest_mismatches(q, blocks.astype(np.int32), block_weight)
            work.add("block_comparisons", len(t) * len(blocks))
            mism = (q != qi_codes[nn]).sum(axis=1)
            rates.append(float(np.where(mism == fewest, 1.0 / np.maximum(total, 1.0), 0.0).sum()))
        n_rows = float(weight.sum())
        sources = "+".join(cfg.qis) + " | " + "+".join(cfg.events)
        out.append(result_row("linkability", sources, len(t_ori), rates[0], len(t_ori) / max(n_rows, 1.0),
                              rates[1], len(t_ctl), conf))

    if "inference" in cfg.attacks and cfg.secrets:
        aux = list(range(J_qi + J_ev))
        aux_cat = [j for j in aux if not space.numeric[j]]
        aux_num = [num_cols.index(j) for j in aux if space.numeric[j]]
        index = block_index(syn_codes[:, aux_cat], syn_scaled[:, aux_num], priority)
        guesses = []
        for codes, scaled, t in ((ori_codes, ori_scaled, t_ori), (ctl_codes, ctl_scaled, t_ctl)):
            nn, w = nearest_rows(index, codes[t][:, aux_cat], scaled[t][:, aux_num])
            work.add("distances", w)
            guesses.append(nn)
        out += _inference(syn_codes, ori_codes[t_ori], ctl_codes[t_ctl], guesses, J_qi + J_ev, cfg, rng_for)
    return out, dict(work.counts)


def _inference(syn_codes, ori_t, ctl_t, guesses, first_secret: int, cfg: SampledConfig, rng_for) -> list[dict]:
    """Per-secret and pooled inference rows (the pooled one with the runner's design effect)."""
    conf = cfg.confidence_level
    out = []
    naive = rng_for("inference-baseline").integers(0, len(syn_codes), size=(len(cfg.secrets), len(ori_t)))
    hits = {"ori": np.zeros(len(ori_t)), "control": np.zeros(len(ctl_t))}
    total = {"success": 0.0, "control": 0.0, "baseline": 0.0}
    for s, secret in enumerate(cfg.secrets):
        j = first_secret + s
        ok_ori = syn_codes[guesses[0], j] == ori_t[:, j]
        ok_ctl = syn_codes[guesses[1], j] == ctl_t[:, j]
        base = float((syn_codes[naive[s], j] == ori_t[:, j]).sum())
        hits["ori"] += ok_ori
        hits["control"] += ok_ctl
        total["success"] += ok_ori.sum()
        total["control"] += ok_ctl.sum()
        total["baseline"] += base
        out.append(result_row("inference", secret, len(ori_t), float(ok_ori.sum()), base, float(ok_ctl.sum()),
                              len(ctl_t), conf))
    S = len(cfg.secrets)
    deff = {side: _design_effect(h, S) for side, h in hits.items()}
    d_ori, d_ctl = max(1.0, deff["ori"]), max(1.0, deff["control"])
    n_ori, n_ctl = len(ori_t) * S, len(ctl_t) * S
    row = result_row("inference", POOLED, n_ori / d_ori, total["success"] / d_ori, total["baseline"],
                     total["control"] / d_ctl, n_ctl / d_ctl, conf, n_attacks_baseline=n_ori)
    row.update(n_attacks=n_ori, n_success=float(total["success"]), n_control=float(total["control"]),
               n_attacks_control=float(n_ctl), design_effect=max(d_ori, d_ctl), n_secrets=S)
    out.append(row)
    return out


def _design_effect(per_person: np.ndarray, n_secrets: int) -> float:
    """As ``_anonymeter_runner._design_effect``: clustered over binomial variance of the pooled rate."""
    n = len(per_person)
    if n < 2:
        return 1.0
    p = per_person.sum() / (n * n_secrets)
    binomial = p * (1 - p) / (n * n_secrets)
    clustered = per_person.var(ddof=1) / n / n_secrets**2
    return float(clustered / binomial) if binomial > 0 else 1.0


def _singling_out(space: CodeSpace, syn_codes, ori_codes, ctl_codes, cfg: SampledConfig, rng_for,
                  work: Work) -> list[dict]:
    nvs = space.n_values()
    u_ori = ori_codes[distinct_rows(ori_codes)]
    u_ctl = ctl_codes[distinct_rows(ctl_codes)]
    if len(u_ctl) < EQUAL_SIZES_BELOW and len(u_ori) != len(u_ctl):  # too few for the size correction
        n = min(len(u_ori), len(u_ctl))
        u_ori, u_ctl = u_ori[:n], u_ctl[:n]
    syn_index = code_index(syn_codes, nvs)
    ori_index = code_index(u_ori, nvs)
    medians = column_medians(syn_codes, space)
    out = []
    n_queries = max(cfg.n_targets, cfg.n_attacks)
    for mode in cfg.singling_out_modes:
        rng = rng_for("singling-out", mode)
        if mode == "univariate":
            cand = univariate_queries(syn_codes, space, rng)
            ok = count_matches(syn_index, cand, 2) == 1
            work.add("so_query_counts", len(cand))
            queries = cand.take(np.flatnonzero(ok)[:n_queries])
            n_cols = 1
        else:
            parts: list[Queries] = []
            seen = np.zeros(0, dtype=_row_keys(np.zeros((1, 4 * cfg.n_cols), np.int32)).dtype)
            made = attempts = 0
            while made < n_queries and attempts < cfg.max_attempts:
                size = min(1000, cfg.max_attempts - attempts)
                batch = multivariate_batch(syn_codes, space, cfg.n_cols, size, medians, rng)
                attempts += size
                batch = batch.take(np.flatnonzero(count_matches(syn_index, batch, 2) == 1))
                work.add("so_query_counts", size)
                keys = batch.keys()
                _, first_idx = np.unique(keys, return_index=True)
                first_idx = np.sort(first_idx)
                new = first_idx[~np.isin(keys[first_idx], seen)]
                batch, keys = batch.take(new[:n_queries - made]), keys[new[:n_queries - made]]
                seen = np.concatenate([seen, keys])
                parts.append(batch)
                made += len(batch)
            queries = Queries.concat(parts) if parts else Queries(*(np.zeros((0, cfg.n_cols), t) for t in
                                                                   (np.int32, np.int32, np.int32, bool)))
            n_cols = cfg.n_cols
        n_den = max(len(queries), cfg.n_attacks)
        success = int((count_matches(ori_index, queries, 2) == 1).sum())
        work.add("so_query_counts", len(queries))
        baseline_q = random_queries(syn_codes, space, n_den, n_cols, rng)
        baseline = int((count_matches(ori_index, baseline_q, 2) == 1).sum())
        work.add("so_query_counts", len(baseline_q))
        pairs = matching_pairs(u_ctl, queries, nvs)
        work.add("so_control_checks", len(queries) * len(u_ctl))
        n_control = float((np.bincount(pairs[0], minlength=len(queries)) == 1).sum())
        correction = 1.0
        if len(u_ctl) != len(u_ori) and n_control > 0:
            correction = _size_correction(pairs, len(queries), len(u_ctl), len(u_ori),
                                          rng_for("singling-out-correction", mode))
        out.append(result_row("singling_out", mode, n_den, success, baseline, n_control * correction, n_den,
                              cfg.confidence_level, n_queries=len(queries)))
    return out


def _size_correction(pairs: tuple[np.ndarray, np.ndarray], n_queries: int, n_control: int, n_members: int,
                     rng: np.random.Generator) -> float:
    """Anonymeter's correction of held-out successes to the members' size: successes in random subsets of the
    held-out rows (10 sizes from min(1,000, n) to n, 5 repeats each), the fitted model's ratio at the two sizes."""
    query, row = pairs
    sizes, successes = [], []
    for n_rows in np.linspace(min(1000, n_control), n_control, 10).astype(int):
        for _ in range(5):
            inside = np.zeros(n_control, dtype=bool)
            inside[rng.choice(n_control, size=n_rows, replace=False)] = True
            per_query = np.bincount(query, weights=inside[row], minlength=n_queries)
            sizes.append(n_rows)
            successes.append(int((per_query == 1).sum()))
    w, norm = fit_correction(np.asarray(sizes, dtype=np.float64), np.asarray(successes))
    at_control = norm * float(_model(np.array([n_control]), w)[0])
    return norm * float(_model(np.array([n_members]), w)[0]) / at_control if at_control > 0 else 1.0


def column_medians(codes: np.ndarray, space: CodeSpace) -> np.ndarray:
    """Median of each numeric column over the given rows, missing values left out (NaN elsewhere)."""
    nvs = space.n_values()
    out = np.full(codes.shape[1], np.nan)
    for j in np.flatnonzero(space.numeric):
        c = codes[:, j]
        c = c[c < nvs[j]]
        if len(c):
            out[j] = float(np.median(space.values[j].astype(np.float64)[c]))
    return out
