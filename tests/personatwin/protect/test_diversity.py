"""l-diversity repair by member swaps (personatwin.protect.diversity)."""

import numpy as np
import pandas as pd

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


def test_loop_ends_l_diverse():
    prepared = _sparse_prepared()
    chosen, history = auto_adjust(PassContext(prepared, PrivacyPolicy(k=5, l_diversity=2, target_risk=0.5),
                                              ReleaseKey("ab" * 32), "2024-01"))
    assert chosen.risk.l_diversity_distinct >= 2
    sizes = np.bincount(chosen.grouping.persona_index)
    assert sizes.min() >= chosen.policy.k and sizes.max() <= 2 * chosen.policy.k - 1
    assert len(history) == 1 and chosen.policy.k == 5  # repaired, not by raising k for everyone
