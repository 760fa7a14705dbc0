"""Issue 13's acceptance case: two skewed person-level counts (0 for 35% and 95% of people) declared as
numeric sensitive attributes release at medium and high, as accurately per group as the same data without them."""

from __future__ import annotations

import pytest

import personatwin as pt
from personatwin.core.domains import get_domain
from personatwin.core.sensitive import NUMERIC, SensitiveAttribute
from personatwin.ingest import synth
from personatwin.publish.published import PublishedRelease
from personatwin.publish.report import render_report

COUNTS = ("prior_offenses", "juvenile_felonies")
KEY = "skewed-release-key-0123456789abcdef"


@pytest.fixture(scope="module")
def skewed():
    return synth.generate("criminal_justice", 20_000, seed=11, sensitive_counts={COUNTS[0]: 0.35, COUNTS[1]: 0.95})


def largest_gated_difference(release) -> float:
    rates = release.utility.group_rates
    return float(rates.query("gate != 'none'")["diff_pp"].abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("level", ["medium", "high"])
def test_skewed_counts_release_at_medium_and_high(skewed, level):
    base = get_domain("criminal_justice")
    zero = {c: (skewed.people[c] == 0).mean() for c in COUNTS}
    assert zero[COUNTS[0]] == pytest.approx(0.35, abs=0.01) and zero[COUNTS[1]] == pytest.approx(0.95, abs=0.01)
    domain = base.with_overrides(sensitive=COUNTS,
                                 sensitive_types={c: SensitiveAttribute(c, NUMERIC) for c in COUNTS})
    release = pt.create_safe_personas(people=skewed.people, events=skewed.events, privacy_level=level,
                                      domain=domain, key=KEY, salt="2024")
    without = pt.create_safe_personas(people=skewed.people.drop(columns=list(COUNTS)), events=skewed.events,
                                      privacy_level=level, domain=base, key=KEY, salt="2024")
    policy, m = release.policy, release.metrics()
    assert m["k_anonymity"] >= policy.k >= pt.policy_for_level(level).k
    assert release.release_risk <= policy.target_risk
    rates = release.utility.group_rates
    large = rates[rates["n_original"] >= 1_000]
    assert len(large) and (large["diff_pp"].abs() <= policy.gates.max_rate_diff_pp).all()
    for c in COUNTS:
        assert m[f"t_closeness.{c}"] <= policy.max_t_closeness_by_attribute.get(c, policy.max_t_closeness)
    # per-attribute t and recursive c are in the published report's diversity table
    html = render_report(PublishedRelease.from_tables(release.tables()))
    for c in COUNTS:
        assert c in html
    assert "recursive" in html and "ordered ranges: t = EMD over the ordered ranges" in html
    # declaring the counts costs the analysts nothing: per-group differences no worse than without them
    assert largest_gated_difference(release) <= largest_gated_difference(without) + 1e-9
    print(level, policy.k, without.policy.k, release.release_risk, largest_gated_difference(release),
          largest_gated_difference(without), {c: m[f"t_closeness.{c}"] for c in COUNTS})
