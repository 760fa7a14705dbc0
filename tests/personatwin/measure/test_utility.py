"""Issue requirement: "At MEDIUM, outcome rates per demographic group after unbiasing are within 2
percentage points of the original for groups with >= 1,000 events, and within 3 standard errors of
the unbiased estimator for smaller groups, on the generated data; the test asserts it."

The synthetic criminal-justice data (20,000 people, about 200,000 events, outcome disparities by
race and sex built in) goes through ``create_safe_personas(..., privacy_level="medium")``. Then:

* the engine's own ``utility.group_rates`` must meet the gates;
* the rates are recomputed here without the engine: original rates per group from the generated
  input (each event with its person's own sex / race), released rates from ``result.events``
  joined to ``result.personas`` (the group is the persona's published sex / race), unbiased with
  the published PRAM parameters, ``true = (observed - (1 - p) * pi) / p`` (p and pi per event
  type and outcome from ``result.pram``). Every group the release publishes (at least one released
  event carries its label) is checked: |unbiased - original| <= 2 pp when the group has >= 1,000
  original events of the type, else <= 3 standard errors. The standard error is Agresti-Coull, as
  in ``personatwin.measure.utility``: ``sqrt(q (1 - q) / (N + 4)) / p`` with ``q = (count + 2) / (N + 4)``
  and N the released events of the group and type (the plain Wald SE ``sqrt(q (1 - q) / N) / p`` is
  0 when a small group shows a rate of 0 or 1 and would then demand an exact match). Unlike the
  engine's gate, this check also covers groups the release publishes only in part (coverage below
  90 %) and groups with fewer than 30 released events;
* the disparity the original shows (adverse-outcome rate of Black vs White people, per event type)
  is found in the release with the same sign, as is every other material gap (> 2 pp) between a
  large group and the reference group.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from personatwin.api import create_safe_personas
from personatwin.core.domains import get_domain
from personatwin.ingest import synth
from personatwin.release.release import Release

DOMAIN = get_domain("criminal_justice")
KEY = "utility-bias-test-release-key-2024"
ATTRIBUTES = ("sex", "race", "sex x race")
LARGE = 1_000
MAX_PP = 2.0
MAX_SE = 3.0


@pytest.fixture(scope="module", params=[2024, 7], ids=["seed2024", "seed7"])
def released(request) -> tuple[synth.SyntheticData, Release]:
    data = synth.generate("criminal_justice", 20_000, seed=request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = create_safe_personas(synth.flat(data), privacy_level="medium", domain="criminal_justice", key=KEY)
    return data, result


def with_groups(frame: pd.DataFrame, demographics: pd.DataFrame, on: str) -> pd.DataFrame:
    out = frame.astype(str).merge(demographics.astype(str), on=on, how="left", validate="many_to_one")
    assert out[["sex", "race"]].notna().all().all()
    out["sex x race"] = out["sex"] + " | " + out["race"]
    return out


def independent_rates(data: synth.SyntheticData, result: Release) -> pd.DataFrame:
    """Original vs unbiased released rate per attribute x group x event type x outcome (plain pandas)."""
    original = with_groups(data.events[["person_id", "event_type", "outcome"]],
                           data.people[["person_id", "sex", "race"]], on="person_id")
    release = with_groups(result.events[["persona_id", "event_type", "outcome"]],
                          result.personas.table[["persona_id", "sex", "race"]], on="persona_id")
    assert len(original) == len(release)
    p = result.pram.p
    pi = {(t, o): result.pram.pi_of(t, o) for t, outs in DOMAIN.event_types.items() for o in outs}
    # the published pi is the released marginal: the events file gives it back exactly
    n_type = release.groupby("event_type").size()
    shares = release.groupby(["event_type", "outcome"]).size() / n_type
    assert all(abs(pi[k] - shares.get(k, 0.0)) < 1e-12 for k in pi)
    rows = []
    for attr in ATTRIBUTES:
        c_o = original.groupby([attr, "event_type", "outcome"]).size()
        n_o = original.groupby([attr, "event_type"]).size()
        c_r = release.groupby([attr, "event_type", "outcome"]).size()
        n_r = release.groupby([attr, "event_type"]).size()
        for (group, etype), n_released in n_r.items():  # groups the release publishes
            n_original = int(n_o.get((group, etype), 0))
            if n_original == 0:
                continue  # a published label that is no one's own group (e.g. "*"): nothing to compare
            for outcome in DOMAIN.event_types[etype]:
                if pi[(etype, outcome)] == 0:
                    continue
                count = int(c_r.get((group, etype, outcome), 0))
                pi_o = pi[(etype, outcome)]
                observed = count / n_released
                q = (count + 2) / (n_released + 4)
                rows.append({
                    "attribute": attr, "group": group, "event_type": etype, "outcome": outcome,
                    "n_original": n_original, "n_released": int(n_released),
                    "original_rate": int(c_o.get((group, etype, outcome), 0)) / n_original,
                    "unbiased_rate": (observed - (1 - p) * pi[(etype, outcome)]) / p,
                    # + the sampling variance of the published pi (estimated from the type's released events)
                    "se": np.sqrt(q * (1 - q) / (n_released + 4)
                                  + (1 - p) ** 2 * pi_o * (1 - pi_o) / n_type[etype]) / p,
                })
    out = pd.DataFrame(rows)
    out["diff_pp"] = 100 * (out["unbiased_rate"] - out["original_rate"])
    return out


def test_release_is_medium(released) -> None:
    _, result = released
    assert result.requested_policy.level.value == "medium"
    assert result.requested_policy.k == 5 and result.requested_policy.pram_p == 0.9
    assert result.policy.pram_p < 1  # outcomes are randomized: unbiasing is needed
    assert result.counts["events_valid"] == result.counts["events_in"] == len(result.events)


def test_engine_group_rates_meet_the_gates(released) -> None:
    _, result = released
    rates = result.utility.group_rates
    assert result.utility.gates_passed and rates["passed"].all()
    pp = rates[rates["gate"] == "pp"]
    se = rates[rates["gate"] == "se"]
    assert len(pp) > 50 and len(se) > 50  # both gates are exercised
    assert (pp["n_original"] >= LARGE).all() and (pp["diff_pp"].abs() <= MAX_PP).all()
    assert (se["n_original"] < LARGE).all() and (se["diff_pp"].abs() <= MAX_SE * 100 * se["se"]).all()


def test_rates_recomputed_from_the_release_meet_the_requirement(released) -> None:
    data, result = released
    mine = independent_rates(data, result)
    large = mine["n_original"] >= LARGE
    ok = np.where(large, mine["diff_pp"].abs() <= MAX_PP, mine["diff_pp"].abs() <= MAX_SE * 100 * mine["se"])
    bad = mine[~ok]
    assert bad.empty, f"group rates outside the requirement:\n{bad.to_string()}"
    assert large.sum() > 100 and (~large).sum() > 100
    # every demographic group of the input is published for the large ones
    published = set(mine.loc[mine["attribute"] == "race", "group"])
    big_races = data.people["race"].value_counts()
    assert set(big_races[big_races >= 1_000].index) <= published

    # The engine's table says the same: identical counts and rates wherever both have the row.
    engine = result.utility.group_rates.astype({"group": str})
    both = mine.merge(engine, on=["attribute", "group", "event_type", "outcome"], suffixes=("", "_engine"))
    assert len(both) == len(mine)
    for col in ("n_original", "n_released"):
        assert (both[col] == both[f"{col}_engine"]).all(), col
    for col in ("original_rate", "unbiased_rate", "se"):
        np.testing.assert_allclose(both[col], both[f"{col}_engine"], rtol=0, atol=1e-12, err_msg=col)


def adverse_rates(rates: pd.DataFrame) -> pd.DataFrame:
    """Adverse-outcome rate (sum over the type's adverse outcomes) per attribute x group x type."""
    adverse = rates[rates["outcome"].isin(DOMAIN.adverse_outcomes)]
    return adverse.groupby(["attribute", "group", "event_type"]).agg(
        n=("n_original", "first"), original=("original_rate", "sum"), released=("unbiased_rate", "sum"))


def test_disparities_keep_their_sign(released) -> None:
    data, result = released
    adv = adverse_rates(independent_rates(data, result))
    race = adv.loc["race"]
    types = sorted({t for t in DOMAIN.event_types if set(DOMAIN.event_types[t]) & set(DOMAIN.adverse_outcomes)})
    for etype in types:
        black, white = race.loc[("Black", etype)], race.loc[("White", etype)]
        gap_original = black["original"] - white["original"]
        gap_release = black["released"] - white["released"]
        assert gap_original > 0.02, f"the generated data should disadvantage Black people in {etype}"
        assert np.sign(gap_release) == np.sign(gap_original), (etype, gap_original, gap_release)
    # every material gap (> 2 pp, large groups) to the largest group keeps its sign
    checked = 0
    for attr in ATTRIBUTES:
        a = adv.loc[attr]
        for etype in types:
            sub = a.xs(etype, level="event_type")
            ref = sub["n"].idxmax()
            for group, row in sub[sub["n"] >= LARGE].iterrows():
                gap = row["original"] - sub.loc[ref, "original"]
                if group == ref or abs(gap) <= MAX_PP / 100:
                    continue
                checked += 1
                assert np.sign(row["released"] - sub.loc[ref, "released"]) == np.sign(gap), (attr, group, etype)
    assert checked >= 10
    # and the engine's own disparity table agrees for Black vs White
    disp = result.utility.disparity
    bw = disp[(disp["attribute"] == "race") & (disp["group"] == "Black") & (disp["reference"] == "White")]
    assert len(bw) == len(types)
    assert ((bw["original_ratio"] > 1) & (bw["released_ratio"] > 1)).all()
