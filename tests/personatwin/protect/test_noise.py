"""PRAM, date and value noise (personatwin.protect.noise; DESIGN §4 Noise and Randomness).

Statistical checks use about 200k generated events and a fixed seed, with a tolerance of 5 standard
errors, so a correct implementation fails them with probability below 1e-5 and a wrong keep
probability, a non-invariant draw or a wrong unbiasing formula fails them for certain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import DATE_PRECISIONS
from personatwin.protect.noise import (
    PramMatrix,
    apply_pram,
    coarsen_values,
    period_label,
    period_start,
    pram_matrix,
    shift_dates,
)

TYPES = ("arrest", "charge", "sentence")
OUTCOMES = ("none", "low", "mid", "high", "never")
# true outcome distribution per event type; "never" never occurs, "high" never occurs for arrests
TRUE_DIST = np.array([[0.70, 0.20, 0.10, 0.00, 0.0],
                      [0.10, 0.20, 0.30, 0.40, 0.0],
                      [0.25, 0.25, 0.25, 0.25, 0.0]])
N_EVENTS = 200_000
Z = 5.0  # tolerance in standard errors
KEY = ReleaseKey("noise-test-release-key-0001")
SALT = "2024-03"


def make_events(n: int = N_EVENTS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Type and true outcome codes of n events drawn from TRUE_DIST."""
    rng = np.random.default_rng(seed)
    types = rng.integers(0, len(TYPES), n)
    cdf = np.cumsum(TRUE_DIST, axis=1)
    outcomes = (rng.random(n)[:, None] >= cdf[types]).sum(axis=1)
    return types, outcomes


def released(types, outcomes, p: float, rng: np.random.Generator) -> tuple[PramMatrix, np.ndarray]:
    pram = pram_matrix(types, outcomes, TYPES, OUTCOMES, p)
    return pram, apply_pram(types, outcomes, pram, rng)


# ------------------------------------------------------------------------------------------------
# PRAM
# ------------------------------------------------------------------------------------------------


def test_pram_matrix_is_the_outcome_marginal_within_each_event_type():
    """pi[t, o] is the share of outcome o among events of type t; a type without events has a zero row."""
    pram = pram_matrix(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 2]), ["a", "b", "c"], ["x", "y", "z"], 0.8)
    np.testing.assert_allclose(pram.matrix, [[2 / 3, 1 / 3, 0], [0, 0, 1], [0, 0, 0]])
    assert pram.p == 0.8 and pram.type_names == ("a", "b", "c") and pram.outcome_names == ("x", "y", "z")


def test_published_pi_lists_only_outcomes_that_occur():
    """PramMatrix.pi / as_dict publish the non-zero marginals; pi_of is 0 for unseen names."""
    pram = pram_matrix(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 2]), ["a", "b", "c"], ["x", "y", "z"], 0.8)
    assert pram.as_dict() == {"p": 0.8, "pi": {"a": {"x": pytest.approx(2 / 3), "y": pytest.approx(1 / 3)},
                                                 "b": {"z": 1.0}}}
    assert len(pram.pi) == 3
    assert pram.pi_of("b", "z") == 1.0
    assert pram.pi_of("a", "z") == 0.0 and pram.pi_of("nope", "x") == 0.0 and pram.pi_of("a", "nope") == 0.0


@pytest.mark.parametrize("p", [0.5, 0.8, 0.95])
def test_pram_keeps_the_true_outcome_with_probability_p(p):
    """P(released == true) = p + (1 - p) * pi[type, true]: kept with probability p, else a marginal draw."""
    types, outcomes = make_events()
    pram, out = released(types, outcomes, p, np.random.default_rng(1))
    q = p + (1 - p) * pram.matrix[types, outcomes]  # per-event chance of agreeing with the truth
    se = np.sqrt((q * (1 - q)).sum()) / len(q)
    assert abs((out == outcomes).mean() - q.mean()) < Z * se


def test_pram_with_p_one_changes_nothing_and_never_mutates_its_input():
    """p = 1 releases the true outcomes; the input array is never modified."""
    types, outcomes = make_events(10_000)
    before = outcomes.copy()
    _, out = released(types, outcomes, 1.0, np.random.default_rng(2))
    np.testing.assert_array_equal(out, outcomes)
    _, out = released(types, outcomes, 0.5, np.random.default_rng(2))
    np.testing.assert_array_equal(outcomes, before)
    assert (out != outcomes).any()


