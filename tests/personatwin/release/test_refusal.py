"""Refusals that help (issue 13, item 4): the binding attribute, the share of personas failing, the cause in
numbers, and changes the loop tried; a change reported to pass does pass when the user applies it."""

from __future__ import annotations

import pytest

import personatwin as pt
from personatwin.core.domains import get_domain
from personatwin.core.errors import PrivacyTargetError
from personatwin.core.sensitive import NUMERIC, SensitiveAttribute
from personatwin.ingest import synth
from personatwin.release.refusal import Refusal, Suggestion

COUNTS = ("prior_offenses", "juvenile_felonies")
KEY = "refusal-test-key-0123456789abcdef"
# ages are derived as of this day (the day after the generated events end), never the day the test runs: on
# 2026-12-01 a birthday tipped the 0.95-skewed data of this test from refused to released at k=100
AS_OF = "2025-01-01"


@pytest.fixture(scope="module")
def skewed():
    return synth.generate("criminal_justice", 4_000, seed=5, sensitive_counts={COUNTS[0]: 0.35, COUNTS[1]: 0.97})


def test_a_refusal_names_the_attribute_the_cause_and_a_change_that_passes_when_applied(skewed):
    base = get_domain("criminal_justice")
    with pytest.raises(PrivacyTargetError) as refused:
        pt.create_safe_personas(people=skewed.people, events=skewed.events, privacy_level="maximum",
                                domain=base.with_overrides(sensitive=COUNTS), key=KEY, salt="2024", as_of=AS_OF)
    why = refused.value.refusal
    assert why.target == "l-diversity" and why.attribute == "juvenile_felonies"
    zero_share = (skewed.people["juvenile_felonies"] == 0).mean()
    assert f"{zero_share:.0%} of people share the value '0' of juvenile_felonies" in why.cause
    assert 0 < why.failing_share < 1
    message = str(refused.value)
    assert "Binding target: l-diversity on juvenile_felonies" in message and why.cause in message
    assert len(why.suggestions) >= 2 and any(s.passes for s in why.suggestions)
    assert list(why.table().columns) == ["change", "passes", "outcome"]
    numeric = next(s for s in why.suggestions if s.change.startswith("declare juvenile_felonies numeric"))
    assert numeric.passes, numeric
    # the user applies the change the refusal says passes: the release happens, at the k it announced
    released = pt.create_safe_personas(
        people=skewed.people, events=skewed.events, privacy_level="maximum",
        domain=base.with_overrides(sensitive=COUNTS, sensitive_types={
            "juvenile_felonies": SensitiveAttribute("juvenile_felonies", NUMERIC)}), key=KEY, salt="2024",
        as_of=AS_OF)
    assert f"releases at k={released.policy.k}," in numeric.outcome
    assert released.release_risk <= released.policy.target_risk


def test_the_refusal_text_reports_each_change_tried():
    why = Refusal("t-closeness", "t-closeness of a 0.9 > limit 0.6", "a", 0.25,
                  "90% of people share the value '0' of a",
                  (Suggestion("coarser ranges for a: 2 instead of 5", True, "releases at k=20, release risk 0.0050"),
                   Suggestion("allow k up to 200 (max_k)", False, "still misses t-closeness of a 0.7 > limit 0.6")))
    text = why.text()
    assert text.startswith("Binding target: t-closeness on a; 25% of personas fail it; 90% of people share")
    assert "coarser ranges for a: 2 instead of 5: PASSES" in text and "allow k up to 200 (max_k): does not pass" in text
