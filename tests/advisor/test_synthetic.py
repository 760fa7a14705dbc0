"""Synthetic events (issue 17 item 2): sample data for a (custom) domain from its vocabulary and published
aggregates only: dated inside the period, vocabulary values only, flagged synthetic, valid, reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.advisor import SyntheticDataError, SyntheticSpec, published_aggregates, synthetic_events
from personatwin.advisor.drafts import synthetic_sample, synthetic_spec
from personatwin.advisor.payload import synthetic_payload
from personatwin.advisor.rules import RulesAdvisor
from personatwin.advisor.synthetic import period_bounds
from personatwin.core.domains import get_domain
from personatwin.ingest.synth import generate
from personatwin.validate.validation import validate

LIBRARY = {"name": "library", "event_types": {"loan": ["returned", "late", "lost"], "visit": ["attended"],
                                              "fine": ["paid", "waived"]},
           "qis": ["age", "sex", "branch"],
           "hierarchies": {"branch": {"type": "groups", "groups": {"north": ["N1", "N2"], "south": ["S1"]}}},
           "location_qi": None}
UNIFORM = SyntheticSpec(300, 3.0, {}, {}, "test")


def _days(events: pd.DataFrame) -> np.ndarray:
    return events["event_date"].to_numpy().astype("datetime64[D]")


@pytest.mark.parametrize("period, first, last", [("2024-06", "2024-06-01", "2024-06-30"),
                                                 ("2024-Q2", "2024-04-01", "2024-06-30"),
                                                 ("2024-06-01/2024-06-10", "2024-06-01", "2024-06-10"),
                                                 ("2023", "2023-01-01", "2023-12-31")])
def test_events_are_dated_inside_the_period(period, first, last):
    assert period_bounds(period) == (np.datetime64(first), np.datetime64(last))
    _, events = synthetic_events("criminal_justice", UNIFORM, period, seed=1)
    days = _days(events)
    assert days.min() >= np.datetime64(first) and days.max() <= np.datetime64(last)


def test_only_vocabulary_values_flagged_synthetic_and_valid():
    domain = get_domain("healthcare")
    people, events = synthetic_events(domain, UNIFORM, "2024-06", seed=3)
    assert len(people) == 300 and len(events) >= 300 and events["person_id"].isin(people["person_id"]).all()
    assert people["synthetic"].all() and events["synthetic"].all()
    for t, o in events[["event_type", "outcome"]].drop_duplicates().itertuples(index=False):
        assert o in domain.event_types[t]
    assert set(events["event_type"]) == set(domain.event_types)  # uniform over the vocabulary: every type drawn
    checked = validate(people, events, domain, as_of="2024-06-30")
    assert checked.quarantine.empty and len(checked.events) == len(events)
    assert set(people.columns) == {"person_id", "birth_date", "sex", "race", "zip", "synthetic"}


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    a = synthetic_events("education", UNIFORM, "2024-Q1", seed=11)
    b = synthetic_events("education", UNIFORM, "2024-Q1", seed=11)
    c = synthetic_events("education", UNIFORM, "2024-Q1", seed=12)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[1].equals(c[1])


def test_a_custom_domain_mapping_works():
    """QIs from the domain's own hierarchies (branch groups), events from its vocabulary."""
    people, events = synthetic_events(LIBRARY, UNIFORM, "2024-06", seed=2)
    assert set(people.columns) == {"person_id", "birth_date", "sex", "branch", "synthetic"}
    assert set(people["branch"]) <= {"N1", "N2", "S1"} and set(people["sex"]) <= {"F", "M", "X"}
    assert set(events["event_type"]) == {"loan", "visit", "fine"}
    assert validate(people, events, LIBRARY, as_of="2024-06-30").quarantine.empty


def test_shares_follow_the_spec_and_ignore_values_outside_the_vocabulary():
    spec = SyntheticSpec(400, 2.0, {"loan": 0.75, "visit": 0.25, "smuggling": 5.0},
                         {"loan": {"lost": 1.0, "stolen": 3.0}}, "test")
    _, events = synthetic_events(LIBRARY, spec, "2024-06", seed=4)
    assert set(events["event_type"]) == {"loan", "visit"}
    assert 0.65 < (events["event_type"] == "loan").mean() < 0.85
    assert set(events.loc[events["event_type"] == "loan", "outcome"]) == {"lost"}
    assert abs(len(events) / 400 - 2.0) < 0.3


def test_the_rules_spec_uses_published_aggregates_when_given_and_the_vocabulary_otherwise():
    domain = get_domain(LIBRARY)
    given = {"event_type_shares": {"loan": 0.5, "visit": 0.5}, "outcome_shares": {"loan": {"late": 1.0}},
             "events_per_person": 4.0}
    spec = synthetic_spec(domain, given, "2024-06", 50)
    assert spec.generated_by == "rules" and spec.n_people == 50 and spec.events_per_person == 4.0
    assert spec.event_type_shares == {"loan": 0.5, "visit": 0.5, "fine": 0.0}
    assert spec.outcome_shares["loan"] == {"returned": 0.0, "late": 1.0, "lost": 0.0}
    assert spec.outcome_shares["fine"] == {"paid": 0.5, "waived": 0.5} and "aggregates" in spec.note
    plain = RulesAdvisor().synthetic_spec(synthetic_payload(domain, {}, "2024-06", 50)).value
    assert plain.event_type_shares == {t: pytest.approx(1 / 3) for t in ("loan", "visit", "fine")}
    assert "uniform" in plain.note


def test_a_sample_from_a_release_s_published_aggregates_goes_through_a_release():
    """Aggregates of a release's published events drive the sample; the sample itself can be released."""
    d = generate("criminal_justice", n_people=300, events_per_person=3, seed=5)
    release = pt.create_safe_personas(people=d.people, events=d.events, domain="criminal_justice", key="k" * 32,
                                      privacy_level="low", preserve_for_analysis=[])
    n_people = int(release.personas.to_dataframe()["size"].sum())
    aggregates = published_aggregates(release.events, n_people)
    assert set(aggregates["event_type_shares"]) <= set(release.domain.event_types)
    people, events = synthetic_sample("criminal_justice", aggregates, "2024-06", 300, seed=5)
    assert events["synthetic"].all() and len(people) == 300
    assert not set(people["person_id"]) & set(d.people["person_id"].astype(str))
    sample = pt.create_safe_personas(people=people, events=events, domain="criminal_justice", key="k" * 32,
                                     privacy_level="low", preserve_for_analysis=[])
    assert len(sample.events) == len(events)


def test_bad_requests_are_refused():
    with pytest.raises(SyntheticDataError, match="period"):
        synthetic_events("criminal_justice", UNIFORM, "June 2024", seed=0)
    with pytest.raises(SyntheticDataError, match="at least one person"):
        synthetic_events("criminal_justice", SyntheticSpec(0, 1.0, {}, {}, "test"), "2024-06", seed=0)
    with pytest.raises(SyntheticDataError, match="no event type with outcomes"):
        synthetic_events({"name": "empty", "event_types": {"visit": []}}, UNIFORM, "2024-06", seed=0)