@pytest.mark.parametrize("p", [0.0, 0.6, 0.9])
def test_pram_is_invariant_the_released_marginal_per_type_is_pi(p):
    """Invariant PRAM: per event type, the released outcome shares equal pi within sampling error."""
    types, outcomes = make_events()
    pram, out = released(types, outcomes, p, np.random.default_rng(3))
    for t in range(len(TYPES)):
        sel = types == t
        observed = np.bincount(out[sel], minlength=len(OUTCOMES)) / sel.sum()
        pi = pram.matrix[t]
        se = np.sqrt(pi * (1 - pi) / sel.sum())  # an upper bound of the true standard error
        assert (np.abs(observed - pi) <= Z * se + 1e-12).all(), (TYPES[t], observed, pi)


def test_unbiasing_recovers_a_subgroup_rate():
    """true ~ (observed - (1 - p) * pi) / p recovers a subgroup's true rate from its released rate."""
    types, outcomes = make_events(seed=4)
    p = 0.7
    pram, out = released(types, outcomes, p, np.random.default_rng(5))
    # a subgroup whose true outcome mix differs from its type's marginal: half the "none" and all the
    # "mid" charges; the type's pi is what an analyst sees published
    t, o = TYPES.index("charge"), OUTCOMES.index("mid")
    rng = np.random.default_rng(6)
    group = (types == t) & ((outcomes == o) | ((outcomes == 0) & (rng.random(len(types)) < 0.5)))
    for code in range(len(OUTCOMES)):
        true_rate = (outcomes[group] == code).mean()
        observed = (out[group] == code).mean()
        estimate = (observed - (1 - p) * pram.matrix[t, code]) / p
        se = np.sqrt(0.25 / group.sum()) / p
        assert abs(estimate - true_rate) < Z * se, (OUTCOMES[code], estimate, true_rate)
    # without unbiasing the released rate is clearly off (the test would not notice a no-op otherwise)
    assert abs((out[group] == o).mean() - (outcomes[group] == o).mean()) > 0.1


@settings(max_examples=60, deadline=None)
@given(codes=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=300),
       p=st.sampled_from([0.0, 0.3, 0.9]), seed=st.integers(0, 2**32 - 1))
def test_pram_draws_only_outcomes_seen_for_the_event_type(codes, p, seed):
    """An outcome never seen for an event type is never released for that type (pi is per type)."""
    types, outcomes = np.array(codes, dtype=np.int64).T
    pram = pram_matrix(types, outcomes, [f"t{i}" for i in range(4)], [f"o{i}" for i in range(6)], p)
    out = apply_pram(types, outcomes, pram, np.random.default_rng(seed))
    assert len(out) == len(outcomes)
    for t in np.unique(types):
        assert set(out[types == t]) <= set(outcomes[types == t])
    assert (pram.matrix[types, out] > 0).all()


def test_pram_draws_are_reproducible_per_key_and_purpose():
    """Same key + same purpose: identical draws; another key, release or purpose: different draws."""
    types, outcomes = make_events(5_000)
    pram = pram_matrix(types, outcomes, TYPES, OUTCOMES, 0.5)

    def draw(key: ReleaseKey, *purpose: str) -> np.ndarray:
        return apply_pram(types, outcomes, pram, key.rng(*purpose))

    reference = draw(KEY, SALT, "pram")
    np.testing.assert_array_equal(draw(ReleaseKey("noise-test-release-key-0001"), SALT, "pram"), reference)
    # independent draws agree on all 5,000 events with probability far below 1e-100
    assert (draw(ReleaseKey("noise-test-release-key-0002"), SALT, "pram") != reference).any()
    assert (draw(KEY, "2024-04", "pram") != reference).any()
    assert (draw(KEY, SALT, "pram-sensitive", "race") != reference).any()


# ------------------------------------------------------------------------------------------------
# Dates
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("precision", "start", "label"), [
    ("day", "2024-03-05", "2024-03-05"),
    ("week", "2024-03-04", "2024-W10"),
    ("month", "2024-03-01", "2024-03"),
    ("quarter", "2024-01-01", "2024-Q1"),
    ("year", "2024-01-01", "2024"),
])
def test_period_start_and_label_of_a_known_date(precision, start, label):
    """2024-03-05 (a Tuesday) at each precision: its period's first day and the documented label."""
    d = np.array(["2024-03-05"], dtype="datetime64[D]")
    s = period_start(d, precision)
    assert s.dtype == np.dtype("datetime64[D]") and s[0] == np.datetime64(start)
    assert period_label(s, precision).tolist() == [label]


