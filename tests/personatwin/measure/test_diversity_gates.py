"""Per-attribute diversity limits (issue 13, item 1): an attribute's own distinct l, entropy l and recursive c
gate the release where the policy sets them, name the attribute when missed, and the member-swap repair meets
them at the same k. Figures are checked against plain pandas from the true data and the person -> persona
assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest.synth import generate
from personatwin.measure import criteria
from personatwin.protect.merge import group_people
from personatwin.protect.personas import start_levels
from personatwin.protect.prepared import PassContext, prepare
from personatwin.release.one_pass import protect
from personatwin.validate.validation import validate

COUNTS = ("prior_offenses", "juvenile_felonies")  # declared categorical here
KEY = ReleaseKey("ef" * 32)


def diversity_pandas(persona: pd.Series, value: pd.Series, min_count: int, l: int) -> dict[str, float]:  # noqa: E741
    """Distinct l, entropy l and recursive c (at l) of one attribute over the personas holding at least
    ``min_count`` observations, in plain pandas."""
    counts = pd.crosstab(persona, value)
    counts = counts[counts.sum(axis=1) >= min_count]
    mix = counts.div(counts.sum(axis=1), axis=0)
    entropy = -(mix * np.log(mix.where(mix > 0, 1.0))).sum(axis=1)
    ranked = np.sort(counts.to_numpy(), axis=1)[:, ::-1]
    tail = ranked[:, l - 1:].sum(axis=1)
    c = np.where(tail > 0, ranked[:, 0] / np.where(tail > 0, tail, 1), np.inf)
    return {"l_diversity_distinct": float((counts > 0).sum(axis=1).min()),
            "l_diversity_entropy": float(np.exp(entropy.min())), "c_recursive": float(c.max())}


def figures_pandas(prepared, person_persona: np.ndarray, policy) -> dict[str, float]:
    """Per-attribute figures of a pass, as the release names them, from the true data."""
    out = {}
    by_l = dict(policy.l_diversity_by_attribute)
    events = pd.DataFrame({"persona": person_persona[prepared.event_person],
                           "type": np.asarray(prepared.type_names, dtype=object)[prepared.type_codes],
                           "outcome": prepared.outcome_codes})
    for t, rows in events.groupby("type"):
        l_t = max(by_l.get(t, policy.l_diversity), 2)
        out.update({f"{k}.{t}": v for k, v in diversity_pandas(rows["persona"], rows["outcome"], policy.k,
                                                                 l_t).items()})
    for col in COUNTS:
        l_c = max(by_l.get(col, policy.l_diversity), 2)
        out.update({f"{k}.{col}": v for k, v in diversity_pandas(pd.Series(person_persona),
                                                                   prepared.people[col].astype(str), 1, l_c).items()})
    return out


@pytest.fixture(scope="module")
def passes():
    """6,000 generated people with two skewed counts, at high (k = 10), juvenile felonies exempt from distinct l
    (l 1 for it); one pass not knowing the per-attribute limits, and one pass at the same k and grouping with an
    l of one more for prior offences, an entropy l just above hearing's and a recursive c well below arrest's."""
    domain = get_domain("criminal_justice").with_overrides(sensitive=COUNTS)
    data = generate("criminal_justice", 6000, seed=5, sensitive_counts={COUNTS[0]: 0.35, COUNTS[1]: 0.95})
    checked = validate(data.people, data.events, domain)
    prepared = prepare(checked.people, checked.events, domain)
    base = policy_for_level("high", l_diversity_by_attribute={"juvenile_felonies": 1})
    raw = group_people(prepared.people, None, domain, base.k, start_levels(domain, base), prepared.features)
    blind = protect(PassContext(prepared, base, KEY, "2024-01"), grouping=raw)
    m = blind.figures()
    limits = dict(l_diversity_by_attribute={"juvenile_felonies": 1,
                                            "prior_offenses": int(m["l_diversity_distinct.prior_offenses"]) + 1},
                  min_entropy_l_by_attribute={"hearing": round(m["l_diversity_entropy.hearing"] + 0.05, 3)},
                  max_recursive_c_by_attribute={"arrest": round(0.7 * m["c_recursive.arrest"], 3)})
    gated = base.with_changes(**limits)
    return prepared, blind, protect(PassContext(prepared, gated, KEY, "2024-01"), grouping=raw)


def test_the_figures_are_the_plain_pandas_ones(passes):
    prepared, blind, repaired = passes
    for result in (blind, repaired):
        mine = figures_pandas(prepared, result.person_persona, result.policy)
        theirs = {k: v for k, v in result.figures().items() if k in mine}
        assert set(theirs) == set(mine) and theirs == pytest.approx(mine, rel=1e-12)
    # recursive c at each attribute's own l: juvenile felonies at l 2 (its own l, 1, raised to the model's 2)
    assert blind.figures()["c_recursive.juvenile_felonies"] == float("inf")


def test_the_limits_gate_and_name_the_attribute_where_missed(passes):
    """Judged under the per-attribute limits, the pass made without them misses each one, named; juvenile
    felonies, exempt from distinct l, is not named although it holds one value in some persona."""
    prepared, blind, repaired = passes
    m = blind.figures()
    assert m["l_diversity_distinct.juvenile_felonies"] == 1
    assert not [o for o in blind.missed() if o.kind == criteria.L_DIVERSITY]  # under the policy-wide limits
    missed = {o.metric: o for o in criteria.missed(m, repaired.policy.parameters()) if o.kind == criteria.L_DIVERSITY}
    assert set(missed) == {"l_diversity_distinct", "l_diversity_entropy", "c_recursive"}
    prior = int(m["l_diversity_distinct.prior_offenses"])
    assert f"binding prior_offenses (l {prior} < {prior + 1})" in missed["l_diversity_distinct"].failure
    assert "juvenile_felonies" not in missed["l_diversity_distinct"].failure
    assert missed["l_diversity_entropy"].failure.startswith("entropy l-diversity of hearing ")
    assert missed["c_recursive"].failure.startswith("recursive c of arrest ")


def test_the_repair_meets_each_limit_at_the_same_k(passes):
    prepared, blind, repaired = passes
    policy = repaired.policy
    assert policy.k == blind.policy.k
    assert not [o for o in repaired.missed() if o.kind == criteria.L_DIVERSITY]
    mine = figures_pandas(prepared, repaired.person_persona, policy)
    assert mine["l_diversity_distinct.prior_offenses"] >= policy.l_diversity_by_attribute["prior_offenses"]
    assert mine["l_diversity_entropy.hearing"] >= policy.min_entropy_l_by_attribute["hearing"]
    assert mine["c_recursive.arrest"] <= policy.max_recursive_c_by_attribute["arrest"]
    sizes = np.bincount(repaired.person_persona)
    assert sizes.min() >= policy.k and sizes.max() <= 2 * policy.k - 1
