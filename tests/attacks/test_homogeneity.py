"""Attack: homogeneity per event type (finding 5 of the attack review).

l-diversity and t-closeness used to be pooled over event types and computed on PRAM's randomized
outcomes, so a release reported l = 2 while per event type l = 1 and many personas had one true
outcome for a type. Now both are measured per event type (and per person-level sensitive
attribute) on true outcomes, published per attribute, and t is gated: a persona whose true outcome
mix for a type (at least k events) is further than the policy's t from the type's mix fails the
release, and the loop raises k or refuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.protect.prepared import PassContext, prepare
from personatwin.release.one_pass import protect

KEY = "homogeneity-attack-key-0123456789abcdef"


@pytest.fixture(scope="module")
def data():
    return synth.generate("criminal_justice", 4000, start="2024-01-01", end="2024-03-31", seed=43)


@pytest.mark.parametrize("level", ["low", "medium", "high"])
def test_per_type_diversity_is_measured_on_true_outcomes(data, level):
    """The figures equal an independent pandas computation from true outcomes and the (internal) grouping."""
    prepared = prepare(data.people, data.events, get_domain("criminal_justice"))
    policy = policy_for_level(level)
    p = protect(PassContext(prepared, policy, ReleaseKey(KEY), level))
    ev = pd.DataFrame({"persona": p.person_persona[prepared.event_person],
                       "type": np.asarray(prepared.type_names)[prepared.type_codes],
                       "outcome": prepared.outcome_codes})
    figures = p.risk.as_dict()
    for t, g in ev.groupby("type"):
        counts = g.groupby(["persona", "outcome"]).size().unstack(fill_value=0)
        overall = counts.sum() / counts.to_numpy().sum()
        measured = counts[counts.sum(axis=1) >= policy.k]
        share = measured.div(measured.sum(axis=1), axis=0)
        t_mine = float((0.5 * (share - overall).abs().sum(axis=1)).max())
        l_mine = int((measured > 0).sum(axis=1).min())
        homogeneous = float(((counts > 0).sum(axis=1) == 1).mean())
        assert figures[f"t_closeness.{t}"] == pytest.approx(t_mine), (level, t)
        assert figures[f"l_diversity_distinct.{t}"] == l_mine, (level, t)
        assert figures[f"homogeneous_personas.{t}"] == pytest.approx(homogeneous), (level, t)
    assert figures["t_closeness"] == pytest.approx(max(v for k, v in figures.items() if k.startswith("t_closeness.")))


@pytest.mark.parametrize("level", ["low", "medium", "high"])
def test_released_configuration_meets_per_type_limits(data, level):
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level=level,
                                     domain="criminal_justice", target_risk=0.2, key=KEY, salt=level)
    figures = result.metrics()
    if result.policy.max_t_closeness is not None:  # low reports it
        assert figures["t_closeness"] <= result.policy.max_t_closeness + 1e-12, level
    assert figures["l_diversity_distinct"] >= result.policy.l_diversity, level
    per_type = [k for k in figures if k.startswith("t_closeness.")]
    assert len(per_type) == len(data.events["event_type"].unique()), level


def test_a_strict_t_raises_k_or_refuses(data):
    """t = 0.2 is out of reach for small personas: the loop raises k (pooling more events) or refuses."""
    try:
        result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="high",
                                         domain="criminal_justice", target_risk=0.2, key=KEY, salt="strict",
                                         policy=policy_for_level("high", max_t_closeness=0.2))
    except pt.PrivacyTargetError as exc:
        assert "t-closeness" in str(exc)
        return
    assert result.policy.k > 10 and result.metrics()["t_closeness"] <= 0.2
