"""DP group tables: the public cell domain, the contribution bound and its L2 sensitivity, OpenDP's calibration,
the stated 95% accuracy on generated data, and the zCDP -> (ε, δ) conversion. Real OpenDP, no mocks."""

from __future__ import annotations

import math

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personatwin.core import schema
from personatwin.core.errors import InputRejectedError
from personatwin.ingest.synth import generate
from personatwin.series.dp_tables import (
    ALPHA,
    DOMAIN_COLUMNS,
    OTHER,
    TABLE_COLUMNS,
    DPPolicy,
    bound_contributions,
    bounded_counts,
    cell_domain,
    dp_group_tables,
    dp_rate,
    epsilon_at_delta,
    gaussian_measurement,
    sensitivity_l2,
)

GROUP_BY = ("sex", "race")
CATEGORIES = {"sex": ["M", "F", "X"],
              "race": ["White", "Black", "Hispanic", "Asian", "Multiracial", "Native American", "Other",
                       "Pacific Islander"]}
EVENT_TYPES = ["arrest", "charge", "hearing", "disposition", "sentence"]
ADVERSE = ["booked", "detained", "convicted", "incarceration"]
POLICY = DPPolicy(rho_per_release=0.01, window_rho_cap=0.12, max_events_per_person=4)


def tables(people: pd.DataFrame, events: pd.DataFrame, period: str = "2024-01", policy: DPPolicy = POLICY):
    return dp_group_tables(people, events, GROUP_BY, schema.OUTCOME, ADVERSE, period, policy,
                           categories=CATEGORIES, event_types=EVENT_TYPES)


def truth(people: pd.DataFrame, events: pd.DataFrame, bound: int = POLICY.max_events_per_person):
    return bounded_counts(people, events, GROUP_BY, schema.OUTCOME, ADVERSE, bound,
                          categories=CATEGORIES, event_types=EVENT_TYPES)


def vector(people: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    counts = truth(people, events).counts
    return np.concatenate([counts["events"].to_numpy(), counts["adverse"].to_numpy()]).astype(float)


@pytest.fixture(scope="module")
def year():
    """20,000 generated people with a year of events (2024), one release per month."""
    return generate("criminal_justice", 20_000, start="2024-01-01", end="2024-12-31", seed=11)


@pytest.fixture(scope="module")
def small():
    """A small population for the sensitivity checks."""
    return generate("criminal_justice", 300, start="2024-01-01", end="2024-01-31", seed=5)


def one_person(pid: str, sex: str, race: str, types: list[str], outcomes: list[str], start: str = "2024-01-01"):
    """A person and their events (dates one day apart from ``start``)."""
    people = pd.DataFrame({schema.PERSON_ID: [pid], "sex": [sex], "race": [race]})
    dates = pd.date_range(start, periods=len(types), freq="D")
    events = pd.DataFrame({schema.PERSON_ID: [pid] * len(types), schema.EVENT_TYPE: types,
                           schema.EVENT_DATE: dates, schema.OUTCOME: outcomes})
    return people, events


def with_person(base, person):
    people = pd.concat([base.people[[schema.PERSON_ID, *GROUP_BY]], person[0]], ignore_index=True)
    events = pd.concat([base.events[list(person[1].columns)], person[1]], ignore_index=True)
    return people, events


# --- policy -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"rho_per_release": 0.0}, "rho_per_release must be a finite number > 0"),
    ({"rho_per_release": float("nan")}, "rho_per_release must be a finite number > 0"),
    ({"window_rho_cap": -1.0}, "window_rho_cap must be a finite number > 0"),
    ({"window_rho_cap": 0.005}, "no release would ever fit"),
    ({"delta": 1.0}, "delta must lie strictly between 0 and 1"),
    ({"max_events_per_person": 0}, "max_events_per_person must be an integer >= 1"),
    ({"max_events_per_person": 2.5}, "max_events_per_person must be an integer >= 1"),
    ({"window_months": 0}, "window_months must be an integer >= 1"),
])
def test_policy_rejects_bad_values_with_a_clear_message(kwargs, message):
    base = {"rho_per_release": 0.01, "window_rho_cap": 0.12, "max_events_per_person": 4}
    with pytest.raises(ValueError, match=message):
        DPPolicy(**{**base, **kwargs})


