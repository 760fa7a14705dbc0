"""The rule-based advisor (issue 17 item 1): explanations name the binding target in numbers, recommendations
change only CHANGEABLE settings and only towards more protection, and every answer is deterministic."""

from __future__ import annotations

import pytest

from personatwin.advisor.base import CHANGEABLE, DATE_ORDER, Advice, Explanation, Recommendation
from personatwin.advisor.payload import draft_domain_payload, explain_payload, recommend_payload
from personatwin.advisor.rules import RulesAdvisor, attribute_of, binding, kind_of, standings
from personatwin.core.domains import get_domain
from personatwin.measure import criteria

DOMAIN = get_domain({"name": "court", "event_types": {"hearing": ["detained", "released"],
                                                      "sentence": ["prison", "probation"]},
                     "sensitive": ["prior_offenses"]})
POLICY = {"k": 5, "date_precision": "month", "location_level": 1, "qi_levels": {"age": 1}, "pram_p": 0.9,
          "l_diversity": 2, "level": "medium", "target_risk": 0.05, "max_t_closeness": 0.6,
          "max_single_out_rate": 0.2, "attacker_knowledge": 3}
PASSING = {"k_anonymity": 5, "population_average_risk": 0.02, "external_linkage_risk": 0.03, "release_risk": 0.03,
           "l_diversity_distinct": 3, "t_closeness": 0.3, "persona_single_out_rate": 0.05, "events_preserved": 1,
           "utility_gate_failures": 0, "information_loss": 41.5}
ADVISOR = RulesAdvisor()


def explain(metrics: dict, failures=(), verdict: str = "SAFE_FOR_RESEARCH: ...", refusal: str = "") -> Explanation:
    advice = ADVISOR.explain(explain_payload(metrics, POLICY, list(failures), verdict, DOMAIN, refusal))
    assert isinstance(advice, Advice) and advice.exchanges == ()
    return advice.value


def recommend(metrics: dict, failures=(), refusal: str = "", policy: dict | None = None) -> Recommendation:
    return ADVISOR.recommend(recommend_payload(metrics, policy or POLICY, list(failures), DOMAIN, refusal)).value


def test_explain_names_the_missed_target_with_the_largest_relative_excess():
    """Population risk 0.09 (80% over 0.05) binds, not linkage 0.06 (20% over), and the numbers are stated."""
    metrics = {**PASSING, "population_average_risk": 0.09, "external_linkage_risk": 0.06, "release_risk": 0.09}
    failures = [criteria.PopulationRisk().failure(0.09, 0.05, POLICY),
                criteria.LinkageRisk().failure(0.06, 0.05, POLICY)]
    text = explain(metrics, failures, "NOT_SAFE_FOR_RELEASE: ...").text
    assert "Binding target: population average risk is 0.0900, above its limit 0.0500 by 0.0400 (80%" in text
    assert "external linkage risk" in text.split("Also missed:")[1]
    assert "trade-off chart" in text and "information loss" in text and "41.5" in text


def test_explain_compares_targets_relatively_across_kinds():
    """k-anonymity 3 < k=5 is 40% short; a linkage risk 0.052 is 4% over: k-anonymity binds."""
    metrics = {**PASSING, "k_anonymity": 3, "external_linkage_risk": 0.052, "release_risk": 0.052}
    text = explain(metrics).text
    assert "Binding target: k-anonymity is 3, below its limit 5 by 2 (40%" in text


def test_explain_a_release_names_the_figure_closest_to_its_limit():
    """Every target holds: the one with the smallest relative margin is named (not k, met by construction)."""
    metrics = {**PASSING, "release_risk": 0.048, "external_linkage_risk": 0.048}
    explanation = explain(metrics, verdict="SAFE_FOR_RESEARCH: Release risk 0.0480 ...")
    assert explanation.rule_text == "SAFE_FOR_RESEARCH: Release risk 0.0480 ..."
    assert explanation.generated_by == "rules"
    assert "Every target holds; closest to its limit: external linkage risk 0.0480 against 0.0500" in explanation.text
    assert "least information loss" in explanation.text
    assert explanation.text.startswith("Generated explanation")


def test_explain_a_refusal_reads_its_text_and_keeps_it_as_the_rule_text():
    refusal = ("Binding target: l-diversity on prior_offenses; 40% of personas fail it. Changes tried: allow k up "
               "to 20 (max_k): does not pass (still misses l-diversity 1 < l=2).")
    explanation = explain(PASSING, refusal=refusal, verdict="")
    assert explanation.rule_text == refusal
    assert "Nothing was released" in explanation.text and "l-diversity" in explanation.text
    assert "nothing was released" in explanation.text


def test_failure_texts_are_read_back():
    """The engine's failure sentences give their kind, figures and attribute."""
    t = criteria.TCloseness().evaluate({"t_closeness.prior_offenses": 0.8, "t_closeness": 0.8},
                                       {"max_t_closeness": 0.6}).failure
    assert kind_of(t) == criteria.T_CLOSENESS and attribute_of(t) == "prior_offenses"
    stood = standings({}, {}, [t, "k-anonymity 4 < k=5"])
    top = binding(stood)
    assert top is not None and top.kind == criteria.T_CLOSENESS and top.value == 0.8 and top.limit == 0.6
    assert attribute_of("l-diversity 1 < l=2: binding prior_offenses (l 1), hearing (l 1)") == "prior_offenses"
    assert kind_of("3 utility gate(s) fail") == criteria.UTILITY_GATES


