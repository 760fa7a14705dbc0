"""Draft a custom domain (issue 17 item 2): from column summaries of a new data set, the rule-based advisor
drafts a domain YAML that loads, names the right columns, and never holds a value fewer than min_people share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import personatwin as pt
from personatwin.advisor import draft_domain
from personatwin.advisor.payload import MIN_PEOPLE, draft_domain_payload
from personatwin.advisor.rules import RulesAdvisor, column_mapping, roles_of
from personatwin.core.domains import BUILTIN_DOMAINS, get_domain, load_domain_yaml
from personatwin.ingest.synth import generate

RARE_TYPE, RARE_OUTCOME, RARE_RACE = "escape_attempt", "pardoned_by_governor", "Zzyzx"
PEOPLE_NAMES = {"person_id": "PID", "birth_date": "DOB", "sex": "Gender", "race": "Ethnicity", "zip": "ZipCode"}
EVENT_NAMES = {"person_id": "PID", "event_type": "Kind", "outcome": "Result", "event_date": "OccurredOn",
               "end_date": "ReleaseDate", "value": "BailAmount", "location": "Site"}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A court data set under its own column names, with identifiers, a count, and rare values (held by fewer
    than min_people people) planted in the type, outcome and race columns."""
    d = generate("criminal_justice", n_people=800, events_per_person=4, seed=7,
                 sensitive_counts={"prior_offenses": 0.4})
    people, events = d.people.copy(), d.events.copy()
    rng = np.random.default_rng(7)
    people["full_name"] = [f"Person{i} Lastname{i}" for i in range(len(people))]
    people["ssn"] = [f"{rng.integers(100, 999)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}"
                     for _ in range(len(people))]
    events["case_number"] = [f"CR-{i:07d}" for i in range(len(events))]
    few = MIN_PEOPLE - 1
    people.loc[people.index[:few], "race"] = RARE_RACE
    first_event = events.drop_duplicates("person_id").index
    events.loc[first_event[:few], "event_type"] = RARE_TYPE
    events.loc[first_event[few:2 * few], "outcome"] = RARE_OUTCOME
    return (people.rename(columns={**PEOPLE_NAMES, "prior_offenses": "PriorOffenses"}),
            events.rename(columns=EVENT_NAMES))


def test_the_draft_loads_and_names_the_right_columns(data, tmp_path):
    people, events = data
    text = draft_domain(people, events, "PID")
    assert text.startswith("# DRAFT: review every line before use")
    domain = get_domain(yaml.safe_load(text))
    path = tmp_path / "draft.yaml"
    path.write_text(text)
    assert load_domain_yaml(path) == get_domain(str(path)) == domain
    assert set(domain.event_types) == {"arrest", "charge", "hearing", "disposition", "sentence"}
    assert {"booked", "detained", "convicted", "probation"} <= set(domain.outcomes)
    assert domain.qis == ("age", "sex", "race", "zip") and domain.bias_attributes == ("sex", "race")
    assert domain.location_qi == "zip"
    assert {"full_name", "ssn", "case_number"} <= set(domain.direct_identifiers)
    assert domain.sensitive == ("PriorOffenses",) and domain.sensitive_attribute("PriorOffenses").ordered
    for source, target in {"PID": "person_id", "Kind": "event_type", "Result": "outcome", "OccurredOn": "event_date",
                           "ReleaseDate": "end_date", "DOB": "birth_date", "Gender": "sex", "Ethnicity": "race",
                           "ZipCode": "zip", "BailAmount": "value", "Site": "location"}.items():
        assert f"#   {source}: {target}\n" in text


def test_a_value_fewer_than_min_people_share_appears_neither_in_the_payload_nor_in_the_draft(data):
    people, events = data
    payload = draft_domain_payload(people, events, "PID", BUILTIN_DOMAINS)
    text = RulesAdvisor().draft_domain(payload).value
    for rare in (RARE_TYPE, RARE_OUTCOME, RARE_RACE):
        assert rare not in payload.text() and rare not in text
    for value in ("Person0 Lastname0", people["ssn"].iloc[0], "CR-0000000", people["PID"].iloc[0]):
        assert value not in payload.text() and value not in text
    # the same values shared by min_people people are common enough to be shown
    more = people.copy()
    more.loc[more.index[:MIN_PEOPLE], "Ethnicity"] = RARE_RACE
    assert RARE_RACE in draft_domain_payload(more, events, "PID", BUILTIN_DOMAINS).text()


def test_identifier_columns_are_sent_by_name_only(data):
    """However common its values, a column named like an identifier is summarized without values."""
    people, events = data
    people = people.assign(full_name="Common Name")
    summary = draft_domain_payload(people, events, "PID", BUILTIN_DOMAINS).content["people"]["columns"]["full_name"]
    assert summary["identifier"] is True and "common_values" not in summary


def test_the_drafted_domain_and_mapping_release_the_data(data):
    """The draft is usable as is: with its column mapping the data set goes through a release (rare values are
    quarantined by validation, identifiers dropped at ingest)."""
    people, events = data
    payload = draft_domain_payload(people, events, "PID", BUILTIN_DOMAINS)
    text = RulesAdvisor().draft_domain(payload).value
    mapping = column_mapping(roles_of(payload.content))
    result = pt.create_safe_personas(people=people, events=events, domain=yaml.safe_load(text), key="k" * 32,
                                     column_mapping=mapping, privacy_level="low", preserve_for_analysis=[])
    assert len(result.events) > 0
    assert {"full_name", "ssn", "case_number"} <= set(result.dropped_identifiers)


def test_headers_that_look_like_data_are_withheld():
    """A table read without its header row is named by its first row: no such name is sent."""
    table = pd.DataFrame({"123-45-6789": ["987-65-4321"] * 3, "2023-04-05": ["2023-04-06"] * 3,
                          "Jane Roe": ["John Doe"] * 3})
    payload = draft_domain_payload(table, table, None, [])
    assert "123-45-6789" not in payload.text() and "Jane Roe" not in payload.text()
    assert set(payload.content["people"]["columns"]) == {"column 1", "column 2", "column 3"}
    assert "event_types" in yaml.safe_load(RulesAdvisor().draft_domain(payload).value)
