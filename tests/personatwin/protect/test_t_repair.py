"""t-closeness repair on generated data (issue 13, item 2): a few personas over their attribute's t limit are
repaired by member swaps at the same k, every person keeps a persona of his own bias group, and each large bias
group keeps its events under its own published label.

Figures are checked against plain pandas from the true data and the internal person -> persona assignment."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.core.sensitive import NUMERIC, SensitiveAttribute, coded
from personatwin.ingest.synth import generate
from personatwin.protect import diversity
from personatwin.protect.merge import group_people
from personatwin.protect.personas import persona_attributes, start_levels
from personatwin.protect.prepared import PassContext, prepare
from personatwin.release.auto_adjust import auto_adjust
from personatwin.release.one_pass import protect
from personatwin.validate.validation import validate

COUNTS = ("prior_offenses", "juvenile_felonies")
BIAS = ("sex", "race")
KEY = ReleaseKey("cd" * 32)
FAILING = 2  # personas per count attribute over its limit before the repair


def t_per_persona(persona: np.ndarray, codes: np.ndarray, n_values: int) -> pd.Series:
    """Ordered t (EMD over ordered ranges) of each persona's mix of a person-level attribute, in plain pandas."""
    frame = pd.DataFrame({"persona": persona, "value": codes})
    counts = pd.crosstab(frame["persona"], frame["value"]).reindex(columns=range(n_values), fill_value=0)
    overall = frame["value"].value_counts(normalize=True).reindex(range(n_values), fill_value=0.0)
    mix = counts.div(counts.sum(axis=1), axis=0)
    return (mix - overall).cumsum(axis=1).iloc[:, :-1].abs().sum(axis=1) / (n_values - 1)


def with_flag(people: pd.DataFrame, persona: np.ndarray, homogeneous: int) -> pd.DataFrame:
    """A categorical sensitive column ``flag``: 'a' for the first two members of each persona, 'b' for the others,
    and 'b' for every member of persona ``homogeneous`` (the one persona failing distinct l = 2 on it)."""
    rank = pd.Series(np.arange(len(persona))).groupby(persona).cumcount().to_numpy()
    flag = np.where((rank < 2) & (persona != homogeneous), "a", "b")
    return people.assign(flag=flag)


@pytest.fixture(scope="module")
def setting():
    """6,000 generated people with two skewed counts declared numeric, at high (k = 10), with a t limit per count
    between its 2nd and 3rd largest persona t before repair (exactly two personas per count over it), and a
    categorical ``flag`` only one persona fails distinct l on: one mixing two bias groups (a rare stratum the
    merge generalized, alone in its stratum)."""
    domain = get_domain("criminal_justice").with_overrides(
        sensitive=(*COUNTS, "flag"), sensitive_types={c: SensitiveAttribute(c, NUMERIC) for c in COUNTS})
    data = generate("criminal_justice", 6000, seed=3, sensitive_counts={COUNTS[0]: 0.35, COUNTS[1]: 0.95})
    first = prepare(*_checked(data.people.assign(flag="b"), data.events, domain), domain)
    base = policy_for_level("high")
    raw = group_people(first.people, None, domain, base.k, start_levels(domain, base), first.features)
    group = first.people[list(BIAS)].astype(str).agg(" | ".join, axis=1)
    mixed = np.flatnonzero(group.groupby(raw.persona_index).nunique().to_numpy() > 1)
    flagged = with_flag(first.people, raw.persona_index, int(mixed[0]))
    flags = dict(zip(flagged["person_id"], flagged["flag"]))
    prepared = prepare(*_checked(data.people.assign(flag=data.people["person_id"].map(flags)), data.events, domain),
                       domain)
    assert prepared.people["person_id"].tolist() == first.people["person_id"].tolist()
    codes = {c: coded(prepared.people[c], domain.sensitive_attribute(c)) for c in COUNTS}
    limits, before = {}, {}
    for c, (code, labels) in codes.items():
        t = t_per_persona(raw.persona_index, code, len(labels)).sort_values(ascending=False)
        limits[c] = round(float(t.iloc[FAILING] + t.iloc[FAILING - 1]) / 2, 6)
        before[c] = t
    policy = base.with_changes(max_t_closeness_by_attribute=limits)
    result = protect(PassContext(prepared, policy, KEY, "2024-01"), grouping=raw)
    return prepared, raw, policy, result, codes, limits, before


def _checked(people: pd.DataFrame, events: pd.DataFrame, domain) -> tuple[pd.DataFrame, pd.DataFrame]:
    checked = validate(people, events, domain)
    return checked.people, checked.events


def test_the_repair_brings_t_under_each_limit_at_the_same_k(setting):
    prepared, raw, policy, result, codes, limits, before = setting
    figures = result.figures()
    for c, (code, labels) in codes.items():
        assert (before[c] > limits[c]).sum() == FAILING  # what the release would show without the repair
        after = t_per_persona(result.person_persona, code, len(labels))
        print(f"{c}: limit {limits[c]}, t before {before[c].max():.4f}, after {after.max():.4f}")
        assert after.max() <= limits[c] < before[c].max()
        assert figures[f"t_closeness.{c}"] == pytest.approx(after.max(), abs=1e-12)
    assert result.policy.k == policy.k and not [o for o in result.missed() if o.kind == "t-closeness"]
    sizes = np.bincount(result.person_persona)
    assert sizes.min() >= policy.k and sizes.max() <= 2 * policy.k - 1
    changed = pd.crosstab(raw.persona_index, result.person_persona).gt(0).sum(axis=1)
    assert 0 < int((changed > 1).sum()) <= 4 * FAILING * len(COUNTS)  # a few personas touched, not a re-grouping