def _protective(change, policy: dict) -> bool:
    direction = CHANGEABLE[change.field]
    if change.field == "numeric_ranges":
        return all(list(v) == sorted(set(v)) and v for v in change.value.values())
    if change.field == "date_precision":
        return DATE_ORDER.index(change.value) > DATE_ORDER.index(policy["date_precision"])
    old = policy["qi_levels"]["age"] if change.field == "age_level" else policy[change.field]
    return change.value < old if direction == "lower" else change.value > old


T_FAILURE = "t-closeness of prior_offenses 0.8000 > limit 0.6 (by 0.2000)"
L_FAILURE = "l-diversity 1 < l=2: binding prior_offenses (l 1)"
CASES = {
    "linkage": ({**PASSING, "external_linkage_risk": 0.09, "release_risk": 0.09}, [], {"k": 10, "age_level": 2}),
    "population": ({**PASSING, "population_average_risk": 0.07, "release_risk": 0.07}, [], {"k": 10, "age_level": 2}),
    "k-anonymity": ({**PASSING, "k_anonymity": 4}, [], {"k": 10, "age_level": 2}),
    "t-closeness on a count": ({**PASSING, "t_closeness": 0.8, "t_closeness.prior_offenses": 0.8}, [T_FAILURE],
                               {"numeric_ranges": {"prior_offenses": [1.0, 5.0]}, "location_level": 2}),
    "l-diversity on a count": (PASSING, [L_FAILURE],
                               {"numeric_ranges": {"prior_offenses": [1.0, 5.0]}, "location_level": 2}),
    "l-diversity of outcomes": ({**PASSING, "l_diversity_distinct": 1, "l_diversity_distinct.hearing": 1}, [],
                                {"k": 10, "location_level": 2}),
    "single-out": ({**PASSING, "persona_single_out_rate": 0.3}, [], {"location_level": 2, "date_precision": "quarter"}),
    "attacks": (PASSING, ["Anonymeter risks above the limit 0.05: inference (inference 0.0800)."],
                {"k": 10, "pram_p": 0.8}),
    "utility gate": ({**PASSING, "utility_gate_failures": 2}, [], {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_recommend_gives_only_protective_changeable_changes_for_each_failure_kind(case):
    metrics, failures, expected = CASES[case]
    rec = recommend(metrics, failures)
    assert rec.generated_by == "rules" and rec.rationale
    assert {c.field: c.value for c in rec.changes} == expected
    assert all(c.field in CHANGEABLE and _protective(c, POLICY) for c in rec.changes)
    assert [c.field for c in rec.changes] == [f for f in CHANGEABLE if f in expected]  # a stable order
    assert recommend(metrics, failures) == rec  # deterministic


def test_recommend_says_so_when_nothing_can_help_a_utility_gate():
    rec = recommend({**PASSING, "utility_gate_failures": 1})
    assert rec.changes == () and "utility gates: no configuration change" in rec.rationale


def test_recommend_uses_range_edges_from_the_figures_when_present():
    """Current cut points in the figures: every other one is kept (coarser ranges)."""
    metrics = {**PASSING, **{f"sensitive_cuts.prior_offenses.{i}": c for i, c in enumerate((1, 2, 4, 8, 16))}}
    rec = recommend(metrics, [T_FAILURE])
    assert dict((c.field, c.value) for c in rec.changes)["numeric_ranges"] == {"prior_offenses": [1.0, 4.0, 16.0]}


def test_recommend_never_goes_past_the_top_or_weakens_anything():
    """At the coarsest location and dates nothing is proposed for them; PRAM is never raised."""
    top = {**POLICY, "location_level": 3, "date_precision": "year", "pram_p": 0.6, "qi_levels": {"age": 3}}
    rec = recommend({**PASSING, "persona_single_out_rate": 0.3, "external_linkage_risk": 0.2, "release_risk": 0.2},
                    ["Anonymeter risks above the limit 0.05: inference (inference 0.0800)."], policy=top)
    assert {c.field: c.value for c in rec.changes} == {"k": 10}
    assert all(_protective(c, top) for c in rec.changes)


def test_recommendations_pass_the_schema_check_when_it_is_there():
    """Every rule-based change is accepted by ``schema.validate_changes`` (the engine's own rule)."""
    schema = pytest.importorskip("personatwin.advisor.schema")
    for metrics, failures, _ in CASES.values():
        rec = recommend(metrics, failures)
        accepted, rejected = schema.validate_changes(rec.changes, POLICY)
        assert rejected == () and len(accepted) == len(rec.changes)


def test_a_payload_of_another_task_is_refused():
    payload = explain_payload(PASSING, POLICY, [], "", DOMAIN)
    with pytest.raises(ValueError, match="explain"):
        ADVISOR.recommend(payload)
    import pandas as pd

    draft = draft_domain_payload(pd.DataFrame({"person_id": ["a"]}), pd.DataFrame({"person_id": ["a"]}),
                                 "person_id", [])
    with pytest.raises(ValueError):
        ADVISOR.explain(draft)
