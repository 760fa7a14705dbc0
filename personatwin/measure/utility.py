"""Utility of a release (DESIGN §6): what analysts keep, original vs released.

Outcome rates per demographic group are computed on the release after PRAM unbiasing,
``(observed - (1 - p) * pi) / p``, with standard error ``sqrt(q (1 - q) / (N + 4)) / p`` where
``q = (count + 2) / (N + 4)`` (Agresti-Coull, so small groups with a rate of 0 or 1 keep a usable
SE), and compared
with the original rates; the gates are policy settings and blocking checks on a release.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from personatwin.core.codes import DENSE_RANGE_LIMIT, dense_codes
from personatwin.core.policy import UtilityGates
from personatwin.protect.noise import PramMatrix, period_label


@dataclass(frozen=True)
class UtilityReport:
    """Utility figures and tables of one release."""

    event_counts: pd.DataFrame  # event_type, period, original, released
    events_preserved: bool
    qi_tvd: dict[str, float]
    outcome_tvd: float
    group_rates: pd.DataFrame  # attribute, group, event_type, outcome, n_original, original_rate, n_released,
    # observed_rate, unbiased_rate, se, diff_pp, coverage, gate (pp | se | none), passed
    disparity: pd.DataFrame  # attribute, group, reference, event_type, original_ratio, released_ratio
    information_loss: float
    gate_failures: tuple[str, ...] = field(default=())

    @property
    def gates_passed(self) -> bool:
        return not self.gate_failures

    def as_dict(self) -> dict[str, float]:
        out = {f"tvd_{k}": float(v) for k, v in self.qi_tvd.items()}
        out["tvd_outcome"] = float(self.outcome_tvd)
        out["information_loss"] = float(self.information_loss)
        gated = self.group_rates[self.group_rates["gate"] != "none"] if len(self.group_rates) else self.group_rates
        out["max_rate_diff_pp"] = float(gated["diff_pp"].abs().max()) if len(gated) else 0.0
        rates = self.group_rates
        out["min_group_coverage"] = float(rates["coverage"].min()) if len(rates) else 1.0
        out["utility_gate_failures"] = float(len(self.gate_failures))
        out["events_preserved"] = float(self.events_preserved)
        return out


@dataclass(frozen=True)
class PeriodCounts:
    """Events per type x period start, original and released: sums over events, so over shards (``+``)."""

    days: np.ndarray  # distinct period starts (int64 days; NaT as its int64), sorted
    original: np.ndarray  # T x len(days)
    released: np.ndarray

    def __add__(self, other: PeriodCounts) -> PeriodCounts:
        days = np.union1d(self.days, other.days)
        out = []
        for a, b in ((self.original, other.original), (self.released, other.released)):
            total = np.zeros((a.shape[0], len(days)), dtype=np.int64)
            total[:, np.searchsorted(days, self.days)] += a
            total[:, np.searchsorted(days, other.days)] += b
            out.append(total)
        return PeriodCounts(days, out[0], out[1])


def period_counts(type_codes: np.ndarray, T: int, orig_starts: np.ndarray, rel_starts: np.ndarray) -> PeriodCounts:
    """``event_counts``'s sums: events per type x period start, original and released."""
    o_days = orig_starts.astype("datetime64[D]", copy=False).view(np.int64)
    r_days = rel_starts.astype("datetime64[D]", copy=False).view(np.int64)
    if len(o_days) and len(r_days):
        lo, hi = min(int(o_days.min()), int(r_days.min())), max(int(o_days.max()), int(r_days.max()))
        if (hi - lo + 1) * T < DENSE_RANGE_LIMIT:  # counted per (type, day) at once: no event-long codes
            R = hi - lo + 1
            o = _type_day_counts(type_codes, o_days, lo, R, T)
            r = _type_day_counts(type_codes, r_days, lo, R, T)
            present = (o.sum(axis=0) + r.sum(axis=0)) > 0
            return PeriodCounts(np.flatnonzero(present) + lo, o[:, present], r[:, present])
    days = np.concatenate([o_days, r_days])
    inv, uniq = dense_codes(days)
    P = len(uniq)
    o = np.bincount(type_codes * P + inv[: len(orig_starts)], minlength=T * P)
    r = np.bincount(type_codes * P + inv[len(orig_starts):], minlength=T * P)
    return PeriodCounts(uniq, o.reshape(T, P), r.reshape(T, P))


