"""Diversity repair by member swaps (personatwin.protect.diversity): distinct l, t-closeness, entropy l and
recursive c per attribute."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy
from personatwin.ingest.synth import generate
from personatwin.protect import diversity
from personatwin.protect.merge import group_people
from personatwin.protect.personas import start_levels
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import sensitive_observations
from personatwin.release.auto_adjust import auto_adjust
from personatwin.release.one_pass import protect
from personatwin.validate.validation import validate


def _distinct(persona: np.ndarray, obs: diversity.Observed) -> np.ndarray:
    counts = diversity.persona_value_counts(persona, int(persona.max()) + 1, obs)
    return (counts > 0).sum(axis=1)


def test_swap_makes_a_one_value_persona_diverse_and_keeps_sizes():
    # persona 0: three people, one event between them (value 0); persona 1: three people with values 0, 1, 1.
    persona = np.array([0, 0, 0, 1, 1, 1])
    stratum = np.zeros(6, dtype=np.int64)
    X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    obs = diversity.Observed(owner=np.array([0, 3, 4, 5]), value=np.array([0, 0, 1, 1]), n_values=2)
    assert diversity.failing_personas([diversity.persona_value_counts(persona, 2, obs)], 2).tolist() == [0]

    out = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2)

    assert (out.failing_before, out.repaired, out.skipped) == (1, 1, False)
    assert np.bincount(out.persona_index).tolist() == [3, 3]
    assert _distinct(out.persona_index, obs).tolist() == [2, 2]
    # the cheapest valid swap: a person without events from persona 0 for a value-1 holder of persona 1
    moved_in = set(np.flatnonzero(out.persona_index == 0)) - {0, 1, 2}
    assert moved_in <= {4, 5} and len(moved_in) == 1


def test_personas_never_swap_across_strata():
    persona = np.array([0, 0, 0, 1, 1, 1])
    stratum = np.array([0, 0, 0, 1, 1, 1])
    X = np.zeros((6, 1))
    obs = diversity.Observed(owner=np.array([0, 3, 4]), value=np.array([0, 0, 1]), n_values=2)
    out = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2)
    assert out.repaired == 0 and out.persona_index.tolist() == persona.tolist()


def test_no_swap_that_breaks_the_partner():
    # persona 1 holds exactly two values, one person each: any swap that fixes persona 0 breaks it.
    persona = np.array([0, 0, 1, 1])
    obs = diversity.Observed(owner=np.array([0, 2, 3]), value=np.array([0, 0, 1]), n_values=2)
    out = diversity.repair_l_diversity(persona, np.zeros(4, dtype=np.int64), np.zeros((4, 1)), [obs], l=2)
    assert out.failing_before == 1 and out.repaired == 0
    assert out.persona_index.tolist() == persona.tolist()


def test_recut_when_no_single_swap_works():
    # P: four people, two holding value 0. Q: three people holding 0, 1 and nothing. Any swap that
    # brings the 1 into P leaves Q with a single value; cutting P u Q into {the four value holders}
    # and {the three without values} makes both pass, sizes within k..2k-1 for k = 3.
    persona = np.array([0, 0, 0, 0, 1, 1, 1])
    obs = diversity.Observed(owner=np.array([0, 1, 4, 5]), value=np.array([0, 0, 0, 1]), n_values=2)
    X = np.array([[0.0], [0.1], [0.2], [0.3], [1.0], [1.1], [1.2]])
    stratum = np.zeros(7, dtype=np.int64)
    swap_only = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2)
    assert swap_only.repaired == 0

    out = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2, k=3)

    assert out.repaired == 1
    assert sorted(np.bincount(out.persona_index).tolist()) == [3, 4]
    d = _distinct(out.persona_index, obs)
    assert ((d == 0) | (d >= 2)).all()
    assert sorted(np.flatnonzero(out.persona_index == out.persona_index[0])) == [0, 1, 4, 5]


def test_a_persona_alone_in_its_stratum_looks_in_its_wider_group():
    persona = np.array([0, 0, 0, 1, 1, 1])
    stratum = np.array([0, 0, 0, 1, 1, 1])  # e.g. different age bands
    wider = np.zeros(6, dtype=np.int64)  # same sex and race
    obs = diversity.Observed(owner=np.array([0, 3, 4]), value=np.array([0, 0, 1]), n_values=2)
    X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    assert diversity.repair_l_diversity(persona, stratum, X, [obs], l=2, k=3).repaired == 0
    out = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2, k=3, wider=wider)
    assert out.repaired == 1
    d = _distinct(out.persona_index, obs)
    assert ((d == 0) | (d >= 2)).all()


def test_too_many_failures_are_left_to_the_ladder():
    n = 3 * 1000
    persona = np.repeat(np.arange(1000), 3)
    obs = diversity.Observed(owner=np.arange(0, n, 3), value=np.zeros(1000, dtype=np.int64), n_values=2)
    out = diversity.repair_l_diversity(persona, np.zeros(n, dtype=np.int64), np.zeros((n, 1)), [obs], l=2)
    assert out.skipped and out.repaired == 0 and out.failing_before == 1000


def _sparse_prepared():
    """Generated data thinned to at most 2 events for 40% of people: many personas hold 1-2 events."""
    domain = get_domain("criminal_justice")
    data = generate("criminal_justice", 4000, seed=3)
    events = data.events.groupby("person_id").head(2)
    events = events[events["person_id"].isin(data.people["person_id"].sample(frac=0.4, random_state=1))]
    checked = validate(data.people, events, domain)
    return prepare(checked.people, checked.events, domain)


def test_protection_pass_repairs_failing_personas_and_keeps_k_to_2k_minus_1():
    prepared = _sparse_prepared()
    policy, key = PrivacyPolicy(k=5, l_diversity=2, target_risk=0.5), ReleaseKey("ab" * 32)
    raw = group_people(prepared.people, None, prepared.domain, policy.k, start_levels(prepared.domain, policy),
                       prepared.features)
    observed = sensitive_observations(prepared, policy)  # true outcomes per event type (issue 11)

    def failing(persona):
        counts = [diversity.persona_value_counts(persona, persona.max() + 1, o) for o in observed]
        return len(diversity.failing_personas(counts, 2, [o.min_count for o in observed]))

    passed = protect(PassContext(prepared, policy, key, "2024-01"), grouping=raw)
    before, after = failing(raw.persona_index), failing(passed.grouping.persona_index)
    assert before > 0 and after == 0
    sizes = np.bincount(passed.grouping.persona_index)
    assert sizes.min() >= 5 and sizes.max() <= 9
    # moves across strata keep the bias attributes (sex, race): no more personas mix them than before
    def mixed(persona, codes):
        return (np.bincount(persona * (codes.max() + 1) + codes) > 0).sum() - (persona.max() + 1)

    for a in prepared.domain.bias_attributes:
        codes = pd.factorize(prepared.people[a])[0]
        assert mixed(passed.grouping.persona_index, codes) <= mixed(raw.persona_index, codes)
    # every event is still released once, and the released l counts the repaired personas
    assert len(passed.events) == prepared.n_events
    again = protect(PassContext(prepared, policy, key, "2024-01"), grouping=raw)
    assert np.array_equal(again.grouping.persona_index, passed.grouping.persona_index)


@pytest.mark.parametrize("t_limit", [None, 0.3])
def test_swaps_judged_pair_by_pair_or_per_distinct_counts_agree(t_limit, monkeypatch):
    """Member pairs judged one by one (small personas) or once per distinct pair of count vectors (large ones)
    choose the same swaps: the repair's result does not depend on which way a grid was judged."""
    prepared = _sparse_prepared()
    policy = PrivacyPolicy(k=5, l_diversity=2, target_risk=0.5, max_t_closeness=t_limit)
    raw = group_people(prepared.people, None, prepared.domain, policy.k, start_levels(prepared.domain, policy),
                       prepared.features)
    observed = sensitive_observations(prepared, policy)
    results = []
    for direct in (0, 10**9):
        monkeypatch.setattr(diversity, "DIRECT_PAIRS", direct)
        results.append(diversity.repair_l_diversity(raw.persona_index, raw.stratum, prepared.features, observed,
                                                    policy.l_diversity, policy.k))
    assert results[0].repaired > 0
    assert np.array_equal(results[0].persona_index, results[1].persona_index)


