"""The privacy criteria: each target judges figures under a policy and states its verdict in one place."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from personatwin.core.policy import policy_for_level
from personatwin.measure import criteria as c

POLICY = policy_for_level("medium").parameters()  # k=5, l=2, target 0.05, m=3
GOOD = {"k_anonymity": 6.0, "population_average_risk": 0.02, "external_linkage_risk": 0.03, "release_risk": 0.03,
        "l_diversity_distinct": 2.0, "events_preserved": 1.0, "utility_gate_failures": 0.0}


def test_a_release_meeting_every_target_passes_every_criterion():
    outcomes = c.judge(GOOD, POLICY, c.VERDICT_TARGETS)
    assert {o.kind for o in outcomes} == {c.RELEASE_RISK, c.K_ANONYMITY, c.L_DIVERSITY, c.EVENTS_PRESERVED,
                                          c.UTILITY_GATES}
    assert all(o.passed and not o.failure for o in outcomes)
    assert c.missed(GOOD, POLICY) == ()


@pytest.mark.parametrize("change, kind, failure", [
    ({"k_anonymity": 4.0}, c.K_ANONYMITY, "k-anonymity 4 < k=5"),
    ({"population_average_risk": 0.07}, c.POPULATION_RISK, "population average risk 0.0700 > target 0.05 (by 0.0200)"),
    ({"external_linkage_risk": 0.06}, c.LINKAGE_RISK, "external linkage risk 0.0600 > target 0.05 (by 0.0100, m=3)"),
    ({"l_diversity_distinct": 1.0}, c.L_DIVERSITY, "l-diversity 1 < l=2"),
])
def test_each_missed_loop_target_names_its_kind_and_amount(change, kind, failure):
    (outcome,) = c.missed({**GOOD, **change}, POLICY)
    assert outcome.kind == kind and outcome.failure == failure and not outcome.passed


def test_missing_or_undefined_figures_are_not_judged():
    """No events: l-diversity is undefined (NaN) and not a failure; a figure that was never computed is skipped."""
    figures = {**GOOD, "l_diversity_distinct": float("nan")}
    assert c.L_DIVERSITY not in {o.kind for o in c.judge(figures, POLICY)}
    assert c.AttackRisks().evaluate(GOOD, POLICY) is None  # no Anonymeter figures: not evaluated


def test_verdict_sentences_are_the_reports():
    k = c.KAnonymity().evaluate(GOOD, POLICY)
    assert k.verdict == "k-anonymity 6 >= policy k = 5: every published QI combination is shared by at least 6 people."
    risk = c.ReleaseRisk().evaluate({**GOOD, "release_risk": 0.08}, POLICY)
    assert not risk.passed and risk.verdict == "Release risk 0.0800 is above the policy target 0.05."
    gates = c.UtilityGates().evaluate({**GOOD, "utility_gate_failures": 2.0}, POLICY)
    assert not gates.passed and gates.verdict == "2 utility gate(s) fail."


def test_attack_risks_gate_on_the_headline_and_on_one_secret_at_its_lower_bound():
    high = policy_for_level("high").parameters()  # anonymeter_max_risk 0.05
    base = {f"anonymeter_{a}_risk": 0.01 for a in c.ATTACK_NAMES}
    assert c.AttackRisks().evaluate(base, high).passed
    over = c.AttackRisks().evaluate({**base, "anonymeter_inference_risk": 0.07}, high)
    assert not over.passed and "inference" in over.verdict
    secret = c.AttackRisks().evaluate({**base, "anonymeter_gate_failures": 1.0}, high)
    assert not secret.passed and "lower bound" in secret.verdict
    assert c.AttackRisks().evaluate({**base, "anonymeter_inference_risk": 0.9}, POLICY).passed  # no limit: reported
    assert c.exceeds(0.0501, 0.0, 0.05) and not c.exceeds(0.05, 0.0, 0.05)
    assert not c.exceeds(0.2, 0.04, 0.05, headline=False) and c.exceeds(0.2, 0.06, 0.05, headline=False)


@pytest.mark.parametrize("risk, band", [(0.0, "SAFE_FOR_PUBLIC_RELEASE"), (0.01, "SAFE_FOR_PUBLIC_RELEASE"),
                                        (0.03, "SAFE_FOR_RESEARCH"), (0.15, "INTERNAL_USE_ONLY"),
                                        (0.16, c.NOT_SAFE)])
def test_one_set_of_risk_bands(risk, band):
    assert c.risk_band(risk) == band and band in c.BAND_TEXT and band in c.BAND_ADVICE


def test_safe_for_needs_the_risk_k_and_every_event():
    assert c.safe_for(GOOD, POLICY, 0.05) and not c.safe_for(GOOD, POLICY, 0.01)
    assert not c.safe_for({**GOOD, "k_anonymity": 3.0}, POLICY, 0.05)
    assert not c.safe_for({**GOOD, "events_preserved": 0.0}, POLICY, 0.05)
    assert not c.safe_for({**GOOD, "release_risk": math.nan}, POLICY, 0.05)


def test_dates_at_precision_and_identifier_columns():
    events = pd.DataFrame({"event_date": pd.to_datetime(["2024-03-01", "2024-03-15"]),
                           "end_date": pd.to_datetime(["2024-04-01", None])})
    frame = c.dates_at_precision(events, "month")
    assert frame["event_date_at_period_start"].tolist() == [True, False]
    assert frame["end_date_at_period_start"].tolist() == [True, True]  # a missing end date is fine
    quarter = c.dates_at_precision(events.iloc[:1], "quarter")  # 2024-03-01 is inside Q1; 2024-04-01 starts Q2
    assert quarter.iloc[0].tolist() == [False, True]
    tables = {"personas": pd.DataFrame({"persona_id": ["a"], "SSN": ["x"]}),
              "events": pd.DataFrame({"person_id": ["p"], "event_type": ["arrest"]})}
    assert c.identifier_columns(tables, ("ssn",)) == ["personas.SSN", "events.person_id"]
    assert c.identifier_columns({"events": pd.DataFrame({"event_type": np.array(["x"])})}) == []


# --- per-attribute diversity limits (issue 13, item 1) ---------------------------------------------------------

ATTRS = {"l_diversity_distinct.arrest": 3.0, "l_diversity_distinct.priors": 1.0, "sensitive_ordered.priors": 1.0,
         "l_diversity_distinct.flag": 2.0, "l_diversity_entropy.arrest": 1.8, "l_diversity_entropy.flag": 1.3,
         "l_diversity_entropy.priors": 1.1, "c_recursive.arrest": 2.5, "c_recursive.flag": 6.0,
         "c_recursive.priors": math.inf}
FIGURES = {**GOOD, **ATTRS, "l_diversity_distinct": 2.0}


def test_each_attribute_is_held_to_its_own_l_and_a_miss_names_it():
    assert not c.missed(FIGURES, POLICY)  # l = 2: arrest 3, flag 2 (priors is ordered: not judged by distinct l)
    strict = {**POLICY, "l_diversity_by_attribute": {"flag": 3}}
    (miss,) = c.missed(FIGURES, strict)
    assert miss.kind == c.L_DIVERSITY and (miss.value, miss.threshold) == (2.0, 3.0)
    assert miss.failure.startswith("l-diversity 2 < l=3: binding flag (l 2 < 3)")
    # an attribute's own l of 1 lifts the gate for it alone; the policy's l still holds for the others
    low = {**FIGURES, "l_diversity_distinct.flag": 1.0, "l_diversity_distinct": 1.0}
    assert c.missed(low, POLICY)[0].failure.startswith("l-diversity 1 < l=2: binding flag (l 1)")
    lifted = c.LDiversity().evaluate(low, {**POLICY, "l_diversity_by_attribute": {"flag": 1}})
    assert lifted.passed and "closest: flag l 1 >= 1" in lifted.verdict
    assert not c.LDiversity().evaluate({**low, "l_diversity_distinct.arrest": 1.0},
                                       {**POLICY, "l_diversity_by_attribute": {"flag": 1}}).passed


def test_entropy_l_and_recursive_c_are_gated_only_where_the_policy_sets_them():
    assert not [o for o in c.judge(FIGURES, POLICY) if o.metric in ("l_diversity_entropy", "c_recursive")]
    gated = {**POLICY, "min_entropy_l_by_attribute": {"flag": 1.5, "arrest": 1.5},
             "max_recursive_c_by_attribute": {"arrest": 3.0, "priors": 10.0}}
    missed = {o.metric: o for o in c.missed(FIGURES, gated)}
    assert set(missed) == {"l_diversity_entropy", "c_recursive"}
    assert all(o.kind == c.L_DIVERSITY for o in missed.values())  # the loop's larger k acts on them
    assert missed["l_diversity_entropy"].failure == "entropy l-diversity of flag 1.3000 < limit 1.5"
    # priors holds fewer than l values somewhere: c is infinite, a miss whatever the limit
    assert missed["c_recursive"].failure == "recursive c of priors inf > limit 10"
    met = {**gated, "min_entropy_l_by_attribute": {"arrest": 1.5}, "max_recursive_c_by_attribute": {"arrest": 3.0}}
    outcomes = {o.metric: o for o in c.judge(FIGURES, met) if o.metric in ("l_diversity_entropy", "c_recursive")}
    assert all(o.passed for o in outcomes.values())
    assert outcomes["c_recursive"].verdict == ("Recursive c within each gated attribute's limit (closest: arrest "
                                               "2.5000 <= 3).")
    # a limit on an attribute this release does not measure (NaN, or absent) is not judged
    assert c.RecursiveCDiversity().evaluate({**FIGURES, "c_recursive.arrest": math.nan},
                                            {"max_recursive_c_by_attribute": {"arrest": 3.0}}) is None
    assert {type(x) for x in (*c.LOOP_TARGETS, *c.VERDICT_TARGETS)} >= {c.EntropyLDiversity, c.RecursiveCDiversity}


def test_per_attribute_limits_are_validated_naming_the_attribute_and_published_only_when_set():
    from personatwin.core.policy import PrivacyPolicy

    for field, bad, message in [("l_diversity_by_attribute", {"arrest": 0}, r"\['arrest'\] must be a whole number"),
                                ("l_diversity_by_attribute", {"arrest": 2.5}, r"\['arrest'\]"),
                                ("min_entropy_l_by_attribute", {"priors": 0.5}, r"\['priors'\] must be a number >= 1"),
                                ("max_recursive_c_by_attribute", {"flag": 0}, r"\['flag'\] must be a number > 0"),
                                ("max_recursive_c_by_attribute", {"flag": math.inf}, r"\['flag'\]")]:
        with pytest.raises(ValueError, match=field + message):
            PrivacyPolicy(**{field: bad})
    assert not {"l_diversity_by_attribute", "min_entropy_l_by_attribute",
                "max_recursive_c_by_attribute"} & set(PrivacyPolicy().parameters())
    params = PrivacyPolicy(l_diversity_by_attribute={"b": 3, "a": 1}, min_entropy_l_by_attribute={"a": 1.5},
                           max_recursive_c_by_attribute={"a": 4.0}).parameters()
    assert list(params["l_diversity_by_attribute"].items()) == [("a", 1), ("b", 3)]
    assert params["min_entropy_l_by_attribute"] == {"a": 1.5} and params["max_recursive_c_by_attribute"] == {"a": 4.0}


def test_distinct_dates_hold_every_rows_dates_once():
    """The date checks run on the distinct date combinations: each row's (event, end) days appear once, missing
    end dates included, and the precision verdict is the one on every row."""
    rng = np.random.default_rng(5)
    n = 4000
    start = np.datetime64("2024-01-01") + rng.integers(0, 90, n).astype("timedelta64[D]")
    end = (start + rng.integers(0, 40, n).astype("timedelta64[D]")).astype("datetime64[s]")
    end[rng.random(n) < 0.3] = np.datetime64("NaT")
    events = pd.DataFrame({"event_date": start.astype("datetime64[s]"), "end_date": end})
    got = c.distinct_dates(events)
    want = events.apply(lambda s: s.dt.floor("D")).drop_duplicates()
    as_set = {tuple(r) for r in got.astype(str).to_numpy()}
    assert len(got) == len(want) and as_set == {tuple(r) for r in want.astype("datetime64[ns]").astype(str).to_numpy()}
    for precision in ("day", "week", "month"):
        assert c.dates_at_precision(got, precision).all().all() == c.dates_at_precision(events, precision).all().all()
    assert len(c.distinct_dates(events.iloc[:0])) == 0 and list(c.distinct_dates(events[["event_date"]])) == [
        "event_date"]