# --- the public cell domain ---------------------------------------------------------------------------

def test_released_cells_are_the_declared_domain_whatever_the_data(year):
    """Two different data sets release the very same cells, in the same order: the declared domain, zeros
    included; values outside the declared categories go to ``other``."""
    first = year.events[year.events[schema.EVENT_DATE].dt.month == 1]
    other = generate("criminal_justice", 2_000, start="2024-01-01", end="2024-01-31", seed=99)
    people = other.people.copy()
    people = people[people["sex"] != "X"]  # no X people at all
    people.loc[people.index[:50], "race"] = "Unknown"  # undeclared: goes to "other"
    events = other.events[(other.events[schema.EVENT_TYPE] != "sentence")
                          & other.events[schema.PERSON_ID].isin(people[schema.PERSON_ID])]

    a, b = tables(year.people, first), tables(people, events)
    domain = cell_domain(GROUP_BY, CATEGORIES, EVENT_TYPES)
    assert list(a.table.columns) == list(TABLE_COLUMNS)  # no true counts in the published table
    pd.testing.assert_frame_equal(a.table[list(DOMAIN_COLUMNS)], domain)
    pd.testing.assert_frame_equal(b.table[list(DOMAIN_COLUMNS)], domain)
    assert len(domain) == (4 + 9 + 1) * 6  # (3 sexes + other, 8 races + other, all) x (5 types + other)

    counts = truth(people, events).counts
    assert (counts.loc[(counts["group"] == "X"), "events"] == 0).all()  # zero cells are released too
    assert (counts.loc[counts["event_type"] == "sentence", "events"] == 0).all()
    race_other = counts[(counts["attribute"] == "race") & (counts["group"] == OTHER)]
    kept, _ = bound_contributions(events, POLICY.max_events_per_person)
    assert race_other["events"].sum() == kept[schema.PERSON_ID].isin(people[schema.PERSON_ID].iloc[:50]).sum() > 0
    assert (a.scale, a.sensitivity_l2, a.table["accuracy_95"].iloc[0]) == \
        (b.scale, b.sensitivity_l2, b.table["accuracy_95"].iloc[0])  # data-independent parameters


# --- accuracy ---------------------------------------------------------------------------------------

def test_dp_counts_lie_within_their_stated_95pct_accuracy(year):
    """Over 12 monthly releases (2,016 independent noisy counts), at least 93% lie within accuracy_95 of the
    true count after the contribution bound. Each count misses with probability <= 5%, so the share has a
    binomial spread of sqrt(0.05 * 0.95 / 2016) ~ 0.5 pp: 93% is 4 spreads below 95% (a spurious failure
    about once in 30,000 runs), while a wrong scale or sensitivity (say the noise 20% wider) fails it."""
    month = year.events[schema.EVENT_DATE].dt.month
    hits, total = 0, 0
    for m in range(1, 13):
        events = year.events[month == m]
        released = tables(year.people, events, period=f"2024-{m:02d}")
        true = truth(year.people, events).counts
        error = np.abs(np.concatenate([released.table["events_dp"] - true["events"],
                                       released.table["adverse_dp"] - true["adverse"]]))
        hits += int((error <= released.table["accuracy_95"].iloc[0]).sum())
        total += error.size
        assert released.events_dropped_for_bound == truth(year.people, events).events_dropped > 0
    assert total == 12 * 2 * 84
    assert hits / total >= 0.93, f"coverage {hits / total:.4f} over {total} counts"