def test_loop_ends_l_diverse():
    prepared = _sparse_prepared()
    chosen, history = auto_adjust(PassContext(prepared, PrivacyPolicy(k=5, l_diversity=2, target_risk=0.5),
                                              ReleaseKey("ab" * 32), "2024-01"))
    assert chosen.risk.l_diversity_distinct >= 2
    sizes = np.bincount(chosen.grouping.persona_index)
    assert sizes.min() >= chosen.policy.k and sizes.max() <= 2 * chosen.policy.k - 1
    assert len(history) == 1 and chosen.policy.k == 5  # repaired, not by raising k for everyone


# --- per-attribute limits and t-closeness repair (issue 13, items 1 and 2) ------------------------------

def _t_pandas(persona: np.ndarray, owner: np.ndarray, value: np.ndarray, n_values: int, ordered: bool,
              min_count: int = 1) -> pd.Series:
    """t per judged persona, in plain pandas: variational distance, or the ordered EMD (sum of |cumulative
    differences| / (m - 1)), of the persona's mix from the attribute's overall mix."""
    frame = pd.DataFrame({"persona": persona[owner], "value": value})
    counts = pd.crosstab(frame["persona"], frame["value"]).reindex(columns=range(n_values), fill_value=0)
    overall = frame["value"].value_counts(normalize=True).reindex(range(n_values), fill_value=0.0)
    counts = counts[counts.sum(axis=1) >= min_count]
    mix = counts.div(counts.sum(axis=1), axis=0)
    if ordered:
        return (mix - overall).cumsum(axis=1).iloc[:, :-1].abs().sum(axis=1) / (n_values - 1)
    return 0.5 * (mix - overall).abs().sum(axis=1)


