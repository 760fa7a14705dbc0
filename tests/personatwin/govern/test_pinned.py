"""A reviewed configuration pinned for later periods (issue 15, item 5): the whole policy survives the ledger, a
period that cannot be pinned is refused with the reason, and a change from the pinned configuration is found."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personatwin.core.domains import get_domain
from personatwin.core.errors import PinnedConfigurationError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import (
    DATE_PRECISIONS,
    PrivacyLevel,
    UtilityGates,
    policy_for_level,
    policy_from_configuration,
)
from personatwin.govern.pinned import (
    APPROVALS_ONLY,
    FULL_REVIEW,
    PinnedConfiguration,
    changes,
    pinned_configuration,
    review_block,
    review_sentence,
)
from personatwin.ingest import synth
from personatwin.release.release import make_release
from personatwin.series.ledger import Ledger, LedgerEntry

KEY = "pinned-configuration-key-0123456789abcdef"


def json_round_trip(policy):
    return policy_from_configuration(json.loads(json.dumps(policy.configuration())))


@pytest.mark.parametrize("level", list(PrivacyLevel))
def test_every_preset_survives_its_configuration_as_json(level):
    policy = policy_for_level(level, dp_rho_per_release=0.05, overlapping_public_data=("court calendar",),
                              max_t_closeness_by_attribute={"charge": 0.7}, l_diversity_by_attribute={"charge": 2})
    assert json_round_trip(policy) == policy
    assert json_round_trip(policy_for_level(level)) == policy_for_level(level)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 100), dates=st.sampled_from(DATE_PRECISIONS), location=st.integers(0, 4),
       age=st.integers(0, 4), pram=st.floats(0.5, 1.0), target=st.floats(0.001, 1.0), rounding=st.floats(1, 1000),
       gate=st.floats(0.5, 5), sources=st.lists(st.text(min_size=1, max_size=12).filter(str.strip), max_size=3))
def test_any_policy_survives_its_configuration(k, dates, location, age, pram, target, rounding, gate, sources):
    policy = policy_for_level("high", k=k, date_precision=dates, location_level=location, qi_levels={"age": age},
                              pram_p=pram, target_risk=target, value_rounding=rounding,
                              gates=UtilityGates(max_rate_diff_pp=gate), overlapping_public_data=tuple(sources))
    assert json_round_trip(policy) == policy


def test_a_configuration_with_an_unknown_field_is_refused_by_name():
    conf = policy_for_level("high").configuration()
    with pytest.raises(ValueError, match=r"unknown policy field\(s\) \['k_max'\]"):
        policy_from_configuration({**conf, "k_max": 3})
    with pytest.raises(ValueError, match=r"unknown utility gate field\(s\) \['pp'\]"):
        policy_from_configuration({**conf, "gates": {**conf["gates"], "pp": 1}})
    with pytest.raises(ValueError, match="overlapping_public_data"):
        policy_for_level("high", overlapping_public_data="voter roll")  # a string is not a list of names


def ledger_with(tmp_path, *entries: LedgerEntry) -> Ledger:
    ledger = Ledger(tmp_path / "series")
    with ledger.locked():
        for e in entries:
            ledger.record(e, pd.DataFrame({"person": pd.Series([], dtype="int64")}))
    return ledger


def entry(period: str, version: int = 1, **figures) -> LedgerEntry:
    return LedgerEntry("criminal_justice", period, version, f"rid-{period}-{version}", f"tag-{period}-{version}",
                       figures=figures)


def test_the_latest_published_version_is_pinned_with_its_approval_id(tmp_path):
    first = policy_for_level("high", k=20).configuration()
    corrected = policy_for_level("high", k=40).configuration()
    ledger = ledger_with(tmp_path, entry("2024-02", 1, configuration=first, approval_id="CBDRB-1"),
                         entry("2024-02", 2, configuration=corrected, approval_id="CBDRB-2"))
    pinned = pinned_configuration(ledger, "criminal_justice", "2024-02", reviewed=True)
    assert (pinned.version, pinned.approval_id, pinned.policy.k) == (2, "CBDRB-2", 40)
    assert pinned.source() == "2024-02 (version 2, approval CBDRB-2)"


def test_what_cannot_be_pinned_is_refused_with_the_reason(tmp_path):
    conf = policy_for_level("high").configuration()
    ledger = ledger_with(tmp_path, entry("2024-01", 1, configuration=conf),
                         entry("2024-02", 1, start={"k": 10}),
                         entry("2024-03", 1, configuration={**conf, "k": 1}, approval_id="CBDRB-3"))
    with pytest.raises(PinnedConfigurationError, match=r"no release of 2031-01 is published in series "
                                                       r"'criminal_justice' \(published: 2024-01, 2024-02, 2024-03\)"):
        pinned_configuration(ledger, "criminal_justice", "2031-01")
    with pytest.raises(PinnedConfigurationError, match="published before configurations were recorded"):
        pinned_configuration(ledger, "criminal_justice", "2024-02")
    with pytest.raises(PinnedConfigurationError, match="published without disclosure review"):
        pinned_configuration(ledger, "criminal_justice", "2024-01", reviewed=True)
    assert pinned_configuration(ledger, "criminal_justice", "2024-01").approval_id == ""  # no review configured
    with pytest.raises(PinnedConfigurationError, match="is not a policy: k must be at least 2"):
        pinned_configuration(ledger, "criminal_justice", "2024-03", reviewed=True)


def test_a_change_from_the_pinned_configuration_is_listed_for_full_review():
    pinned_policy = policy_for_level("high", k=20, location_level=3)
    pinned = PinnedConfiguration("2024-02", 1, "rid", pinned_policy.configuration(), "CBDRB-FY25-DSEP-017")
    same = review_block(pinned, pinned_policy)
    assert same["review"] == APPROVALS_ONLY and same["changes"] == []
    assert review_sentence(same) == ("pinned from 2024-02 (version 1, approval CBDRB-FY25-DSEP-017), unchanged: "
                                     "every pinned target holds at it (approvals only)")
    moved = pinned_policy.with_changes(k=40, gates=UtilityGates(max_rate_diff_pp=3.0))
    assert [c.text() for c in changes(pinned.configuration, moved)] == [
        "k 20 -> 40", "gates {'max_rate_diff_pp': 2.0, 'large_group_events': 5000, 'small_group_se': 3.0, "
        "'min_group_events': 30, 'min_group_coverage': 0.9, 'enabled': True} -> {'max_rate_diff_pp': 3.0, "
        "'large_group_events': 1000, 'small_group_se': 3.0, 'min_group_events': 30, 'min_group_coverage': 0.9, "
        "'enabled': True}"]
    block = review_block(pinned, moved)
    assert block["review"] == FULL_REVIEW and "k 20 -> 40" in review_sentence(block)
    assert review_sentence(None).startswith("not pinned")
    # a record written before a field existed: the field's default, not a change
    older = {k: v for k, v in pinned.configuration.items() if k != "overlapping_public_data"}
    assert changes(older, pinned_policy) == ()


def test_the_released_configuration_pinned_on_the_same_data_is_released_unchanged():
    data = synth.generate("criminal_justice", 3000, start="2024-01-01", end="2024-01-31", seed=77)
    domain, key = get_domain("criminal_justice"), ReleaseKey(KEY)
    first = make_release(data.people, data.events, domain, policy_for_level("high", k=3, target_risk=0.02), key,
                         salt="2024-01")
    assert first.iterations > 1  # the loop moved from the preset: the pinned configuration is not the preset's
    again = make_release(data.people, data.events, domain, policy_from_configuration(first.policy.configuration()),
                         key, salt="2024-01")
    assert again.iterations == 1 and changes(first.policy.configuration(), again.policy) == ()
    assert again.personas.to_dataframe().equals(first.personas.to_dataframe())