def test_scale_accuracy_and_rho_come_from_opendp(year):
    """The scale is the closed form sensitivity / sqrt(2 ρ) found by OpenDP, whose measurement spends at most ρ;
    accuracy_95 is OpenDP's discrete-Gaussian accuracy at alpha = 0.05."""
    released = tables(year.people, year.events[year.events[schema.EVENT_DATE].dt.month == 3], period="2024-03")
    sens = sensitivity_l2(len(GROUP_BY), POLICY.max_events_per_person)
    assert released.sensitivity_l2 == pytest.approx(4 * math.sqrt(6))
    assert released.scale == pytest.approx(sens / math.sqrt(2 * POLICY.rho_per_release), rel=1e-6)
    meas, scale = gaussian_measurement(2 * len(released.table), sens, POLICY.rho_per_release)
    assert scale == released.scale and meas.map(sens) <= POLICY.rho_per_release
    assert meas.map(sens) == pytest.approx(POLICY.rho_per_release, rel=1e-6)  # no budget wasted either
    assert (released.table["accuracy_95"] == dp.discrete_gaussian_scale_to_accuracy(released.scale, ALPHA)).all()
    assert released.rho == POLICY.rho_per_release and released.contribution_bound == 4
    assert released.period == "2024-03"


def test_noise_is_fresh_on_each_draw(small):
    """OpenDP's sampler is not seeded: two draws on the same data differ (hence the ledger's reuse rule)."""
    a, b = tables(small.people, small.events), tables(small.people, small.events)
    assert not a.table["events_dp"].equals(b.table["events_dp"])


# --- sensitivity and the contribution bound -------------------------------------------------------------

def test_one_person_at_the_bound_moves_the_counts_by_at_most_the_sensitivity(small):
    """The worst case (all m events adverse and of one type) reaches the stated L2 sensitivity exactly."""
    m = POLICY.max_events_per_person
    sens = sensitivity_l2(len(GROUP_BY), m)
    base = vector(small.people[[schema.PERSON_ID, *GROUP_BY]], small.events)
    worst = one_person("NEW1", "F", "Asian", ["arrest"] * m, ["booked"] * m)
    assert np.linalg.norm(vector(*with_person(small, worst)) - base) == pytest.approx(sens)
    mixed = one_person("NEW2", "M", "Unknown", ["arrest", "charge", "hearing", "hearing"],
                       ["booked", "filed", "detained", "continued"])
    assert np.linalg.norm(vector(*with_person(small, mixed)) - base) <= sens


@settings(max_examples=40, deadline=None)
@given(n_events=st.integers(0, 12), data=st.data())
def test_any_added_person_moves_the_counts_by_at_most_the_sensitivity(n_events, data):
    """Whatever a new person's groups, event types and outcomes, and however many events they have."""
    base_data = generate("criminal_justice", 60, start="2024-01-01", end="2024-01-31", seed=2)
    sex = data.draw(st.sampled_from([*CATEGORIES["sex"], "Z", None]))
    race = data.draw(st.sampled_from([*CATEGORIES["race"], "Unknown"]))
    types = data.draw(st.lists(st.sampled_from([*EVENT_TYPES, "parole"]), min_size=n_events, max_size=n_events))
    outcomes = data.draw(st.lists(st.sampled_from([*ADVERSE, "filed", "plea"]), min_size=n_events,
                                  max_size=n_events))
    person = one_person("NEW", sex, race, types, outcomes)
    base = vector(base_data.people[[schema.PERSON_ID, *GROUP_BY]], base_data.events)
    moved = np.linalg.norm(vector(*with_person(base_data, person)) - base)
    assert moved <= sensitivity_l2(len(GROUP_BY), POLICY.max_events_per_person) + 1e-9


def test_a_person_with_more_events_is_clipped_to_their_earliest(small):
    """Beyond the bound, a person's latest events are dropped (for the DP table only) and counted as dropped."""
    m = POLICY.max_events_per_person
    types = ["arrest"] * m + ["sentence"] * 5  # the last five, by date, are the ones to drop
    over = one_person("NEW", "F", "Asian", types, ["booked"] * m + ["incarceration"] * 5)
    at = one_person("NEW", "F", "Asian", types[:m], ["booked"] * m)
    before = truth(small.people, small.events).events_dropped
    clipped = truth(*with_person(small, over))
    assert clipped.events_dropped == before + 5
    pd.testing.assert_frame_equal(clipped.counts, truth(*with_person(small, at)).counts)
    shuffled = over[1].sample(frac=1.0, random_state=0)  # row order does not matter, dates do
    kept, dropped = bound_contributions(shuffled, m)
    assert dropped == 5 and (kept[schema.EVENT_TYPE] == "arrest").all()


