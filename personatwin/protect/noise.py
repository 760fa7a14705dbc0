"""Noise: temporal blurring, invariant PRAM on outcomes, location generalization, value coarsening.

Invariant PRAM keeps the true outcome with probability p, else draws from the marginal pi of its
event type, so the expected released marginal equals pi and an analyst unbiases a rate with
``true ~ (observed - (1 - p) * pi) / p`` (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.codes import grouped
from personatwin.core.policy import DATE_PRECISIONS


@dataclass(frozen=True)
class PramMatrix:
    """PRAM parameters: keep probability p and the outcome marginal pi per event type.

    The draws use the true marginal; a release publishes the marginal of its released outcomes (an
    unbiased estimate of the true one that the events file already shows), never the true one."""

    p: float
    type_names: tuple[str, ...]
    outcome_names: tuple[str, ...]
    matrix: np.ndarray  # pi[type, outcome]; rows sum to 1 for types that occur

    @property
    def pi(self) -> pd.DataFrame:
        t, o = np.nonzero(self.matrix)
        return pd.DataFrame({"event_type": np.asarray(self.type_names, dtype=object)[t],
                             "outcome": np.asarray(self.outcome_names, dtype=object)[o],
                             "probability": self.matrix[t, o]})

    def pi_of(self, event_type: str, outcome: str) -> float:
        try:
            return float(self.matrix[self.type_names.index(event_type), self.outcome_names.index(outcome)])
        except ValueError:
            return 0.0

    def as_dict(self) -> dict:
        out: dict[str, dict[str, float]] = {}
        for t, o, pr in self.pi.itertuples(index=False):
            out.setdefault(str(t), {})[str(o)] = float(pr)
        return {"p": self.p, "pi": out}


def _calendar_period_start(d: np.ndarray, precision: str) -> np.ndarray:
    """First day of the period of each datetime64[D] date, by calendar arithmetic (precision not "day")."""
    if precision == "week":  # ISO weeks start on Monday; 1970-01-01 was a Thursday
        days = d.astype(np.int64)
        monday = days - (days + 3) % 7
        return np.where(np.isnat(d), d, monday.astype("datetime64[D]"))
    if precision == "month":
        return d.astype("datetime64[M]").astype("datetime64[D]")
    if precision == "quarter":
        m = d.astype("datetime64[M]").astype(np.int64)
        out = (m - m % 3).astype("datetime64[M]").astype("datetime64[D]")
        return np.where(np.isnat(d), d, out)
    return d.astype("datetime64[Y]").astype("datetime64[D]")


def valid_day_range(days: np.ndarray, nat: np.ndarray) -> tuple[int, int]:
    """Smallest and largest day number of int64 days (datetime64[D] viewed) where ``nat`` is False;
    lo > hi when every day is NaT (NaT is the smallest int64, so the plain maximum leaves it out)."""
    bounds = np.iinfo(np.int64)
    return int(days.min(where=~nat, initial=bounds.max)), int(days.max(initial=bounds.min))


def period_start(dates: np.ndarray, precision: str) -> np.ndarray:
    """First day (datetime64[D]) of the period of each date at the given precision.

    Many dates span few days: the calendar arithmetic runs once per day of the span and each date
    looks its period up in that table (the same result, several times faster)."""
    if precision not in DATE_PRECISIONS:
        raise ValueError(f"unknown date precision {precision!r}")
    d = np.asarray(dates).astype("datetime64[D]", copy=precision == "day")  # a new array in every case
    if precision == "day":
        return d
    if len(d) < 4096:
        return _calendar_period_start(d, precision)
    days, nat = d.view(np.int64), np.isnat(d)
    lo, hi = valid_day_range(days, nat)
    if lo > hi or hi - lo >= len(d):  # every date missing, or more days in the span than dates
        return _calendar_period_start(d, precision)
    table = _calendar_period_start(np.arange(lo, hi + 1).astype("datetime64[D]"), precision)
    table = np.append(table, np.datetime64("NaT", "D"))  # entry hi - lo + 1: a missing date stays missing
    idx = days - lo
    idx[nat] = hi - lo + 1
    return table[idx]


def period_label(starts: np.ndarray, precision: str) -> np.ndarray:
    """Readable label of each period start: 2024-03-05, 2024-W10, 2024-03, 2024-Q1, 2024."""
    found = np.unique(starts, return_inverse=True)  # unpacked by index: mypy crashes on unpacking np.unique's tuple
    uniq, inv = found[0], found[1]
    dated = ~np.isnat(uniq)
    idx = pd.DatetimeIndex(uniq[dated].astype("datetime64[ns]"))  # labels of the dated only: NaT makes years float
    if precision == "day":
        lab = idx.strftime("%Y-%m-%d")
    elif precision == "week":
        iso = idx.isocalendar()
        lab = pd.Index([f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])])
    elif precision == "month":
        lab = idx.strftime("%Y-%m")
    elif precision == "quarter":
        lab = pd.Index([f"{y}-Q{(m - 1) // 3 + 1}" for y, m in zip(idx.year, idx.month)])
    else:
        lab = idx.strftime("%Y")
    lab_all = np.full(len(uniq), None, dtype=object)
    lab_all[dated] = np.asarray(lab, dtype=object)
    return lab_all[inv.reshape(-1)]


def shift_dates(dates: np.ndarray, persona: np.ndarray, max_days: int, rng: np.random.Generator) -> np.ndarray:
    """Shift every event of a persona by one random offset in [-max_days, max_days]: order is kept."""
    if max_days <= 0:
        return dates
    return shift_by(dates, persona, rng.integers(-max_days, max_days + 1, size=int(persona.max()) + 1 if len(persona)
                                                 else 0))


def shift_by(dates: np.ndarray, persona: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Every event shifted by its persona's offset (``shift_dates``'s draw, given): order inside a persona is kept."""
    if not len(offsets) or not offsets.any():
        return dates
    return dates + offsets.astype("timedelta64[D]")[persona]


