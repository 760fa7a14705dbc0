"""The statistics of declared analyses against independent computations.

Mantel-Haenszel odds ratios and their Robins-Breslow-Greenland intervals against R's ``mantelhaen.test``
(the values statsmodels' own tests quote), a single table against scipy's sample odds ratio, the Katz rate
ratio against statsmodels' documented example; PRAM's variance and the intervals against Monte-Carlo
simulations of the PRAM draw (statsmodels is not installed here, so nothing is compared with it live).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats.contingency import odds_ratio

from personatwin.measure.analyses import (
    AdjustedOddsRatio,
    Counts,
    Estimate,
    EventCounts,
    Randomization,
    RateDisparity,
    agreement,
    as_analyses,
    count_agreement,
    mantel_haenszel,
    parse_analysis,
    pram_variance,
    rate_difference,
    rate_ratio,
    unbiased_counts,
)


def counts_of(tables) -> Counts:
    """Counts from 2 x 2 tables [[a, b], [c, d]] (rows: compared group, reference; columns: adverse, other)."""
    t = np.asarray(tables, dtype=float)
    n = np.stack([t[:, 0, 0] + t[:, 0, 1], t[:, 1, 0] + t[:, 1, 1]])[:, :, None]
    adverse = np.stack([t[:, 0, 0], t[:, 1, 0]])[:, :, None]
    return Counts(n, adverse)


# R 4.x: mantelhaen.test(array(..., dim = c(2, 2, K)))$estimate and $conf.int (RBG variance), as quoted in
# statsmodels/stats/tests/test_contingency_tables.py (TestStratified1-3); R fills the array by column, a transpose
# of these tables, which leaves every odds ratio unchanged.
R_MANTELHAEN = [
    ([[[0, 0], [6, 5]], [[3, 0], [3, 6]], [[6, 2], [0, 4]], [[5, 6], [1, 0]], [[2, 5], [0, 0]]],
     (7.0, 1.026713, 47.725133)),
    ([[[20, 14], [10, 24]], [[15, 12], [3, 15]], [[3, 2], [3, 2]], [[12, 3], [7, 5]], [[1, 0], [3, 2]]],
     (3.5912, 1.781135, 7.240633)),
    ([[[313, 512], [19, 89]], [[207, 353], [8, 17]], [[205, 120], [391, 202]], [[278, 139], [244, 131]],
      [[138, 53], [299, 94]], [[351, 22], [317, 24]]], (1.101879, 0.9402012, 1.2913602)),
]


@pytest.mark.parametrize("tables, expected", R_MANTELHAEN)
def test_mantel_haenszel_equals_r(tables, expected):
    e = mantel_haenszel(counts_of(tables))
    assert (e.value, e.ci_low, e.ci_high) == pytest.approx(expected, rel=1e-4)


def test_one_stratum_is_the_sample_odds_ratio_with_woolfs_interval():
    table = [[45, 55], [20, 80]]
    ref = odds_ratio(table, kind="sample")
    ci = ref.confidence_interval(0.95)
    e = mantel_haenszel(counts_of([table]))
    assert e.value == pytest.approx(ref.statistic)
    assert (e.ci_low, e.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-6)


def test_rate_ratio_and_difference_by_hand():
    rr = rate_ratio(counts_of([[[2, 2], [2, 2]]]))  # statsmodels Table2x2 docs: RR 1, 95% CI 0.2501-3.9984
    assert (rr.value, rr.ci_low, rr.ci_high) == pytest.approx((1.0, 0.25009765325990629, 3.9984381579173824))
    rd = rate_difference(counts_of([[[30, 70], [15, 85]]]))  # Wald: 0.15 +- 1.96 sqrt(.3*.7/100 + .15*.85/100)
    se = math.sqrt(0.3 * 0.7 / 100 + 0.15 * 0.85 / 100)
    assert (rd.value, rd.ci_low, rd.ci_high) == pytest.approx((0.15, 0.15 - 1.959964 * se, 0.15 + 1.959964 * se))
    assert rd.significant and not rate_difference(counts_of([[[20, 80], [18, 82]]])).significant


def test_pram_is_inverted_exactly_on_expected_counts():
    rng = np.random.default_rng(3)
    n = rng.integers(50, 500, size=(2, 4, 3)).astype(float)
    x = np.floor(n * rng.uniform(0.1, 0.6, size=n.shape))
    p, pi = 0.8, np.array([0.2, 0.35, 0.5])
    expected_obs = p * x + (1 - p) * n * pi  # what PRAM gives on average
    assert unbiased_counts(Counts(n, expected_obs), Randomization(p, pi)) == pytest.approx(x)
    assert unbiased_counts(Counts(n, x)) == pytest.approx(x)  # nothing randomized: the counts themselves


# --- Monte Carlo: the PRAM draw, simulated on counts ------------------------------------------------

S, T = 6, 2


def population(rng, odds_ratio_true=1.8):
    """Two groups' events per stratum x type with a common odds ratio, and the other groups' events."""
    n = rng.integers(50, 400, size=(2, S, T)).astype(float)
    base = rng.uniform(0.15, 0.5, size=(S, T))
    odds = odds_ratio_true * base / (1 - base)
    x = np.stack([rng.binomial(n[0].astype(int), odds / (1 + odds)), rng.binomial(n[1].astype(int), base)])
    n_rest = rng.integers(500, 2000, size=T).astype(float)
    return n, x.astype(float), n_rest, rng.binomial(n_rest.astype(int), 0.3).astype(float)


def randomize(rng, n, x, n_rest, x_rest, p):
    """Invariant PRAM on each event (keep with p, else draw from the type's marginal), as released counts;
    pi is the release's own share, as published."""
    N, X = n.sum(axis=(0, 1)) + n_rest, x.sum(axis=(0, 1)) + x_rest
    q1, q0 = p + (1 - p) * X / N, (1 - p) * X / N
    obs = rng.binomial(x.astype(int), q1) + rng.binomial((n - x).astype(int), q0)
    obs_rest = rng.binomial(x_rest.astype(int), q1) + rng.binomial((n_rest - x_rest).astype(int), q0)
    type_adverse = (obs.sum(axis=(0, 1)) + obs_rest).astype(float)
    return Counts(n, obs.astype(float), N, type_adverse), Randomization(p, type_adverse / N)


@pytest.mark.parametrize("estimator", [mantel_haenszel, rate_difference, rate_ratio])
def test_pram_variance_matches_the_spread_of_released_estimates(estimator):
    """Given the data, the released estimates spread by PRAM alone as predicted (within 8%), and the released
    interval covers the original estimate at least 95% of the time (it adds sampling variance too)."""
    rng = np.random.default_rng(11)
    n, x, n_rest, x_rest = population(rng)
    original = estimator(Counts(n, x))
    effects, covered = [], 0
    for _ in range(2000):
        c, noise = randomize(rng, n, x, n_rest, x_rest, 0.75)
        e = estimator(c, noise)
        effects.append(e.effect)
        covered += e.covers(original.value)
    spread = float(np.std(effects))
    predicted = _predicted_pram_sd(estimator, n, x, n_rest, x_rest, 0.75)
    assert spread == pytest.approx(predicted, rel=0.08)
    assert abs(float(np.mean(effects)) - original.effect) < 0.15 * spread + 1e-9  # unbiased up to noise
    assert covered / 2000 >= 0.95


def _predicted_pram_sd(estimator, n, x, n_rest, x_rest, p) -> float:
    """PRAM's standard deviation as ``pram_variance`` predicts it at the expected released counts."""
    N, X = n.sum(axis=(0, 1)) + n_rest, x.sum(axis=(0, 1)) + x_rest
    pi = X / N
    expected = Counts(n, p * x + (1 - p) * n * pi, N, p * X + (1 - p) * N * pi)
    noise = Randomization(p, pi)
    eps = 1e-4  # the estimator's gradient by finite differences (independent of the analytic one)
    grad = np.zeros(n.shape)
    base = estimator(Counts(n, x)).effect
    for idx in np.ndindex(n.shape):
        bumped = x.copy()
        bumped[idx] += eps
        grad[idx] = (estimator(Counts(n, bumped)).effect - base) / eps
    return math.sqrt(pram_variance(expected, noise, grad))


def test_released_interval_covers_the_true_odds_ratio_95_percent_of_the_time():
    """Sampling and PRAM together: the released interval covers the population odds ratio about 95% of the time;
    an interval that ignored PRAM's variance would not."""
    rng = np.random.default_rng(5)
    covered = naive = 0
    reps = 1500
    for _ in range(reps):
        n, x, n_rest, x_rest = population(rng)
        c, noise = randomize(rng, n, x, n_rest, x_rest, 0.75)
        e = mantel_haenszel(c, noise)
        covered += e.covers(1.8)
        sampling_only = math.sqrt(e.se ** 2 - pram_variance(c, noise, _mh_grad(c, noise)))
        naive += Estimate.normal(e.effect, sampling_only, ratio=True).covers(1.8)
    assert 0.93 <= covered / reps <= 0.97
    assert naive / reps < 0.9


def _mh_grad(c: Counts, noise: Randomization) -> np.ndarray:
    x = unbiased_counts(c, noise)
    a, cc = x[0], x[1]
    b, d = c.n[0] - a, c.n[1] - cc
    N = c.n[0] + c.n[1]
    R, Sm = (a * d / N).sum(), (b * cc / N).sum()
    return np.stack([(d / R + cc / Sm) / N, -(a / R + b / Sm) / N])


# --- agreement and declared forms -------------------------------------------------------------------

def test_agreement_needs_same_significance_sign_and_coverage():
    orig = Estimate.normal(math.log(1.8), 0.03, ratio=True)
    assert agreement(orig, Estimate.normal(math.log(1.85), 0.04, ratio=True)).holds
    weak = agreement(orig, Estimate.normal(math.log(1.05), 0.04, ratio=True))
    assert not weak.holds and not weak.covers_original
    noisy = agreement(orig, Estimate.normal(math.log(1.6), 0.4, ratio=True))  # covers, but not significant
    assert noisy.covers_original and not noisy.same_significance and not noisy.holds
    flipped = agreement(Estimate.normal(0.05, 0.01), Estimate.normal(-0.05, 0.01))
    assert not flipped.same_sign and not flipped.holds
    null = agreement(Estimate.normal(0.004, 0.01), Estimate.normal(-0.003, 0.012))  # no effect either way: holds
    assert null.holds and not null.same_sign
    assert agreement(orig, Estimate.normal(math.log(1.8 ** 0.5), 0.03, ratio=True)).preservation == pytest.approx(0.5)
    assert not agreement(orig, Estimate.normal(math.nan, math.nan, ratio=True)).holds


def test_count_agreement():
    a = np.array([[10, 20], [30, 40]])
    assert count_agreement(a, a) == (True, True, 0.0)
    exact, within, share = count_agreement(a, a - np.array([[0, 0], [0, 1]]))
    assert not exact and within and share == pytest.approx(0.01)
    assert not count_agreement(a, a // 2)[1]


@pytest.mark.parametrize("spec", [
    "odds_ratio detained by race: Black vs White in hearing",
    "disparity convicted by sex: M vs F",
    "rate_ratio booked+detained by race: Native American vs White in arrest, hearing",
    "odds_ratio detained by race: Black vs White adjusted for age",
    "event_counts by race: Black, White in hearing",
    "disparity by sex",
])
def test_string_forms_read_back_their_label(spec):
    a = parse_analysis(spec)
    assert parse_analysis(a.label) == a and a.label == spec


def test_dict_and_dataclass_forms():
    a = parse_analysis({"kind": "odds_ratio", "attribute": "race", "groups": ["Black", "White"],
                        "outcome": "detained", "event_type": "hearing"})
    assert a == AdjustedOddsRatio("race", ("Black", "White"), ("detained",), ("hearing",))
    assert parse_analysis({"kind": "rate_ratio", "attribute": "sex", "groups": "M vs F"}) == \
        RateDisparity("sex", ("M", "F"), measure="ratio")
    assert as_analyses(EventCounts("race")) == (EventCounts("race"),) and as_analyses(None) == ()
    for bad in ({"attribute": "race", "kind": "regression"}, {"kind": "disparity"}, "odds ratio of everything",
                {"attribute": "race", "groups": ["Black"]}, {"attribute": "race", "color": "red"},
                {"attribute": "race", "adjust_for": ["age"]}):
        with pytest.raises(ValueError):
            parse_analysis(bad)