def test_week_label_uses_the_iso_year():
    """A Monday in late December that starts ISO week 1 is labelled with the next year."""
    s = period_start(np.array(["2025-01-01"], dtype="datetime64[D]"), "week")
    assert s[0] == np.datetime64("2024-12-30")
    assert period_label(s, "week").tolist() == ["2025-W01"]


@pytest.mark.parametrize("precision", DATE_PRECISIONS)
def test_missing_dates_stay_missing(precision):
    """NaT has no period: it stays NaT and gets no label."""
    d = np.array(["2024-03-05", "NaT"], dtype="datetime64[D]")
    s = period_start(d, precision)
    assert not np.isnat(s[0]) and np.isnat(s[1])
    assert period_label(s, precision)[1] is None


def test_unknown_precision_is_rejected():
    """Only the policy's precisions are accepted."""
    with pytest.raises(ValueError, match="unknown date precision"):
        period_start(np.array(["2024-03-05"], dtype="datetime64[D]"), "fortnight")


FIRST_DAY = {  # is a date the first day of its period (checked with pandas), and the longest period in days
    "day": (lambda i: np.ones(len(i), bool), 1),
    "week": (lambda i: i.day_of_week == 0, 7),  # ISO weeks start on Monday
    "month": (lambda i: i.day == 1, 31),
    "quarter": (lambda i: (i.day == 1) & (i.month % 3 == 1), 92),
    "year": (lambda i: i.day_of_year == 1, 366),
}


@settings(max_examples=50, deadline=None)
@given(days=st.lists(st.integers(-25_567, 47_481), min_size=1, max_size=200),  # 1900-01-01 .. 2099-12-31
       precision=st.sampled_from(DATE_PRECISIONS))
def test_period_start_is_the_first_day_of_the_period(days, precision):
    """start <= date, start is a period's first day, the day before start is in an earlier period,
    and the date is less than one period after start (also before 1970)."""
    d = np.array(days, dtype=np.int64).astype("datetime64[D]")
    s = period_start(d, precision)
    is_first, longest = FIRST_DAY[precision]
    assert (s <= d).all() and ((d - s).astype(np.int64) < longest).all()
    assert np.asarray(is_first(pd.DatetimeIndex(s.astype("datetime64[s]")))).all()
    np.testing.assert_array_equal(period_start(s, precision), s)
    assert (period_start(s - np.timedelta64(1, "D"), precision) < s).all()


def test_shift_moves_all_events_of_a_persona_by_one_bounded_offset():
    """One offset per persona in [-max_days, max_days]: gaps and the order of a persona's events are kept."""
    rng = np.random.default_rng(7)
    persona = rng.integers(0, 500, 20_000)
    dates = np.datetime64("2020-01-01") + rng.integers(0, 1000, len(persona)).astype("timedelta64[D]")
    shifted = shift_dates(dates, persona, 10, KEY.rng(SALT, "date-shift"))
    offset = (shifted - dates).astype(np.int64)
    assert offset.min() >= -10 and offset.max() <= 10
    per_persona = np.full(500, 99)
    per_persona[persona] = offset
    np.testing.assert_array_equal(offset, per_persona[persona])  # one offset per persona
    assert len(np.unique(offset)) == 21  # 500 personas use every offset in [-10, 10]
    order = np.lexsort((dates, persona))
    assert (np.diff(shifted[order])[np.diff(persona[order]) == 0] >= np.timedelta64(0, "D")).all()