def pram_matrix(type_codes: np.ndarray, outcome_codes: np.ndarray, type_names, outcome_names,
                p: float) -> PramMatrix:
    """Marginal outcome distribution per event type: the pi of invariant PRAM."""
    T, n_out = len(type_names), len(outcome_names)
    key = type_codes * n_out
    key += outcome_codes
    return pram_from_counts(np.bincount(key, minlength=T * n_out), type_names, outcome_names, p)


def pram_from_counts(counts: np.ndarray, type_names, outcome_names, p: float) -> PramMatrix:
    """``pram_matrix`` from the (type, outcome) counts (``type * n_outcomes + outcome``): sums over shards."""
    T, n_out = len(type_names), len(outcome_names)
    c = np.asarray(counts).reshape(T, n_out).astype(np.float64)
    totals = c.sum(axis=1, keepdims=True)
    pi = np.divide(c, totals, out=np.zeros_like(c), where=totals > 0)
    return PramMatrix(float(p), tuple(map(str, type_names)), tuple(map(str, outcome_names)), pi)


def joint_pram_sources(type_codes: np.ndarray, p: float, rng: np.random.Generator,
                       groups: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Invariant PRAM on the joint value of an event (its outcome and every outcome-dependent column).

    Each event keeps its own joint value with probability p, else takes the joint value of an event
    drawn uniformly from the same event type, i.e. a draw from the type's empirical joint distribution
    pi. Returns the index of the event whose values each event releases. Given the released outcome,
    a dependent column then has the same distribution whether the outcome was kept or replaced, so it
    adds nothing to an attacker's guess of the true outcome (DESIGN §4). ``groups``: the events grouped
    by type (``grouped(type_codes, n_types)``), when the caller has them."""
    type_codes = np.asarray(type_codes)
    n = len(type_codes)
    source = np.arange(n)
    replaced = rng.random(n) >= p
    by_type, bounds = groups if groups is not None else grouped(type_codes, int(type_codes.max()) + 1 if n else 0)
    for t in range(len(bounds) - 1):  # a loop over event types, not events
        members = by_type[bounds[t]:bounds[t + 1]]
        sel = members[replaced[members]]
        if len(sel):
            source[sel] = members[rng.integers(0, len(members), size=len(sel))]
    return source


def bucketed_pram_sources(type_codes: np.ndarray, n_types: int, p: float, event_bucket: np.ndarray, n: int,
                          draw: Callable[[int], np.random.Generator],
                          groups: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``joint_pram_sources`` drawn bucket by bucket: each bucket's generator decides which of its events keep their
    joint value and which position of their type's event list each replaced one takes. The list of a type holds
    every event of it, bucket by bucket, canonical order inside: the source of a replaced event is drawn from the
    whole release, as with one generator, and one bucket gives exactly ``joint_pram_sources``'s draws."""
    type_codes = np.asarray(type_codes)
    if n == 1:
        return joint_pram_sources(type_codes, p, draw(0), groups)
    by_bucket, bounds = grouped(event_bucket, n)
    t_order, t_bounds = grouped(type_codes[by_bucket], n_types)
    members = by_bucket[t_order]  # type t's events: members[t_bounds[t]:t_bounds[t + 1]], bucket-major
    n_of_type = np.diff(t_bounds)
    source = np.arange(len(type_codes))
    for b in np.flatnonzero(np.diff(bounds)):  # a loop over buckets and event types, not events
        rng = draw(int(b))
        events = by_bucket[bounds[b]:bounds[b + 1]]
        replaced = events[rng.random(len(events)) >= p]
        r_order, r_bounds = grouped(type_codes[replaced], n_types)
        for t in np.flatnonzero(np.diff(r_bounds)):
            sel = replaced[r_order[r_bounds[t]:r_bounds[t + 1]]]
            source[sel] = members[t_bounds[t] + rng.integers(0, n_of_type[t], size=len(sel))]
    return source


def apply_pram(type_codes: np.ndarray, outcome_codes: np.ndarray, pram: PramMatrix,
               rng: np.random.Generator) -> np.ndarray:
    """Randomized outcome codes: keep with probability p, else a draw from pi of the event's type."""
    n = len(outcome_codes)
    out = np.asarray(outcome_codes).copy()
    replace = rng.random(n) >= pram.p
    draws = rng.random(n)
    cdf = np.cumsum(pram.matrix, axis=1)
    for t in range(len(pram.type_names)):  # a loop over event types, not events
        sel = replace & (type_codes == t)
        if not sel.any():
            continue
        row = cdf[t].copy()
        row[row >= row[-1] - 1e-12] = np.inf  # last outcome with mass takes the rounding remainder
        out[sel] = np.searchsorted(row, draws[sel], side="right")
    return out


def bucketed_pram(type_codes: np.ndarray, outcome_codes: np.ndarray, pram: PramMatrix, item_bucket: np.ndarray,
                  n: int, draw: Callable[[int], np.random.Generator]) -> np.ndarray:
    """``apply_pram`` drawn bucket by bucket over each bucket's items in canonical order; one bucket: the same."""
    if n == 1:
        return apply_pram(type_codes, outcome_codes, pram, draw(0))
    out = np.asarray(outcome_codes).copy()
    order, bounds = grouped(item_bucket, n)
    for b in np.flatnonzero(np.diff(bounds)):  # a loop over buckets
        rows = order[bounds[b]:bounds[b + 1]]
        out[rows] = apply_pram(np.asarray(type_codes)[rows], out[rows], pram, draw(int(b)))
    return out


def value_caps(values: np.ndarray, groups: tuple[np.ndarray, np.ndarray], top_quantile: float) -> np.ndarray:
    """Top code per event type: the quantile of its values (inf for a type without a finite value).

    ``groups`` are the value positions grouped by type code (``grouped``)."""
    order, bounds = groups
    cap = np.full(len(bounds) - 1, np.inf)
    for t in range(len(cap)):  # a loop over event types
        vals = values[order[bounds[t]:bounds[t + 1]]]
        if np.isfinite(vals).any():
            cap[t] = np.nanquantile(vals, top_quantile)
    return cap


def capped_values(values: np.ndarray, type_codes: np.ndarray, caps: np.ndarray, rounding: float) -> np.ndarray:
    """Values top-coded at their event type's cap and rounded to a multiple of ``rounding``."""
    v = caps[type_codes]
    np.minimum(np.asarray(values, dtype=np.float64), v, out=v)
    if rounding > 0:  # in place: np.round(v / rounding) * rounding without temporaries
        np.divide(v, rounding, out=v)
        np.round(v, out=v)
        np.multiply(v, rounding, out=v)
    return v


def coarsen_values(values: np.ndarray, event_types: np.ndarray, rounding: float, top_quantile: float) -> np.ndarray:
    """Round numeric values and top-code them at a per-event-type quantile (no outlier amounts)."""
    v = np.asarray(values, dtype=np.float64).copy()
    if not len(v) or np.isnan(v).all():
        return v
    found = np.unique(np.asarray(event_types), return_inverse=True)  # unpacked by index (mypy)
    codes = found[1].reshape(-1)
    caps = value_caps(v, grouped(codes, len(found[0])), top_quantile)
    return capped_values(v, codes, caps, rounding)
