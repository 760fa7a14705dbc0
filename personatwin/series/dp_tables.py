"""Differentially private tables of what people ask most: event and adverse-outcome counts per group.

One OpenDP Gaussian measurement (the discrete Gaussian on integer counts) under zero-concentrated DP
(zCDP) releases every cell of a *public* domain (declared categories x declared event types, plus an
``other`` cell each, zeros included), so neither the cell set nor the noise scale depends on the data.
The privacy unit is the person across the series: each release spends ``rho_per_release`` of the
person's budget, and ``personatwin.series.budget.BudgetLedger`` caps the ρ spent within a window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import opendp.prelude as dp
import pandas as pd

from personatwin.core import schema
from personatwin.core.errors import InputRejectedError
from personatwin.series.budget import period_month

OTHER = "other"  # the cell of values outside the declared categories (or missing)
ALL = "all"  # the attribute and group of the whole population
ALPHA = 0.05  # accuracy_95: the half-width each count stays within with probability >= 1 - ALPHA
DOMAIN_COLUMNS = ("attribute", "group", "event_type")
TABLE_COLUMNS = (*DOMAIN_COLUMNS, "events_dp", "adverse_dp", "rate_dp", "accuracy_95")


@dataclass(frozen=True)
class DPPolicy:
    """The DP parameters of a series: ρ per release, the window cap, δ for reporting ε, the contribution bound."""

    rho_per_release: float
    window_rho_cap: float
    max_events_per_person: int
    delta: float = 1e-6
    window_months: int = 12

    def __post_init__(self) -> None:
        if not _positive_finite(self.rho_per_release):
            raise ValueError(f"rho_per_release must be a finite number > 0, got {self.rho_per_release!r}")
        if not _positive_finite(self.window_rho_cap):
            raise ValueError(f"window_rho_cap must be a finite number > 0, got {self.window_rho_cap!r}")
        if self.window_rho_cap < self.rho_per_release:
            raise ValueError(f"window_rho_cap ({self.window_rho_cap}) is below rho_per_release "
                             f"({self.rho_per_release}): no release would ever fit in the window")
        if not (isinstance(self.delta, int | float) and 0.0 < self.delta < 1.0):
            raise ValueError(f"delta must lie strictly between 0 and 1, got {self.delta!r}")
        if not _positive_int(self.max_events_per_person):
            raise ValueError(f"max_events_per_person must be an integer >= 1, got {self.max_events_per_person!r}")
        if not _positive_int(self.window_months):
            raise ValueError(f"window_months must be an integer >= 1, got {self.window_months!r}")


@dataclass(frozen=True)
class DPTables:
    """A published DP table and its parameters. ``events_dropped_for_bound`` is an exact (non-DP) figure
    for the internal report; every other field is data-independent or DP."""

    table: pd.DataFrame
    rho: float
    scale: float
    sensitivity_l2: float
    contribution_bound: int
    events_dropped_for_bound: int
    period: str


@dataclass(frozen=True)
class BoundedCounts:
    """True counts per cell of the public domain after the contribution bound (internal: never published)."""

    counts: pd.DataFrame  # DOMAIN_COLUMNS + events, adverse
    events_dropped: int


def _positive_finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _positive_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool) and bool(x >= 1)


def _labels(declared: Sequence[str]) -> list[str]:
    """The declared labels in order, then ``other`` (once, even when declared)."""
    return list(dict.fromkeys([*map(str, declared), OTHER]))


def cell_domain(group_by: Sequence[str], categories: Mapping[str, Sequence[str]],
                event_types: Sequence[str]) -> pd.DataFrame:
    """Every released cell, from the public declaration only: (attribute, group) x event type, then ``all``."""
    types = _labels(event_types)
    blocks = [(attr, _labels(categories[attr])) for attr in group_by] + [(ALL, [ALL])]
    attrs = [attr for attr, groups in blocks for _ in groups]
    groups = [g for _, gs in blocks for g in gs]
    return pd.DataFrame({
        "attribute": np.repeat(attrs, len(types)),
        "group": np.repeat(groups, len(types)),
        "event_type": np.tile(types, len(groups)),
    })


def sensitivity_l2(n_attributes: int, max_events_per_person: int) -> float:
    """L2 sensitivity of the (events, adverse) vector: at worst all m events of one person are adverse and of one
    type, so they add m to one event cell and one adverse cell per attribute and in ``all``: m * sqrt(2 (A + 1))."""
    return float(max_events_per_person) * math.sqrt(2.0 * (n_attributes + 1))


def gaussian_measurement(n_values: int, sensitivity: float, rho: float) -> tuple[dp.Measurement, float]:
    """OpenDP's discrete Gaussian on an integer vector of ``n_values`` counts, calibrated to ρ-zCDP at an L2
    distance of ``sensitivity`` (closed form: scale = sensitivity / sqrt(2 ρ), found by OpenDP's binary search);
    returns the measurement and its scale."""
    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T="i64"), size=n_values), dp.l2_distance(T="f64")
    scale = dp.binary_search_param(lambda s: dp.m.make_gaussian(*space, scale=s),
                                   d_in=float(sensitivity), d_out=float(rho), T=float)
    meas = dp.m.make_gaussian(*space, scale=scale)
    loss = meas.map(float(sensitivity))
    if loss > rho:  # binary_search_param promises this; a release never relies on a promise unchecked
        raise RuntimeError(f"OpenDP calibration failed: privacy loss {loss} exceeds rho {rho}")
    return meas, float(scale)


def epsilon_at_delta(rho: float, delta: float) -> float:
    """ε of ρ-zCDP at δ by the standard conversion ε = ρ + 2 sqrt(ρ ln(1/δ)) (Bun & Steinke 2016, Prop. 1.3): a
    conservative figure any reader can recompute; OpenDP's ``make_zCDP_to_approxDP`` gives a tighter one."""
    if not (isinstance(rho, int | float) and math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    if not (isinstance(delta, int | float) and 0.0 < delta < 1.0):
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}")
    return float(rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta)))


