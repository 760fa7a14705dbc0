"""The sampled attack engine (issue 14): exact nearest rows and match counts against brute force, Anonymeter's
formulas, keyed stratified targets, bounded work, the unchanged gate, and agreement with stock Anonymeter's
full run (its 95% intervals) on 30,000 generated people for three keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.core.errors import AttackRefusedError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.measure import anonymeter_eval as ae
from personatwin.measure import attack_sample as sa
from personatwin.protect.prepared import PassContext
from personatwin.release.release import make_release_from_prepared
from tests.helpers import needs_anonymeter
from tests.personatwin.measure.test_anonymeter import prepared_data

KEY = ReleaseKey("attack-sample-test-key-0123456789abcdef")


@pytest.fixture(scope="module")
def small():
    return prepared_data(3000, seed=5)


def gower(q_cat, q_num, c_cat, c_num):
    """Anonymeter's distance, brute force: categorical mismatch 1, numeric |a-b|, both missing +1, one missing NaN."""
    both = np.isnan(q_num)[:, None, :] & np.isnan(c_num)[None, :, :]
    diff = np.abs(q_num[:, None, :] - c_num[None, :, :])
    num = np.where(both, 1.0, diff).sum(axis=2)  # NaN where exactly one is missing
    return num + (q_cat[:, None, :] != c_cat[None, :, :]).sum(axis=2)


def test_nearest_rows_are_the_exact_nearest_rows():
    rng = np.random.default_rng(3)
    for C, D in ((3, 4), (0, 5), (2, 0)):
        c_cat, q_cat = rng.integers(0, 3, (800, C)), rng.integers(0, 4, (300, C))
        c_num, q_num = np.round(rng.random((800, D)), 2), np.round(rng.random((300, D)), 1)
        if D:
            c_num[rng.random(800) < 0.1, 0] = np.nan
            q_num[rng.random(300) < 0.1, 0] = np.nan
        index = sa.block_index(c_cat.astype(np.int32), c_num, rng.random(800))
        nn, work = sa.nearest_rows(index, q_cat.astype(np.int32), q_num)
        d = gower(q_cat, q_num, c_cat, c_num)
        best = np.nanmin(np.where(np.isnan(d), np.inf, d), axis=1)
        assert np.allclose(d[np.arange(300), nn], best), (C, D)  # the distance of the row found is the minimum
        assert work < 300 * 800  # never a full scan


def test_counts_of_query_matches_equal_brute_force():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 6, (2000, 4)).astype(np.int32)
    codes[rng.random(2000) < 0.05, 1] = 6  # missing (code = number of values)
    n_values = np.full(4, 6)
    n_values[1] = 6
    index = sa.code_index(codes, n_values)
    col = np.sort(np.argsort(rng.random((500, 4)), axis=1)[:, :3], axis=1).astype(np.int32)
    lo = rng.integers(0, 6, col.shape).astype(np.int32)
    hi = (lo + rng.integers(1, 3, col.shape)).astype(np.int32)
    neg = rng.random(col.shape) < 0.2
    col[::7, 2] = -1  # two-predicate queries
    q = sa.Queries(col, lo, hi, neg)
    brute = np.ones((500, 2000), dtype=bool)
    for k in range(3):
        c = codes[:, np.maximum(col[:, k], 0)].T
        inside = (lo[:, k, None] <= c) & (c < hi[:, k, None])
        hit = np.where(neg[:, k, None], (c < 6) & ~inside, inside)
        brute &= np.where(col[:, k, None] >= 0, hit, True)
    assert np.array_equal(sa.count_matches(index, q, 10_000), brute.sum(axis=1))
    assert np.array_equal(sa.count_matches(index, q, 2), np.minimum(brute.sum(axis=1), 2))
    qi, ri = sa.matching_pairs(codes, q, n_values)
    assert np.array_equal(np.bincount(qi, minlength=500), brute.sum(axis=1))


def test_anonymeters_formulas():
    # Wilson score and the residual risk (values from Anonymeter 1.x's stats.confidence on the same inputs)
    r = sa.success_rate(1000, 3, 0.95)
    z2 = 1.959963984540054**2
    assert r.value == pytest.approx((3 + z2 / 2) / (1000 + z2))
    row = sa.result_row("x", "y", 1000, 100, 10, 50, 1000, 0.95)
    a, c = row["attack_rate"]["value"], row["control_rate"]["value"]
    assert row["risk"] == pytest.approx((a - c) / (1 - c))
    assert row["ci_low"] < row["risk"] < row["ci_high"]
    assert sa.targets_for(0.01, 0.95, 10**6) == 9604 and sa.targets_for(0.01, 0.95, 5000) == 5000
    # the size correction's fit recovers a model it was given
    sizes = np.repeat(np.linspace(1000, 5000, 10), 5)
    w, norm = 2e-4, 3000.0
    model = lambda x: norm * sa._model(np.asarray(x, dtype=float), w)  # noqa: E731
    w_fit, norm_fit = sa.fit_correction(sizes, model(sizes))
    assert norm_fit * sa._model(np.array([25_000.0]), w_fit)[0] == pytest.approx(model([25_000])[0], rel=1e-3)


def test_stratified_sample_is_keyed_and_proportional():
    strata = np.repeat(np.arange(4), [5000, 3000, 1500, 500])
    a = sa.stratified_sample(strata, 1000, KEY.rng("s", "t"))
    assert len(a) == len(np.unique(a)) == 1000
    assert np.array_equal(a, sa.stratified_sample(strata, 1000, KEY.rng("s", "t")))
    assert not np.array_equal(a, sa.stratified_sample(strata, 1000, KEY.rng("s", "u")))
    assert np.array_equal(np.bincount(strata[a]), [500, 300, 150, 50])  # every stratum its share
    assert np.array_equal(sa.stratified_sample(strata, 20_000, KEY.rng("s", "t")), np.arange(10_000))