def test_shift_keeps_durations_and_missing_dates_with_the_same_keyed_stream():
    """Start and end dates shifted with the same keyed stream keep each event's duration; NaT stays NaT."""
    persona = np.array([0, 0, 1, 2, 2])
    start = np.array(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"], dtype="datetime64[D]")
    end = np.array(["2024-01-05", "NaT", "2024-03-31", "2024-04-01", "2024-06-01"], dtype="datetime64[D]")
    s = shift_dates(start, persona, 30, KEY.rng(SALT, "date-shift"))
    e = shift_dates(end, persona, 30, KEY.rng(SALT, "date-shift"))
    ok = ~np.isnat(end)
    np.testing.assert_array_equal((e - s)[ok], (end - start)[ok])
    assert np.isnat(e[1])


def test_no_shift_when_max_days_is_zero():
    """max_days = 0 leaves the dates untouched."""
    dates = np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[D]")
    np.testing.assert_array_equal(shift_dates(dates, np.array([0, 1]), 0, np.random.default_rng(0)), dates)


# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------


def test_values_are_rounded_to_the_step():
    """Without top-coding, values are rounded to the nearest multiple of the rounding step; NaN stays NaN."""
    v = np.array([12.0, 17.0, 104.9, np.nan, -3.0, 0.4])
    out = coarsen_values(v, np.zeros(len(v), dtype=np.int64), 10.0, 1.0)
    np.testing.assert_array_equal(out, [10.0, 20.0, 100.0, np.nan, -0.0, 0.0])
    np.testing.assert_array_equal(coarsen_values(v, np.zeros(len(v)), 0.0, 1.0), v)  # step 0: no rounding
    assert not np.shares_memory(out, v)


def test_values_are_top_coded_per_event_type():
    """Each event type is capped at its own quantile (NaN ignored); values below the cap are kept."""
    a = np.arange(1.0, 101.0)  # type 0: 1..100
    b = np.arange(1001.0, 1101.0)  # type 1: 1001..1100
    v = np.concatenate([a, b, [np.nan]])
    types = np.array([0] * 100 + [1] * 100 + [0])
    out = coarsen_values(v, types, 0.0, 0.9)
    cap_a, cap_b = np.quantile(a, 0.9), np.quantile(b, 0.9)
    np.testing.assert_allclose(out[:100], np.minimum(a, cap_a))
    np.testing.assert_allclose(out[100:200], np.minimum(b, cap_b))
    assert np.isnan(out[200])
    assert out[:100].max() == cap_a < 100 and out[100:200].max() == cap_b < 1100


def test_empty_and_all_missing_values_pass_through():
    """Nothing to round or top-code: an empty or all-NaN array comes back as is."""
    assert len(coarsen_values(np.array([]), np.array([]), 10.0, 0.9)) == 0
    assert np.isnan(coarsen_values(np.array([np.nan, np.nan]), np.array(["a", "b"]), 10.0, 0.9)).all()


def test_noise_codes_are_the_noise_stages_draws_without_its_tables():
    """The attack evaluation's release uses ``noise_codes``: the very draws of ``noise_stage`` (dates, PRAM
    outcomes with dependent columns, sensitive values), so it evaluates what the released pass would be."""
    from personatwin.core.domains import get_domain
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.protect.prepared import PassContext, prepare
    from personatwin.protect.stages import merge_stage, noise_codes, noise_stage
    from personatwin.validate.validation import validate

    domain = get_domain("criminal_justice").with_overrides(sensitive=("prior_offenses",))
    data = synth.generate("criminal_justice", 3_000, seed=4, sensitive_counts={"prior_offenses": 0.4})
    checked = validate(data.people, data.events, domain)
    ctx = PassContext(prepare(checked.people, checked.events, domain), policy_for_level("high"),
                      ReleaseKey("noise-codes-key-0123456789abcdef"), "2024-01")
    merged = merge_stage(ctx)
    full, codes = noise_stage(ctx, merged), noise_codes(ctx, merged)
    assert np.array_equal(codes.ev_persona, full.ev_persona) and np.array_equal(codes.starts, full.starts)
    assert np.array_equal(codes.outcomes, full.outcomes)
    assert len(codes.sensitive_codes) == len(full.sensitive_codes) == 1
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(codes.sensitive_codes,
                                                                             full.sensitive_codes))


def test_grouped_keyed_order_is_the_keyed_order_of_the_composite_key():
    """The release row order sorted in two levels (persona rank, then the rest of the block) is the one keyed
    order of the composite key: same draw from the key's generator, same positions, ties included."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from personatwin.protect.row_order import keyed_order_grouped

    def keyed_order(block, rng):  # the one-level definition: one unique key per row
        n = len(block)
        return np.argsort(block * n + rng.permutation(n))

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, 300), st.integers(1, 20), st.integers(1, 50), st.integers(0, 2**32 - 1))
    def check(n, n_major, m, seed):
        gen = np.random.default_rng(seed)
        major, minor = gen.integers(0, n_major, n), gen.integers(0, m, n)
        want = keyed_order(major * m + minor, np.random.default_rng(seed + 1))
        got = keyed_order_grouped(major, n_major, minor, np.random.default_rng(seed + 1))
        assert np.array_equal(got, want)

    check()