def _check_inputs(people: pd.DataFrame, events: pd.DataFrame, group_by: Sequence[str], outcome_column: str,
                  categories: Mapping[str, Sequence[str]], event_types: Sequence[str]) -> None:
    """Reject inputs whose shape would break the sensitivity argument or the public domain."""
    if len(set(group_by)) != len(group_by) or ALL in group_by:
        raise ValueError(f"group_by must name distinct attributes other than {ALL!r}, got {list(group_by)}")
    undeclared = [a for a in group_by if a not in categories]
    if undeclared:
        raise ValueError(f"group_by attributes {undeclared} have no declared categories (the domain must be public)")
    if len(event_types) == 0:
        raise ValueError("event_types must declare at least one event type")
    missing_people = [c for c in (schema.PERSON_ID, *group_by) if c not in people.columns]
    if missing_people:
        raise InputRejectedError(f"people table lacks columns {missing_people}")
    missing_events = [c for c in (schema.PERSON_ID, schema.EVENT_TYPE, schema.EVENT_DATE, outcome_column)
                      if c not in events.columns]
    if missing_events:
        raise InputRejectedError(f"events table lacks columns {missing_events}")
    if people[schema.PERSON_ID].duplicated().any():
        raise InputRejectedError(f"people table has repeated {schema.PERSON_ID}s: a person must be in one group "
                                 "per attribute for the DP sensitivity to hold")
    if events[schema.PERSON_ID].isna().any():
        raise InputRejectedError(f"events table has rows without a {schema.PERSON_ID}: the contribution bound "
                                 "needs every event's person")