def test_sampled_evaluation_is_deterministic_for_a_key_and_salt(small):
    policy = policy_for_level("high")
    first, second = (ae.evaluate_prepared(PassContext(small, policy, KEY, "again")) for _ in range(2))
    pd.testing.assert_frame_equal(first.table(), second.table())
    assert first.engine == "sampled" and first.versions["engine"] == "sampled" and first.work == second.work
    other = ae.evaluate_prepared(PassContext(small, policy, ReleaseKey("other-key-0123456789abcdef0123"), "again"))
    assert not first.table()[["n_success", "n_control"]].equals(other.table()[["n_success", "n_control"]])
    assert {r.attack for r in first.results} == set(ae.ATTACKS)
    assert first.inference.variant == ae.POOLED


def test_cost_is_bounded_by_the_samples_not_the_partition():
    """Targets and singling-out queries are set by the options, whatever the size; the nearest-row search never
    scans the release per target (counts recorded by the evaluation, no wall time)."""
    opts = ae.AnonymeterOptions(half_width=0.05, max_attempts=20_000)  # 385 targets per side
    works = {}
    for n in (4000, 16_000):
        ev = ae.evaluate_prepared(PassContext(prepared_data(n, seed=7), policy_for_level("high"), KEY, "cost"), opts)
        works[n] = ev.work
        assert ev.work["targets_members"] == opts.n_targets() == 385
        assert ev.work["targets_held_out"] == 385
        targets = ev.work["targets_members"] + ev.work["targets_held_out"]
        # share of a full scan (every release row for every target, linkability and inference)
        ev.work["scanned"] = ev.work["distances"] / (2 * targets * ev.work["release_rows"])
        # singling out: the attempts allowed, then each query counted on members and baseline
        assert ev.work["so_query_counts"] <= opts.max_attempts + 3 * 2 * max(opts.n_targets(), opts.n_attacks) + 10_000
    assert works[4000]["targets_members"] == works[16_000]["targets_members"]
    # the search never scans the release per target, and scans a smaller share of a larger one
    assert works[16_000]["scanned"] < works[4000]["scanned"] < 0.5
    assert works[16_000]["release_rows"] > 3 * works[4000]["release_rows"]


def test_unsafe_release_is_refused_by_the_sampled_engine():
    data = prepared_data(5000, seed=2)
    unsafe = policy_for_level("high", k=2, pram_p=1.0, date_precision="day", location_level=0,
                              qi_levels={"age": 0}, target_risk=1.0, l_diversity=1) \
        .with_changes(max_single_out_rate=None, max_t_closeness=None)
    ev = ae.evaluate_prepared(PassContext(data, unsafe, KEY, "unsafe"))
    assert ev.engine == "sampled"
    worst = max(ev.results, key=lambda r: r.risk)
    assert worst.risk > 0.15 and worst.ci_low > 0.05
    assert ev.failures()
    with pytest.raises(ae.AttackRiskError, match="refuses the release"):
        ae.check(ev)
    with pytest.raises(AttackRefusedError) as info:
        make_release_from_prepared(PassContext(data, unsafe, KEY, "unsafe"), anonymeter=True,
                                   anonymeter_escalations=0, max_iterations=1)
    assert info.value.evaluation.failures()


def test_options_validate_the_engine():
    with pytest.raises(ValueError, match="engine"):
        ae.AnonymeterOptions(engine="fast")
    assert ae.AnonymeterOptions().engine == "sampled" and ae.AnonymeterOptions().n_targets() == 9604


@needs_anonymeter
@pytest.mark.slow
@pytest.mark.parametrize("key", ["agreement-key-one-0123456789abcdef", "agreement-key-two-0123456789abcdef",
                                 "agreement-key-three-0123456789abcdef"])
def test_sampled_risks_lie_inside_anonymeters_full_run_intervals(key):
    """On 30,000 generated people at HIGH, each headline risk of the sampled engine is inside stock Anonymeter's
    95% interval from attacking every member (same split, evaluation release and tables)."""
    data = prepared_data(30_000, seed=1)
    ctx = PassContext(data, policy_for_level("high"), ReleaseKey(key), "agree")
    sampled = ae.evaluate_prepared(ctx, ae.AnonymeterOptions(engine="sampled"))
    stock = ae.evaluate_prepared(ctx, ae.AnonymeterOptions(engine="anonymeter"))
    assert stock.engine == "anonymeter" and sampled.engine == "sampled"
    for attack in ae.ATTACKS:
        s, a = sampled.headline(attack), stock.headline(attack)
        print(f"{attack:13s} sampled {s.risk:.4f} [{s.ci_low:.4f}, {s.ci_high:.4f}]  "
              f"anonymeter {a.risk:.4f} [{a.ci_low:.4f}, {a.ci_high:.4f}]")
        assert a.ci_low - 1e-9 <= s.risk <= a.ci_high + 1e-9, attack
    # the gate's decisions agree, except where the deciding figure of either engine sits on the limit (a headline
    # risk, or a secret's lower bound, within half a point of it: both engines then measure the same risk, one
    # just above and one just below; seen with key three: hearing 0.0681 [0.0471] vs 0.0683 [0.0500], limit 0.05)
    limit = stock.max_risk

    def on_the_limit(ev) -> bool:
        heads = [ae.headline_row([r for r in ev.results if r.attack == attack]) for attack in ae.ATTACKS]
        return any(abs((r.risk if any(r is h for h in heads) else r.ci_low) - limit) < 0.005 for r in ev.results)

    if not (on_the_limit(sampled) or on_the_limit(stock)):
        assert sampled.passed == stock.passed