def test_a_swap_brings_a_far_persona_within_its_t_limit():
    # values 0/1, overall 4 of 12 are 1 (g = 2/3, 1/3). Persona 0 holds four 1s of six (t = 1/3); persona 1 none
    # (t = 1/3). Limit 0.2: one swap of a 1-holder for a 0-holder leaves both at 3/6 and 1/6 -> t = 1/6.
    persona = np.repeat([0, 1], 6)
    value = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    obs = diversity.Observed(np.arange(12), value, 2, t_limit=0.2)
    X = np.arange(12, dtype=float)[:, None] / 12
    before = _t_pandas(persona, obs.owner, value, 2, False)
    assert (before > 0.2).all()

    out = diversity.repair_l_diversity(persona, np.zeros(12, dtype=np.int64), X, [obs], l=1)

    assert (out.failing_before, out.repaired) == (2, 1)
    after = _t_pandas(out.persona_index, obs.owner, value, 2, False)
    assert after.max() <= 0.2 and after.to_numpy() == pytest.approx([1 / 6, 1 / 6])
    assert np.bincount(out.persona_index).tolist() == [6, 6]
    figures = diversity.t_distance(diversity.persona_value_counts(out.persona_index, 2, obs), np.array([2, 1]) / 3,
                                   False)
    assert figures == pytest.approx(after.to_numpy())