def bound_contributions(events: pd.DataFrame, max_events_per_person: int) -> tuple[pd.DataFrame, int]:
    """Keep each person's first ``max_events_per_person`` events (earliest date, then row order); return the kept
    rows and how many were dropped. Depends on each person's own events only, so the bound is per person."""
    order = events.sort_values([schema.PERSON_ID, schema.EVENT_DATE], kind="stable", na_position="last")
    rank = order.groupby(schema.PERSON_ID, sort=False).cumcount().to_numpy()
    kept = order[rank < max_events_per_person].sort_index()
    return kept, int(len(events) - len(kept))


def _codes(values: pd.Series, labels: Sequence[str]) -> np.ndarray:
    """Each value's position in ``labels``; undeclared or missing values go to ``other``."""
    codes = pd.Index(labels).get_indexer(values.astype("string")).astype(np.int64)
    codes[codes < 0] = list(labels).index(OTHER)
    return codes


def bounded_counts(people: pd.DataFrame, events: pd.DataFrame, group_by: Sequence[str], outcome_column: str,
                   adverse_outcomes: Sequence[str], max_events_per_person: int, *,
                   categories: Mapping[str, Sequence[str]], event_types: Sequence[str]) -> BoundedCounts:
    """True event and adverse counts per cell of the public domain after the contribution bound (internal)."""
    _check_inputs(people, events, group_by, outcome_column, categories, event_types)
    kept, dropped = bound_contributions(events, max_events_per_person)
    columns = [schema.PERSON_ID, *group_by]
    rows = kept[[schema.PERSON_ID, schema.EVENT_TYPE, outcome_column]].merge(
        people[columns], on=schema.PERSON_ID, how="left", validate="many_to_one")
    types = _labels(event_types)
    type_code = _codes(rows[schema.EVENT_TYPE], types)
    adverse = rows[outcome_column].astype("string").isin([str(o) for o in adverse_outcomes]).to_numpy(bool)
    offset, cells = 0, []
    for attr in group_by:  # one vectorized pass per attribute (a handful), never per row
        labels = _labels(categories[attr])
        cells.append(offset + _codes(rows[attr], labels) * len(types) + type_code)
        offset += len(labels) * len(types)
    cells.append(offset + type_code)  # the "all" block
    n_cells = offset + len(types)
    index = np.concatenate(cells)
    weight = np.tile(adverse, len(cells)).astype(np.int64)
    counts = cell_domain(group_by, categories, event_types)
    counts["events"] = np.bincount(index, minlength=n_cells).astype(np.int64)
    counts["adverse"] = np.bincount(index, weights=weight, minlength=n_cells).astype(np.int64)
    return BoundedCounts(counts=counts, events_dropped=dropped)


def dp_group_tables(people: pd.DataFrame, events: pd.DataFrame, group_by: Sequence[str], outcome_column: str,
                    adverse_outcomes: Sequence[str], period: str, policy: DPPolicy, *,
                    categories: Mapping[str, Sequence[str]], event_types: Sequence[str]) -> DPTables:
    """DP counts of events and adverse events per (group of each attribute, and ``all``) x event type.

    ``events`` are the release's events (the caller selects the period's rows). Sensitivity: after the bound a
    person has at most m events; each lands in one cell per attribute and one in ``all``, in the event count and,
    if adverse, the adverse count, so adding or removing a person moves the whole vector by at most
    m * sqrt(2 (A + 1)) in L2 (A = len(group_by)); one discrete Gaussian over the vector gives ``rho_per_release``.
    Noise comes from OpenDP's secure sampler, never from a seed: a rerun must reuse the published table (the
    ledger charges a release once), since redrawing on unchanged data would let an attacker average noise away.
    """
    period_month(period)  # a malformed period fails before any counting
    true = bounded_counts(people, events, group_by, outcome_column, adverse_outcomes, policy.max_events_per_person,
                          categories=categories, event_types=event_types)
    n = len(true.counts)
    sens = sensitivity_l2(len(group_by), policy.max_events_per_person)
    meas, scale = gaussian_measurement(2 * n, sens, policy.rho_per_release)
    vector = np.concatenate([true.counts["events"].to_numpy(), true.counts["adverse"].to_numpy()])
    noisy = np.asarray(meas([int(v) for v in vector]), dtype=np.int64)
    table = true.counts[list(DOMAIN_COLUMNS)].copy()
    table["events_dp"], table["adverse_dp"] = noisy[:n], noisy[n:]
    table["rate_dp"] = dp_rate(table["events_dp"].to_numpy(), table["adverse_dp"].to_numpy())
    table["accuracy_95"] = float(dp.discrete_gaussian_scale_to_accuracy(scale, ALPHA))
    return DPTables(table=table.reset_index(drop=True), rho=float(policy.rho_per_release), scale=scale,
                    sensitivity_l2=sens, contribution_bound=int(policy.max_events_per_person),
                    events_dropped_for_bound=true.events_dropped, period=period)