def kept_under_own_label(people: pd.DataFrame, event_person: np.ndarray, person_persona: np.ndarray,
                         published: pd.DataFrame) -> pd.DataFrame:
    """Per bias attribute and group, in plain pandas: its events, and the share whose person's persona publishes
    the group's own label."""
    rows = []
    for a in BIAS:
        own = people[a].astype(str).to_numpy()[event_person]
        label = published[a].astype(str).to_numpy()[person_persona[event_person]]
        frame = pd.DataFrame({"attribute": a, "group": own, "kept": own == label})
        rows.append(frame.groupby(["attribute", "group"])["kept"].agg(events="size", share="mean"))
    return pd.concat(rows)


def test_people_stay_with_their_bias_group_and_groups_keep_their_events(setting):
    """Each persona's bias composition is the same before and after the repair (people trade places only within
    their sex x race group), so every bias group keeps exactly the events it kept under its own published label
    before the repair: the utility figure (group_rates' coverage, per attribute, group and event type) equals
    plain pandas. Groups with >= 1,000 events keep >= 99% except where the merge itself generalizes a rare
    stratum's race (a design choice of the merge, not of the repair: measured, 90.4% of Asian events here)."""
    prepared, raw, policy, result, codes, limits, before = setting
    people = prepared.people
    group = people[list(BIAS)].astype(str).agg(" | ".join, axis=1).to_numpy()

    def compositions(persona):
        return sorted(map(tuple, pd.crosstab(persona, group).to_numpy()))

    assert compositions(result.person_persona) == compositions(raw.persona_index)
    # the persona failing l on flag mixes two groups and no persona of its groups is in reach: it stays as it
    # is (the loop's larger k acts instead), where moving a person across groups would have repaired it
    flag = pd.Series(people["flag"].to_numpy())
    assert (flag.groupby(raw.persona_index).nunique() == 1).sum() == 1
    assert (flag.groupby(result.person_persona).nunique() == 1).sum() == 1
    (miss,) = [o for o in result.missed() if o.kind == "l-diversity"]
    assert "binding flag (l 1)" in miss.failure
    homogeneous_before = pd.Series(group).groupby(raw.persona_index).transform("nunique").eq(1).to_numpy()
    homogeneous_after = pd.Series(group).groupby(result.person_persona).transform("nunique").eq(1).to_numpy()
    assert homogeneous_after[homogeneous_before].all()

    unrepaired = persona_attributes(people, raw.persona_index, raw.n_personas, prepared.domain, policy).table
    kept_before = kept_under_own_label(people, prepared.event_person, raw.persona_index, unrepaired)
    kept = kept_under_own_label(people, prepared.event_person, result.person_persona, result.attributes.table)
    pd.testing.assert_frame_equal(kept, kept_before)  # the repair moved no event off its group's label

    # the utility figure: coverage per (attribute, group, event type); per group, summed over its event types
    rates = result.utility.group_rates
    per_type = rates.drop_duplicates(["attribute", "group", "event_type"])
    assert set(BIAS) <= set(per_type["attribute"])
    per_group = per_type.groupby(["attribute", "group"])[["n_original", "n_released"]].sum()
    per_group = per_group.loc[kept.index]
    assert (per_group["n_original"] == kept["events"]).all()
    assert (per_group["n_released"] / per_group["n_original"]).to_numpy() == pytest.approx(kept["share"].to_numpy())
    large = kept[kept["events"] >= 1000]
    print(large.to_string())
    assert len(large) >= 7 and (large["share"] >= 0.99).sum() >= len(large) - 1
    assert (large.loc["sex", "share"] == 1.0).all() and large["share"].min() >= 0.9


def test_the_loop_keeps_k_where_the_repair_fixes_t(monkeypatch):
    """The same counts and limits without flag: the loop releases at k = 10 with no larger k, t within each limit
    (plain pandas on the released assignment); with the repair blind to t (as before issue 13, item 2), t misses
    its limit and the loop raises k."""
    domain = get_domain("criminal_justice").with_overrides(
        sensitive=COUNTS, sensitive_types={c: SensitiveAttribute(c, NUMERIC) for c in COUNTS})
    data = generate("criminal_justice", 6000, seed=3, sensitive_counts={COUNTS[0]: 0.35, COUNTS[1]: 0.95})
    prepared = prepare(*_checked(data.people, data.events, domain), domain)
    base = policy_for_level("high")
    raw = group_people(prepared.people, None, domain, base.k, start_levels(domain, base), prepared.features)
    codes = {c: coded(prepared.people[c], domain.sensitive_attribute(c)) for c in COUNTS}
    limits = {}
    for c, (code, labels) in codes.items():
        t = t_per_persona(raw.persona_index, code, len(labels)).sort_values(ascending=False)
        limits[c] = round(float(t.iloc[FAILING] + t.iloc[FAILING - 1]) / 2, 6)
    ctx = PassContext(prepared, base.with_changes(max_t_closeness_by_attribute=limits), KEY, "2024-01")

    chosen, history = auto_adjust(ctx)
    assert chosen.policy.k == base.k and "raise k" not in [it.step for it in history]
    for c, (code, labels) in codes.items():
        assert t_per_persona(chosen.person_persona, code, len(labels)).max() <= limits[c]

    repair = diversity.repair_l_diversity
    monkeypatch.setattr(diversity, "repair_l_diversity",
                        lambda persona, stratum, features, observed, *args, **kw: repair(
                            persona, stratum, features, [replace(o, t_limit=None) for o in observed], *args, **kw))
    blind, history = auto_adjust(ctx)
    assert blind.policy.k > base.k and "raise k" in [it.step for it in history]
    assert any(f.startswith("t-closeness of") for it in history for f in it.failures)