def _type_day_counts(type_codes: np.ndarray, days: np.ndarray, lo: int, R: int, T: int) -> np.ndarray:
    """Events per (type, day - lo): a T x R table."""
    key = np.multiply(type_codes, R, dtype=np.int64)
    key += days
    key -= lo
    return np.bincount(key, minlength=T * R).reshape(T, R)


def event_counts(type_codes: np.ndarray, type_names, orig_starts: np.ndarray, rel_starts: np.ndarray,
                 precision: str) -> pd.DataFrame:
    """Event counts per type x period, original vs released (re-attribution keeps every event)."""
    return event_counts_from(period_counts(type_codes, len(type_names), orig_starts, rel_starts), type_names,
                             precision)


def event_counts_from(counts: PeriodCounts, type_names, precision: str) -> pd.DataFrame:
    """``event_counts`` from its sums (``period_counts``, added over shards)."""
    P = len(counts.days)
    o, r = counts.original.reshape(-1), counts.released.reshape(-1)
    nz = np.flatnonzero(o + r)
    labels = period_label(counts.days.astype("datetime64[D]"), precision)
    return pd.DataFrame({"event_type": np.asarray(type_names, dtype=object)[nz // P],
                         "period": labels[nz % P], "original": o[nz], "released": r[nz]})


def tvd_counts(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between two count vectors over the same categories."""
    sa, sb = a.sum(), b.sum()
    if sa == 0 or sb == 0:
        return 0.0
    return float(0.5 * np.abs(a / sa - b / sb).sum())


def tvd_codes(codes: np.ndarray, labels: np.ndarray, released_labels: np.ndarray, weights: np.ndarray) -> float:
    """TVD between the original marginal (codes into labels) and a weighted released marginal.

    Labels are compared as text, so mass moved to a coarser label counts as distance.
    """
    names = pd.Index(labels).append(pd.Index(released_labels)).unique()
    a = np.bincount(names.get_indexer(labels)[codes], minlength=len(names)).astype(np.float64)
    b = np.bincount(names.get_indexer(released_labels), weights=weights, minlength=len(names))
    return tvd_counts(a, b)


def unbiased_rates(count: np.ndarray, n: np.ndarray, pi: np.ndarray, p: float,
                   n_type: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed rate, PRAM-unbiased rate and its standard error for ``count`` of ``n`` released events.

    Agresti-Coull (the Wald SE vanishes at observed rates of 0 or 1 in small groups); pi is published
    as estimated from the release (``n_type`` released events of the type), so its sampling variance
    enters with weight ((1 - p) / p)^2 (conservative: covariance ignored)."""
    obs = count / np.maximum(n, 1)
    q = (count + 2.0) / (n + 4.0)
    se = np.sqrt(q * (1 - q) / (n + 4.0) + (1 - p) ** 2 * pi * (1 - pi) / np.maximum(n_type, 1)) / p
    return obs, (obs - (1 - p) * pi) / p, se


def unit_types(unit: np.ndarray, type_codes: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (unit, event type) pairs of some events (units: people or personas), as two arrays."""
    n_units = int(unit.max()) + 1 if len(unit) else 0
    has = np.zeros(n_units * T, dtype=bool)
    has[unit.astype(np.int64) * T + type_codes] = True  # a table, not a sort: 10M events in one pass
    pairs = np.flatnonzero(has)
    return pairs // T, pairs % T


def distinct_people(pairs: tuple[np.ndarray, np.ndarray], group: np.ndarray, G: int, T: int,
                    weight: np.ndarray | None = None) -> np.ndarray:
    """G x T: distinct units (people, or personas weighted by their size) with an event of each type,
    by the group of the unit (``group[unit]``)."""
    unit, t = pairs
    return np.bincount(group[unit] * T + t, weights=None if weight is None else weight[unit],
                       minlength=G * T).reshape(G, T).astype(np.int64)


@dataclass(frozen=True)
class RateCounts:
    """What ``group_rates`` is computed from: sums over events, so sums over shards (``+``), per bias grouping."""

    co: tuple[np.ndarray, ...]  # per grouping: G x T x n_out true outcomes by the person's own group
    cr: tuple[np.ndarray, ...]  # per grouping: released outcomes by the group the person's persona publishes
    people_o: tuple[np.ndarray, ...]  # per grouping: G x T distinct people with an event of the type
    persona_types: np.ndarray  # n_personas x T: the persona holds an event of the type

    def __add__(self, other: RateCounts) -> RateCounts:
        """Counts of two disjoint sets of events (each person's events all in one of them)."""
        return RateCounts(tuple(a + b for a, b in zip(self.co, other.co)),
                          tuple(a + b for a, b in zip(self.cr, other.cr)),
                          tuple(a + b for a, b in zip(self.people_o, other.people_o)),
                          self.persona_types | other.persona_types)


def rate_counts(groups, event_person: np.ndarray, type_codes: np.ndarray, T: int, outcome_codes: np.ndarray,
                released_outcomes: np.ndarray, n_out: int, person_persona: np.ndarray, n_personas: int) -> RateCounts:
    """The counts ``group_rates`` needs, of these events (``groups`` as there; person indices are the release's)."""
    person_pairs = unit_types(event_person, type_codes, T)  # once for every attribute
    persona_types = np.zeros((n_personas, T), dtype=bool)
    persona_types[person_persona[event_person], type_codes] = True
    co, cr, people_o = [], [], []
    for _, orig, rel, names in groups:
        G = len(names)
        people_o.append(distinct_people(person_pairs, orig, G, T))
        co.append(np.bincount(_cell_keys(orig, event_person, type_codes, T, outcome_codes, n_out),
                              minlength=G * T * n_out).reshape(G, T, n_out))
        cr.append(np.bincount(_cell_keys(rel, event_person, type_codes, T, released_outcomes, n_out),
                              minlength=G * T * n_out).reshape(G, T, n_out))
    return RateCounts(tuple(co), tuple(cr), tuple(people_o), persona_types)


def _cell_keys(group: np.ndarray, event_person: np.ndarray, type_codes: np.ndarray, T: int, outcomes: np.ndarray,
               n_out: int) -> np.ndarray:
    """(group x type) x outcome of each event, computed in place: one event-long array, no temporaries."""
    key = group.astype(np.int64, copy=False)[event_person]
    key *= T
    key += type_codes
    key *= n_out
    key += outcomes
    return key


def group_rates(groups, event_person: np.ndarray, type_codes: np.ndarray, type_names, outcome_codes: np.ndarray,
                released_outcomes: np.ndarray, outcome_names, pram: PramMatrix, gates: UtilityGates,
                person_persona: np.ndarray | None = None) -> pd.DataFrame:
    """Outcome rate per group x event type x outcome: original vs PRAM-unbiased release.

    ``groups`` holds (attribute, original group code per person, published group code per person,
    group names). Original rates use the true outcome and the person's own group; released rates
    use the randomized outcome and the group the person's persona publishes. ``people_original`` is
    the number of distinct people of the group with an event of the type; ``people_released`` the
    members of the personas publishing the group that hold an event of the type (small-cell rule).
    """
    if person_persona is None:
        person_persona = np.arange(int(event_person.max()) + 1 if len(event_person) else 0)
    n_personas = int(person_persona.max()) + 1 if len(person_persona) else 0
    counts = rate_counts(groups, event_person, type_codes, len(type_names), outcome_codes, released_outcomes,
                         len(outcome_names), person_persona, n_personas)
    return rates_from_counts(groups, counts, person_persona, type_names, outcome_names, pram, gates)


def rates_from_counts(groups, counts: RateCounts, person_persona: np.ndarray, type_names, outcome_names,
                      pram: PramMatrix, gates: UtilityGates) -> pd.DataFrame:
    """``group_rates`` from its counts (``rate_counts``, summed over shards)."""
    T = len(type_names)
    p = pram.p
    frames = []
    persona_size = np.bincount(person_persona, minlength=len(counts.persona_types))
    persona_member = np.zeros(len(persona_size), dtype=np.int64)
    persona_member[person_persona] = np.arange(len(person_persona))
    unit, typ = np.nonzero(counts.persona_types)
    persona_pairs = (unit, typ)
    for (attr, _, rel, names), co, cr, people_o in zip(groups, counts.co, counts.cr, counts.people_o):
        G = len(names)
        people_r = distinct_people(persona_pairs, rel[persona_member], G, T, weight=persona_size)
        no, nr = co.sum(axis=2), cr.sum(axis=2)
        # every outcome the event type can take, also those with zero count in this group
        g, t, o = np.nonzero((no > 0)[:, :, None] & (pram.matrix > 0)[None, :, :])
        n_o, n_r = no[g, t], nr[g, t]
        orig_rate = co[g, t, o] / np.maximum(n_o, 1)
        pi = pram.matrix[t, o]
        obs, unb, se = unbiased_rates(cr[g, t, o].astype(np.float64), n_r, pi, p, cr.sum(axis=(0, 2))[t])
        frames.append(pd.DataFrame({
            "attribute": attr, "group": names[g], "event_type": np.asarray(type_names, dtype=object)[t],
            "outcome": np.asarray(outcome_names, dtype=object)[o], "people_original": people_o[g, t],
            "people_released": people_r[g, t], "n_original": n_o, "original_rate": orig_rate,
            "n_released": n_r, "observed_rate": obs, "unbiased_rate": unb, "se": se,
            "diff_pp": 100.0 * (unb - orig_rate)}))
    if not frames:
        return pd.DataFrame(columns=["attribute", "group", "event_type", "outcome", "people_original",
                                     "people_released", "n_original", "original_rate",
                                     "n_released", "observed_rate", "unbiased_rate", "se", "diff_pp", "gate", "passed"])
    out = pd.concat(frames, ignore_index=True)
    out["coverage"] = out["n_released"] / out["n_original"]
    # A group the release mostly generalizes away (coverage below the gate) is reported, not gated:
    # its published subset is a selection, not a noisy copy, of the group.
    covered = out["coverage"] >= gates.min_group_coverage
    large = covered & (out["n_original"] >= gates.large_group_events)
    small = covered & ~large & (out["n_released"] >= gates.min_group_events)
    out["gate"] = np.where(large, "pp", np.where(small, "se", "none"))
    se_pp = 100.0 * out["se"]
    ok_large = out["diff_pp"].abs() <= gates.max_rate_diff_pp
    ok_small = out["diff_pp"].abs() <= gates.small_group_se * se_pp
    out["passed"] = np.where(large, ok_large, np.where(small, ok_small, True))
    return out


def disparity(rates: pd.DataFrame, adverse: tuple[str, ...]) -> pd.DataFrame:
    """Adverse-outcome rate of each group relative to the largest group, original vs release."""
    if rates.empty or not adverse:
        return pd.DataFrame(columns=["attribute", "group", "reference", "event_type", "original_ratio",
                                     "released_ratio"])
    a = rates[rates["outcome"].isin(adverse)]
    agg = a.groupby(["attribute", "group", "event_type"], observed=True).agg(
        n=("n_original", "first"), orig=("original_rate", "sum"), rel=("unbiased_rate", "sum")).reset_index()
    ref = agg.sort_values("n", ascending=False).groupby(["attribute", "event_type"]).head(1)
    ref = ref.rename(columns={"group": "reference", "orig": "ref_orig", "rel": "ref_rel"})[
        ["attribute", "event_type", "reference", "ref_orig", "ref_rel"]]
    out = agg.merge(ref, on=["attribute", "event_type"])
    out["original_ratio"] = out["orig"] / out["ref_orig"].replace(0, np.nan)
    out["released_ratio"] = out["rel"] / out["ref_rel"].replace(0, np.nan)
    return out[["attribute", "group", "reference", "event_type", "n", "original_ratio", "released_ratio"]]


def gate_failures(rates: pd.DataFrame, gates: UtilityGates, events_preserved: bool) -> tuple[str, ...]:
    """Readable descriptions of every failed utility gate (no data values beyond group labels)."""
    fails = []
    if not events_preserved:
        fails.append("event counts per type x period differ between input and release")
    if gates.enabled and len(rates):
        bad = rates[~rates["passed"].astype(bool)]
        for r in bad.head(20).itertuples(index=False):
            limit = (f"{gates.max_rate_diff_pp} pp" if r.gate == "pp"
                     else f"{gates.small_group_se} SE ({100 * r.se:.2f} pp)")
            fails.append(f"{r.attribute}={r.group}, {r.event_type}/{r.outcome}: unbiased rate differs by "
                         f"{r.diff_pp:+.2f} pp (limit {limit}, {r.n_original} events)")
        if len(bad) > 20:
            fails.append(f"... and {len(bad) - 20} more group rates outside their gate")
    return tuple(fails)
