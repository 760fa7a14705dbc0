"""The escalation ladder: which step the privacy loop takes for which missed target."""

from __future__ import annotations

import pytest

from personatwin.core.policy import PrivacyPolicy, policy_for_level
from personatwin.measure.criteria import (
    K_ANONYMITY,
    L_DIVERSITY,
    LINKAGE_RISK,
    POPULATION_RISK,
    SINGLE_OUT,
    T_CLOSENESS,
)
from personatwin.release.ladder import choose_step, escalate, within_people

LEVELS = {"age": 6, "zip": 5, "race": 3}  # hierarchy levels per QI (n_levels), as domains report them


def steps_for(policy: PrivacyPolicy, rare=("race",)):
    return escalate(policy, LEVELS, location_levels=5, generalizable=rare)


def test_steps_come_cheapest_first_and_say_what_they_lower():
    """Age bands, location, k, dates, PRAM, then rare categories; each names the targets it can act on."""
    names = [s.name for s in steps_for(policy_for_level("medium"))]
    assert names == ["coarser age bands", "generalize location", "raise k", "coarsen dates", "stronger PRAM",
                     "generalize rare race"]
    by_name = {s.name: s.acts_on for s in steps_for(policy_for_level("medium"))}
    assert by_name["raise k"] == {POPULATION_RISK, LINKAGE_RISK, L_DIVERSITY, K_ANONYMITY, SINGLE_OUT, T_CLOSENESS}
    assert by_name["coarsen dates"] == {LINKAGE_RISK, SINGLE_OUT}
    assert by_name["stronger PRAM"] == set()  # l and t are on true values since issue 11: PRAM cannot lower them
    assert by_name["coarser age bands"] == by_name["generalize rare race"] == {POPULATION_RISK, LINKAGE_RISK,
                                                                                SINGLE_OUT}


@pytest.mark.parametrize("missed, expected", [
    ({POPULATION_RISK}, "coarser age bands"),
    ({LINKAGE_RISK}, "coarser age bands"),
    ({L_DIVERSITY}, "raise k"),  # coarser QIs do nothing for diversity: never taken for it
    ({K_ANONYMITY}, "raise k"),
    ({SINGLE_OUT}, "coarser age bands"),
    ({L_DIVERSITY, POPULATION_RISK}, "coarser age bands"),  # the cheapest step acting on any missed target
])
def test_choose_step_takes_the_cheapest_step_that_acts_on_a_missed_target(missed, expected):
    step = choose_step(steps_for(policy_for_level("medium")), missed)
    assert step is not None and step.name == expected and step.acts_on & missed


def test_choose_step_skips_steps_that_cannot_act_and_ends_when_none_can():
    """At the largest k nothing helps diversity (judged on true values, PRAM cannot): nothing is chosen."""
    at_max_k = policy_for_level("medium").with_changes(k=100, max_k=100)
    assert choose_step(steps_for(at_max_k), {L_DIVERSITY}) is None
    assert choose_step(steps_for(at_max_k), {T_CLOSENESS}) is None
    assert choose_step(steps_for(policy_for_level("medium")), set()) is None
    only_dates = [s for s in steps_for(policy_for_level("medium")) if s.name == "coarsen dates"]
    assert choose_step(only_dates, {POPULATION_RISK}) is None  # dates do not change the QI classes


def test_each_step_changes_exactly_its_parameter():
    base = policy_for_level("medium")
    steps = {s.name: s.policy for s in steps_for(base)}
    assert steps["coarser age bands"].qi_level("age") == base.qi_level("age") + 1
    assert steps["generalize location"].location_level == base.location_level + 1
    assert steps["raise k"].k == 2 * base.k
    assert steps["coarsen dates"].date_precision == "quarter"
    assert steps["stronger PRAM"].pram_p == pytest.approx(base.pram_p - 0.1)
    assert steps["generalize rare race"].qi_level("race") == base.qi_level("race") + 1
    for name, pol in steps.items():
        changed = {k for k, v in pol.parameters().items() if v != base.parameters()[k]}
        assert len(changed) == 1, (name, changed)


def test_exhausted_parameters_leave_the_ladder():
    top = policy_for_level("medium").with_changes(qi_levels={"age": 4, "race": 1}, location_level=4, k=100,
                                                  max_k=100, date_precision="year", pram_p=0.5, min_pram_p=0.5)
    assert steps_for(top) == []


def test_within_people_caps_k_at_the_number_of_people():
    base = policy_for_level("medium").with_changes(k=40)
    capped = {s.name: s for s in within_people(steps_for(base), base, n_people=50)}
    assert capped["raise k"].policy.k == 50 and capped["raise k"].acts_on
    at_n = base.with_changes(k=50)
    assert "raise k" not in {s.name for s in within_people(steps_for(at_n), at_n, n_people=50)}