def test_ties_in_date_keep_the_first_rows():
    events = pd.DataFrame({schema.PERSON_ID: ["a"] * 4 + ["b"], schema.EVENT_TYPE: ["x", "y", "z", "w", "x"],
                           schema.EVENT_DATE: pd.to_datetime(["2024-01-02"] * 4 + ["2024-01-01"]),
                           schema.OUTCOME: ["o"] * 5})
    kept, dropped = bound_contributions(events, 2)
    assert dropped == 2 and kept[schema.EVENT_TYPE].tolist() == ["x", "y", "x"]


# --- rates and inputs --------------------------------------------------------------------------------------

def test_rate_is_nan_without_events_and_clipped():
    rate = dp_rate(np.array([10, 0, -3, 4, 5]), np.array([5, 2, 1, 9, -1]))
    assert rate[0] == 0.5 and np.isnan(rate[1]) and np.isnan(rate[2]) and rate[3] == 1.0 and rate[4] == 0.0


def test_inputs_that_would_break_the_guarantee_are_refused(small):
    twice = pd.concat([small.people, small.people.iloc[:1]], ignore_index=True)
    with pytest.raises(InputRejectedError, match="repeated person_ids"):
        tables(twice, small.events)
    with pytest.raises(InputRejectedError, match=r"lacks columns \['event_date'\]"):
        tables(small.people, small.events.drop(columns=[schema.EVENT_DATE]))
    with pytest.raises(ValueError, match="no declared categories"):
        dp_group_tables(small.people, small.events, ["sex", "zip"], schema.OUTCOME, ADVERSE, "2024-01", POLICY,
                        categories=CATEGORIES, event_types=EVENT_TYPES)
    with pytest.raises(ValueError, match="period must be"):
        tables(small.people, small.events, period="2024/01")


# --- ε at δ -----------------------------------------------------------------------------------------------

def test_epsilon_matches_the_formula_is_finite_and_increasing():
    delta = 1e-6
    rhos = [0.001, 0.01, 0.12, 1.0, 5.0]
    eps = [epsilon_at_delta(r, delta) for r in rhos]
    assert all(math.isfinite(e) for e in eps) and eps == sorted(eps) and len(set(eps)) == len(eps)
    for r, e in zip(rhos, eps):
        assert e == pytest.approx(r + 2 * math.sqrt(r * math.log(1 / delta)))
    assert epsilon_at_delta(0.0, delta) == 0.0
    with pytest.raises(ValueError, match="delta"):
        epsilon_at_delta(0.01, 0.0)


@pytest.mark.parametrize("rho", [0.01, 0.12, 1.0])
def test_the_formula_bounds_opendps_own_conversion(rho):
    """OpenDP's zCDP -> approximate DP conversion of the very measurement is tighter: ours is a safe upper bound,
    and not a loose one (within 30%)."""
    sens = sensitivity_l2(len(GROUP_BY), POLICY.max_events_per_person)
    meas, _ = gaussian_measurement(10, sens, rho)
    profile = dp.c.make_zCDP_to_approxDP(meas).map(sens)
    theirs, ours = profile.epsilon(1e-6), epsilon_at_delta(rho, 1e-6)
    assert theirs <= ours <= 1.3 * theirs


def test_a_release_without_events_still_releases_every_cell(small):
    released = tables(small.people, small.events.iloc[:0])
    assert len(released.table) == len(cell_domain(GROUP_BY, CATEGORIES, EVENT_TYPES))
    assert released.events_dropped_for_bound == 0
