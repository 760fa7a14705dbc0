"""HIPAA Safe Harbor section (issue 15): a generated healthcare release publishing a restricted ZIP3 area, months
and free text fails those rules by name, and passes every rule once geography and dates are generalized."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.core.domains import get_domain
from personatwin.govern.safe_harbor import check_safe_harbor, restricted_zip3, safe_harbor_of
from personatwin.ingest import synth

DOMAIN = get_domain("healthcare")


def test_the_shipped_list_is_hhs_seventeen_areas():
    areas = restricted_zip3()
    assert len(areas) == 17 and {"036", "059", "893"} <= areas and "681" not in areas


@pytest.fixture(scope="module")
def people_in_a_restricted_area():
    """Generated patients, half of them living in ZIP3 area 036 (20,000 or fewer people), half in 681."""
    data = synth.generate("healthcare", 3000, seed=4)
    rng = np.random.default_rng(4)
    zips = np.where(rng.random(len(data.people)) < 0.5, "03601", "68102")
    people = data.people.assign(zip=zips)
    events = data.events.drop(columns=["location"]).merge(people[["person_id", "zip"]], on="person_id") \
        .rename(columns={"zip": "location"})
    return people, events


def release(people, events, **overrides):
    return pt.create_safe_personas(people=people, events=events, domain="healthcare", privacy_level="medium",
                                   key="safe-harbor-test-key-0123456789abcdef", salt="2024-06",
                                   target_risk=0.2, **overrides).tables()


def test_a_restricted_zip3_and_months_fail_then_pass_after_generalization(people_in_a_restricted_area):
    people, events = people_in_a_restricted_area
    fine = {r.rule: r for r in safe_harbor_of(release(people, events, location_level=1), DOMAIN)}
    geo = fine["geography: no area smaller than three ZIP digits; restricted ZIP3 areas as 000"]
    assert not geo.passed and "ZIP3 area 036 has 20,000 or fewer people" in geo.detail
    assert "681" not in geo.detail  # a populous area may stay
    assert not fine["dates no finer than the year"].passed
    assert fine["no free text"].passed and fine["ages over 89 only as 90+"].passed
    coarse = safe_harbor_of(release(people, events, location_level=2, date_precision="year"), DOMAIN)
    assert all(r.passed for r in coarse), [r for r in coarse if not r.passed]


def test_exact_old_ages_finer_geography_and_free_text_are_named():
    personas = pd.DataFrame({"persona_id": ["a", "b", "c"], "age": ["85-89", "90+", "93"],
                             "zip": ["68102", "681**", "000**"], "note": ["x", "y", "z"]})
    events = pd.DataFrame({"persona_id": ["a"], "location": ["059**"]})
    results = {r.rule.split(":")[0]: r for r in check_safe_harbor(personas, events, "year", qis=("age", "zip"))}
    assert "zip 68102: finer than three ZIP digits" in results["geography"].detail
    assert "location 059**: ZIP3 area 059" in results["geography"].detail and "000**" not in results["geography"].detail
    assert results["ages over 89 only as 90+"].detail == "age 93: an age over 89 other than the single 90+ category"
    assert results["no free text"].detail == "free-text columns: personas.note"
    assert results["dates no finer than the year"].passed