def dp_rate(events_dp: np.ndarray, adverse_dp: np.ndarray) -> np.ndarray:
    """The analyst's rate adverse / events (post-processing), NaN where the noisy events count is <= 0,
    clipped to [0, 1]."""
    events = events_dp.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(events > 0, adverse_dp / np.where(events > 0, events, 1.0), np.nan)
    return np.clip(rate, 0.0, 1.0)


# --- a release's DP tables, from its domain and policy --------------------------------------------------

ALL_TIME_MONTHS = 12 * 1000  # the budget window of a policy with no series window


def dp_policy_of(policy) -> DPPolicy | None:
    """The DP parameters a ``PrivacyPolicy`` sets (None: the policy releases no DP tables)."""
    if policy.dp_rho_per_release is None:
        return None
    window = policy.series_window_months
    return DPPolicy(rho_per_release=float(policy.dp_rho_per_release),
                    window_rho_cap=float(policy.dp_rho_cap_or_default),
                    max_events_per_person=int(policy.dp_max_events_per_person), delta=float(policy.dp_delta),
                    window_months=int(window) if window is not None else ALL_TIME_MONTHS)


def declared_categories(domain) -> dict[str, tuple[str, ...]]:
    """Bias attributes whose values the domain declares (a value mapping): the public group domain."""
    out = {}
    for attr in domain.bias_attributes:
        values = getattr(domain.hierarchy(attr), "values", None)
        if values:
            out[attr] = tuple(map(str, values))
    return out


def domain_dp_tables(people: pd.DataFrame, events: pd.DataFrame, domain, period: str,
                     policy: DPPolicy) -> DPTables:
    """The DP tables of one release: groups of every bias attribute with declared values, every declared
    event type, adverse outcomes as the domain names them."""
    categories = declared_categories(domain)
    return dp_group_tables(people, events, list(categories), schema.OUTCOME, tuple(domain.adverse_outcomes), period,
                           policy, categories=categories, event_types=list(domain.event_types))


def dp_figures(tables: DPTables, policy: DPPolicy, spent_in_window: float) -> dict[str, float]:
    """The DP figures a release publishes (dp_events_dropped_for_bound is an exact count: internal)."""
    return {"dp_rho": tables.rho, "dp_epsilon": epsilon_at_delta(tables.rho, policy.delta), "dp_delta": policy.delta,
            "dp_scale": tables.scale, "dp_sensitivity_l2": tables.sensitivity_l2,
            "dp_accuracy_95": float(tables.table["accuracy_95"].iloc[0]) if len(tables.table) else float("nan"),
            "dp_contribution_bound": float(tables.contribution_bound),
            "dp_rho_spent_window": float(spent_in_window), "dp_rho_cap": policy.window_rho_cap,
            "dp_epsilon_window": epsilon_at_delta(float(spent_in_window), policy.delta),
            "dp_events_dropped_for_bound": float(tables.events_dropped_for_bound)}
