"""Noise: temporal blurring, invariant PRAM on outcomes, location generalization, value coarsening.

Invariant PRAM keeps the true outcome with probability p, else draws from the marginal pi of its
event type, so the expected released marginal equals pi and an analyst unbiases a rate with
``true ~ (observed - (1 - p) * pi) / p`` (DESIGN §4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def period_start(dates: np.ndarray, precision: str) -> np.ndarray:
    """First day (datetime64[D]) of the period of each date at the given precision."""
    if precision not in DATE_PRECISIONS:
        raise ValueError(f"unknown date precision {precision!r}")
    d = np.asarray(dates).astype("datetime64[D]")
    if precision == "day":
        return d
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


def period_label(starts: np.ndarray, precision: str) -> np.ndarray:
    """Readable label of each period start: 2024-03-05, 2024-W10, 2024-03, 2024-Q1, 2024."""
    found = np.unique(starts, return_inverse=True)  # unpacked by index: mypy crashes on unpacking np.unique's tuple
    uniq, inv = found[0], found[1]
    idx = pd.DatetimeIndex(uniq.astype("datetime64[ns]"))
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
    lab = np.asarray(lab, dtype=object)
    lab[np.isnat(uniq)] = None
    return lab[inv.reshape(-1)]


def shift_dates(dates: np.ndarray, persona: np.ndarray, max_days: int, rng: np.random.Generator) -> np.ndarray:
    """Shift every event of a persona by one random offset in [-max_days, max_days]: order is kept."""
    if max_days <= 0:
        return dates
    offsets = rng.integers(-max_days, max_days + 1, size=int(persona.max()) + 1 if len(persona) else 0)
    return dates + offsets[persona].astype("timedelta64[D]")


def pram_matrix(type_codes: np.ndarray, outcome_codes: np.ndarray, type_names, outcome_names,
                p: float) -> PramMatrix:
    """Marginal outcome distribution per event type: the pi of invariant PRAM."""
    T, n_out = len(type_names), len(outcome_names)
    counts = np.bincount(type_codes * n_out + outcome_codes, minlength=T * n_out).reshape(T, n_out).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    pi = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    return PramMatrix(float(p), tuple(map(str, type_names)), tuple(map(str, outcome_names)), pi)


def joint_pram_sources(type_codes: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Invariant PRAM on the joint value of an event (its outcome and every outcome-dependent column).

    Each event keeps its own joint value with probability p, else takes the joint value of an event
    drawn uniformly from the same event type, i.e. a draw from the type's empirical joint distribution
    pi. Returns the index of the event whose values each event releases. Given the released outcome,
    a dependent column then has the same distribution whether the outcome was kept or replaced, so it
    adds nothing to an attacker's guess of the true outcome (DESIGN §4)."""
    type_codes = np.asarray(type_codes)
    n = len(type_codes)
    source = np.arange(n)
    replaced = rng.random(n) >= p
    by_type = np.argsort(type_codes, kind="stable")
    bounds = np.searchsorted(type_codes[by_type], np.arange(int(type_codes.max()) + 2 if n else 1))
    for t in range(len(bounds) - 1):  # a loop over event types, not events
        members = by_type[bounds[t]:bounds[t + 1]]
        sel = members[replaced[members]]
        if len(sel):
            source[sel] = members[rng.integers(0, len(members), size=len(sel))]
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


def coarsen_values(values: np.ndarray, event_types: np.ndarray, rounding: float, top_quantile: float) -> np.ndarray:
    """Round numeric values and top-code them at a per-event-type quantile (no outlier amounts)."""
    v = np.asarray(values, dtype=np.float64).copy()
    if not len(v) or np.isnan(v).all():
        return v
    types = np.asarray(event_types)
    for t in np.unique(types):  # a loop over event types
        sel = types == t
        vals = v[sel]
        if np.isfinite(vals).any():
            v[sel] = np.minimum(vals, np.nanquantile(vals, top_quantile))
    if rounding > 0:
        v = np.round(v / rounding) * rounding
    return v