def test_ordered_t_is_repaired_with_the_ordered_distance():
    # ranges 0 < 1 < 2; persona 0 holds the two top-range people; the ordered EMD sees how far they sit.
    persona = np.repeat([0, 1, 2], 4)
    value = np.array([2, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    obs = diversity.Observed(np.arange(12), value, 3, ordered=True, t_limit=0.3)
    before = _t_pandas(persona, obs.owner, value, 3, True)
    assert before.max() > 0.3 and (before > 0.3).sum() == 1
    out = diversity.repair_l_diversity(persona, np.zeros(12, dtype=np.int64), np.zeros((12, 1)), [obs], l=1)
    assert out.repaired == 1
    assert _t_pandas(out.persona_index, obs.owner, value, 3, True).max() <= 0.3


def test_each_attribute_is_held_to_its_own_l():
    # attribute a: persona 0 holds one value; attribute b: persona 1 holds one value. Only a is gated (l = 2;
    # b's own l is 1): persona 0 is repaired, persona 1 is not even failing.
    persona = np.array([0, 0, 0, 1, 1, 1])
    a = diversity.Observed(np.array([0, 3, 4]), np.array([0, 0, 1]), 2, name="a", l=2)
    b = diversity.Observed(np.array([0, 1, 3]), np.array([0, 1, 0]), 2, name="b", l=1)
    X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    out = diversity.repair_l_diversity(persona, np.zeros(6, dtype=np.int64), X, [a, b], l=5)
    assert (out.failing_before, out.repaired) == (1, 1)
    d = _distinct(out.persona_index, a)
    assert ((d == 0) | (d >= 2)).all()  # a persona holding none is not judged
    # the repair's own l (5) applies to an attribute without one: b at 5 fails everywhere, nothing can fix it
    b_default = diversity.Observed(b.owner, b.value, 2, name="b")
    assert diversity.repair_l_diversity(persona, np.zeros(6, dtype=np.int64), X, [a, b_default], l=5).repaired == 0


def test_a_swap_must_keep_both_personas_within_every_limit():
    # The only swap giving persona 0 a second value of a would push persona 1's b over its t limit.
    persona = np.array([0, 0, 0, 1, 1, 1])
    a = diversity.Observed(np.array([0, 3, 4]), np.array([0, 0, 1]), 2, name="a", l=2)
    b = diversity.Observed(np.arange(6), np.array([0, 0, 0, 1, 0, 0]), 2, name="b", t_limit=0.2)
    X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    assert diversity.repair_l_diversity(persona, np.zeros(6, dtype=np.int64), X, [a], l=2).repaired == 1
    out = diversity.repair_l_diversity(persona, np.zeros(6, dtype=np.int64), X, [a, b], l=2)
    assert out.repaired == 0 and out.persona_index.tolist() == persona.tolist()


def test_people_trade_places_only_within_their_bias_group():
    # Persona 0 (group 0) needs value 1. Persona 1, nearest, mixes groups 0 and 1; persona 2 is all group 0.
    # Free, the cheapest swap takes a 1-holder of persona 1; with groups, only persona 2 (same groups) may trade,
    # and with a person of the same group, so every persona keeps its groups and every person his labels.
    persona = np.repeat([0, 1, 2], 3)
    group = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0])
    obs = diversity.Observed(np.array([0, 3, 4, 5, 6, 7, 8]), np.array([0, 0, 1, 1, 0, 1, 1]), 2)
    X = np.array([0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 3.0, 3.1, 3.2])[:, None]
    stratum = np.zeros(9, dtype=np.int64)
    free = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2)
    assert (free.failing_before, free.repaired) == (1, 1) and free.persona_index[[4, 5]].min() == 0
    kept = diversity.repair_l_diversity(persona, stratum, X, [obs], l=2, wider=group)
    assert (kept.failing_before, kept.repaired) == (1, 1)
    assert kept.persona_index[3:6].tolist() == [1, 1, 1] and 0 in kept.persona_index[[7, 8]]
    for p in (0, 1, 2):  # each persona's bias groups unchanged
        assert sorted(group[kept.persona_index == p]) == sorted(group[persona == p])
    # the only holders of value 1 are in a persona mixing groups: no repair rather than a change of groups
    # (a re-cut of the mixed pair is not tried either), where without groups a swap works
    persona, group = persona[:6], np.array([0, 0, 0, 0, 1, 1])
    only_other = diversity.Observed(np.array([0, 1, 3, 4, 5]), np.array([0, 0, 0, 1, 1]), 2)
    assert diversity.repair_l_diversity(persona, stratum[:6], X[:6], [only_other], l=2).repaired == 1
    none = diversity.repair_l_diversity(persona, stratum[:6], X[:6], [only_other], l=2, k=3, wider=group)
    assert none.failing_before == 1 and none.repaired == 0 and none.persona_index.tolist() == persona.tolist()


def test_bias_signature_names_each_set_of_groups():
    persona = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
    sig = diversity.bias_signature(persona, 5, np.array([3, 3, 1, 3, 3, 1, 2, 2, 0]))
    assert sig[[0, 3, 4]].tolist() == [3, 2, 0] and sig[1] == sig[2] < 0


def test_entropy_and_recursive_c_limits_are_repaired_where_set():
    # persona 0: values 0,0,0,1 and persona 1: 0,1,1,1 (entropy l 1.75, c at l = 2: 3 each); persona 2: 0,0,1,1.
    # Not gated: nothing fails. Gated (entropy l >= 1.9, or c <= 2): one swap of a 0 for a 1 fixes both.
    persona = np.repeat([0, 1, 2], 4)
    value = np.array([0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1])
    X = np.array([0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23], dtype=float)[:, None]
    strat = np.zeros(12, dtype=np.int64)
    plain = diversity.Observed(np.arange(12), value, 2)
    assert diversity.repair_l_diversity(persona, strat, X, [plain], l=2).failing_before == 0
    for gated in (replace(plain, min_entropy_l=1.9), replace(plain, max_recursive_c=2.0)):
        out = diversity.repair_l_diversity(persona, strat, X, [gated], l=2)
        assert (out.failing_before, out.repaired) == (2, 1)  # the second was fixed by the same swap
        counts = diversity.persona_value_counts(out.persona_index, 3, gated)
        assert (counts == 2).all() and out.persona_index[8:].tolist() == [2] * 4
        assert len(diversity.failing_by_limits([counts], [gated], 2)) == 0


def test_too_many_t_failures_are_left_to_the_ladder():
    n = 3 * 1000
    persona = np.repeat(np.arange(1000), 3)
    value = np.where(np.arange(n) % 3 == 0, 1, 0)
    value[: 3 * 300] = 1  # 300 personas of three 1s: t far above 0.3
    obs = diversity.Observed(np.arange(n), value, 2, t_limit=0.3)
    out = diversity.repair_l_diversity(persona, np.zeros(n, dtype=np.int64), np.zeros((n, 1)), [obs], l=1)
    assert out.skipped and out.repaired == 0 and out.failing_before == 300


def test_a_recut_deals_the_far_members_to_both_groups_when_no_swap_works():
    # P: four 1s, Q: four 0s (overall half and half); limit 0.2. One swap leaves 3 of 4 (t = 0.25) on both
    # sides; cutting P u Q into two groups of 2 + 2 gives t = 0 (k = 3 allows 3..5 per group).
    persona = np.repeat([0, 1], 4)
    value = np.repeat([1, 0], 4)
    obs = diversity.Observed(np.arange(8), value, 2, t_limit=0.2)
    X = np.array([0.0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.2, 1.3])[:, None]
    strat = np.zeros(8, dtype=np.int64)
    assert diversity.repair_l_diversity(persona, strat, X, [obs], l=1).repaired == 0
    out = diversity.repair_l_diversity(persona, strat, X, [obs], l=1, k=3)
    assert out.repaired == 1 and set(np.bincount(out.persona_index)) <= {3, 4, 5}
    assert _t_pandas(out.persona_index, obs.owner, value, 2, False).max() <= 0.2


def test_unique_rows_is_numpys_unique_rows():
    """The repair's fast distinct count rows equal np.unique(axis=0): same rows in the same order, same inverse,
    including wide rows (the fallback) and empty input."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    from personatwin.protect.diversity import _unique_rows

    @settings(max_examples=200, deadline=None)
    @given(st.integers(0, 40).flatmap(lambda n: st.integers(1, 30).flatmap(
        lambda c: arrays(np.int64, (n, c), elements=st.integers(0, 12)))))
    def check(counts):
        got_u, got_i = _unique_rows(counts)
        want_u, want_i = np.unique(counts, axis=0, return_inverse=True)
        assert np.array_equal(got_u, want_u) and np.array_equal(got_i, want_i.reshape(-1))

    check()
