"""Validation: typing, normalization, each quarantine reason, and exact row reconciliation."""

from __future__ import annotations

import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.ingest.tables import load_input
from personatwin.validate.validation import (
    DUPLICATE_CONFLICT,
    Validated,
    parse_dates,
    validate,
)

DOMAIN = "criminal_justice"
AS_OF = "2022-01-01"


def people() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": ["p1", "p2", "p3", "p4", "p5"],
        "birth_date": ["1990-06-15", "1970-01-01", None, None, "2001-12-31"],
        "age": [None, None, "45", "19", None],
        "sex": ["F", "M", "F", "X", "M"],
        "race": ["White", "Black", "Hispanic", "Asian", "White"],
        "zip": ["68504", "68114", "10001", "94110", "60601"],
    })


def events() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": ["p1", "p1", "p2", "p3", "p4", "p5"],
        "event_type": ["arrest", "hearing", "arrest", "charge", "arrest", "disposition"],
        "event_date": ["2021-01-05", "2021-02-10", "2021-03-01", "2021-03-05", "2021-04-04", "2021-06-30"],
        "end_date": [None, "2021-02-11", None, None, None, None],
        "outcome": ["booked", "detained", "cited", "filed", "booked", "convicted"],
        "value": ["1", None, "2.5", None, None, None],
    })


def run(p: pd.DataFrame, e: pd.DataFrame, **kw) -> Validated:
    v = validate(p, e, DOMAIN, **kw)
    c = v.counts
    assert c["people_in"] == len(p) == c["people_valid"] + c["people_quarantined"] + c["people_duplicates_collapsed"]
    assert c["events_in"] == len(e) == c["events_valid"] + c["events_quarantined"]
    assert len(v.people) == c["people_valid"] and len(v.quarantine_people) == c["people_quarantined"]
    assert len(v.events) == c["events_valid"] and len(v.quarantine_events) == c["events_quarantined"]
    assert v.reconciles
    return v


def test_clean_input_is_all_valid_and_typed():
    v = run(people(), events(), as_of=AS_OF)
    assert v.counts["people_quarantined"] == v.counts["events_quarantined"] == 0
    assert list(v.people.columns) == ["person_id", "age", "sex", "race", "zip"]  # birth_date dropped
    assert v.people.dtypes.astype(str).to_dict() == {
        "person_id": "string", "age": "Int64", "sex": "string", "race": "string", "zip": "string"}
    assert list(v.events.columns) == ["person_id", "event_type", "event_date", "end_date", "outcome", "value"]
    assert v.events.dtypes.astype(str).to_dict() == {
        "person_id": "string", "event_type": "string", "event_date": "datetime64[s]",
        "end_date": "datetime64[s]", "outcome": "string", "value": "float64"}
    ages = dict(zip(v.people.person_id, v.people.age))
    assert ages == {"p1": 31, "p2": 52, "p3": 45, "p4": 19, "p5": 20}  # derived at 2022-01-01
    assert v.as_of == pd.Timestamp(AS_OF)


def test_default_reference_date_is_latest_event():
    v = run(people(), events())
    assert v.as_of == pd.Timestamp("2021-06-30")
    assert dict(zip(v.people.person_id, v.people.age))["p1"] == 31
    assert dict(zip(v.people.person_id, v.people.age))["p5"] == 19


def test_reference_date_is_today_without_events():
    v = run(people(), events().iloc[:0])
    assert v.as_of == pd.Timestamp.today().normalize()


# --- each bad-row kind: (table, index of the bad row, reason, mutation) ----------------------

def _set(table: str, row: int, col: str, value):
    def f(p, e):
        (p if table == "people" else e).loc[row, col] = value
        return p, e
    return f


def _add_event(**fields):
    def f(p, e):
        base = {"person_id": "p1", "event_type": "arrest", "event_date": "2021-05-05", "end_date": None,
                "outcome": "booked", "value": None}
        return p, pd.concat([e, pd.DataFrame([{**base, **fields}])], ignore_index=True)
    return f


BAD = {
    "missing person_id": ("people", 3, "missing person_id", _set("people", 3, "person_id", " ")),
    "unparseable birth_date": ("people", 0, "unparseable birth_date", _set("people", 0, "birth_date", "15/15/1990")),
    "non-numeric age": ("people", 2, "non-numeric age", _set("people", 2, "age", "forty")),
    "negative age": ("people", 2, "impossible age (outside 0-120)", _set("people", 2, "age", "-1")),
    "age above 120": ("people", 2, "impossible age (outside 0-120)", _set("people", 2, "age", "121")),
    "born after as_of": ("people", 4, "impossible age (outside 0-120)", _set("people", 4, "birth_date", "2023-01-01")),
    "missing age": ("people", 3, "missing age", _set("people", 3, "age", None)),
    "unknown sex": ("people", 1, "unknown sex value", _set("people", 1, "sex", "unknown")),
    "missing sex": ("people", 1, "missing sex", _set("people", 1, "sex", "")),
    "missing race": ("people", 1, "missing race", _set("people", 1, "race", None)),
    "non-numeric zip": ("people", 1, "non-numeric zip", _set("people", 1, "zip", "68I14")),
    "zip wrong length": ("people", 1, "invalid zip (not 5 digits or ZIP+4)", _set("people", 1, "zip", "6811400")),
    "zip 00000": ("people", 1, "missing zip", _set("people", 1, "zip", "00000")),
    "unknown person": ("events", 6, "unknown person_id", _add_event(person_id="p99")),
    "event without person": ("events", 6, "missing person_id", _add_event(person_id=None)),
    "unknown event_type": ("events", 6, "event_type not in domain vocabulary", _add_event(event_type="parole")),
    "missing event_type": ("events", 6, "missing event_type", _add_event(event_type="")),
    "outcome of another type": ("events", 6, "outcome not valid for event_type", _add_event(outcome="convicted")),
    "missing outcome": ("events", 6, "missing outcome", _add_event(outcome=None)),
    "unparseable event_date": ("events", 6, "unparseable event_date", _add_event(event_date="2021-02-30")),
    "missing event_date": ("events", 6, "missing event_date", _add_event(event_date=None)),
    "future event": ("events", 6, "event_date in the future", _add_event(event_date="2022-03-01")),
    "unparseable end_date": ("events", 6, "unparseable end_date", _add_event(end_date="soon")),
    "end before start": ("events", 6, "end_date before event_date", _add_event(end_date="2021-05-04")),
    "event before birth": ("events", 6, "event before birth", _add_event(event_date="1989-01-01")),
    "non-numeric value": ("events", 6, "non-numeric value", _add_event(value="lots")),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_row_is_quarantined_with_reason(kind):
    table, idx, reason, mutate = BAD[kind]
    p, e = mutate(people(), events())
    v = run(p, e, as_of=AS_OF)
    q = v.quarantine_people if table == "people" else v.quarantine_events
    hit = q[q["row"] == idx + 1]
    assert hit["reason"].tolist() == [reason]
    assert hit["table"].tolist() == [table]
    if table == "people":
        assert v.counts["people_quarantined"] == 1
        pid = people().loc[idx, "person_id"]
        assert v.counts["events_quarantined"] == (e.person_id == pid).sum()  # the person's events follow
        # (a person row without an id leaves its events without a known person)
        assert set(v.quarantine_events["reason"]) <= {"person quarantined: " + reason, "unknown person_id"}
    else:
        assert v.counts["people_quarantined"] == 0 and v.counts["events_quarantined"] == 1
    assert set(q.columns) >= {"reason", "row", "table"}


def test_duplicate_person_with_conflicting_demographics():
    p = pd.concat([people(), people().iloc[[1]].assign(zip="68115")], ignore_index=True)
    v = run(p, events(), as_of=AS_OF)
    qp = v.quarantine_people
    assert qp["row"].tolist() == [2, 6] and set(qp["reason"]) == {DUPLICATE_CONFLICT}
    assert v.quarantine_events["person_id"].tolist() == ["p2"]
    assert v.quarantine_events["reason"].tolist() == ["person quarantined: " + DUPLICATE_CONFLICT]
    assert "p2" not in set(v.people.person_id)


def test_exact_duplicates_collapse_and_are_counted():
    # Same person spelled differently (f vs F, zip without leading zero) is the same after normalization.
    p = pd.concat([people(), people().iloc[[0]].assign(sex="female", race="WHITE")], ignore_index=True)
    v = run(p, events(), as_of=AS_OF)
    assert v.counts["people_duplicates_collapsed"] == 1
    assert v.counts["people_quarantined"] == 0 and v.counts["people_valid"] == 5
    assert v.counts["events_valid"] == 6


def test_normalization_of_categories_and_zip():
    p = people()
    p["sex"] = ["female", "m", "F", "nonbinary", "Male"]
    p["race"] = ["white", "BLACK", "hispanic", "asian", "Martian"]
    p["zip"] = ["6850", "68114-1234", "100010000", " 94110 ", "60601"]
    e = events()
    e["event_type"] = ["ARREST", "Hearing", "arrest", "charge", "arrest", "disposition"]
    e["outcome"] = ["Booked", "DETAINED", "cited", "filed", "booked", "Convicted"]
    v = run(p, e, as_of=AS_OF)
    assert v.people.sex.tolist() == ["F", "M", "F", "X", "M"]
    assert v.people.race.tolist() == ["White", "Black", "Hispanic", "Asian", "Other"]
    assert v.counts["race_mapped_to_other"] == 1
    assert v.people.zip.tolist() == ["06850", "68114", "10001", "94110", "60601"]
    assert v.events.event_type.tolist() == ["arrest", "hearing", "arrest", "charge", "arrest", "disposition"]
    assert v.events.outcome.tolist() == ["booked", "detained", "cited", "filed", "booked", "convicted"]


def test_dates_in_mixed_formats_are_floored_to_days():
    d, missing, bad = parse_dates(pd.Series(["2022-07-20T07:13:55Z", "07/04/2021", "2021-03-01 23:59", None, "x"]))
    assert d.dtype == "datetime64[s]"
    assert d.iloc[:3].tolist() == [pd.Timestamp("2022-07-20"), pd.Timestamp("2021-07-04"), pd.Timestamp("2021-03-01")]
    assert missing.tolist() == [False, False, False, True, False]
    assert bad.tolist() == [False, False, False, False, True]


def test_typed_input_is_accepted():
    p = people().assign(age=[None, None, 45, 19, None], zip=[68504, 68114, 10001, 94110, 60601])
    p["birth_date"] = pd.to_datetime(p["birth_date"])
    e = events().assign(event_date=pd.to_datetime(events()["event_date"]).dt.tz_localize("UTC"),
                        value=[1.0, None, 2.5, None, None, None])
    v = run(p, e, as_of=AS_OF)
    reference = run(people(), events(), as_of=AS_OF)
    pd.testing.assert_frame_equal(v.people, reference.people)
    pd.testing.assert_frame_equal(v.events, reference.events)


def test_fractional_ages_stay_float():
    p = people().assign(age=["30.5", "40", "45", "19", "20"], birth_date=None)
    v = run(p, events(), as_of=AS_OF)
    assert v.people.age.dtype == "float64" and v.people.age.iloc[0] == 30.5


def test_quarantine_rows_come_from_ingest_and_hide_identifiers():
    p = people().assign(ssn=[f"{100 + i}-55-{1000 + i}" for i in range(5)])
    p.loc[1, "zip"] = "abc"
    ing = load_input(people=p, events=events(), domain=DOMAIN, column_mapping={"ssn": "drop"})
    v = run(ing.people, ing.events, as_of=AS_OF)
    assert v.quarantine_people["row"].tolist() == [2]
    # validate() called directly on raw frames never carries unknown columns either
    v2 = run(p, events(), as_of=AS_OF)
    for frame in (v2.people, v2.events, v2.quarantine_people, v2.quarantine_events):
        assert "ssn" not in frame.columns
    assert "birth_date" in v2.quarantine_people.columns  # the offending row as given, for fixing


def test_mixed_bad_rows_reconcile_exactly():
    p, e = people(), events()
    for mutate in (BAD["non-numeric zip"][3], BAD["unknown person"][3], BAD["future event"][3]):
        p, e = mutate(p, e)
    p = pd.concat([p, p.iloc[[0]]], ignore_index=True)  # exact duplicate
    v = run(p, e, as_of=AS_OF)
    assert v.counts == {
        "people_in": 6, "people_valid": 4, "people_quarantined": 1, "people_duplicates_collapsed": 1,
        "events_in": 8, "events_valid": 5, "events_quarantined": 3, "race_mapped_to_other": 0,
    }
    reasons = v.reason_counts()
    assert reasons[("events", "person quarantined: non-numeric zip")] == 1
    assert len(v.quarantine) == 4


def test_events_of_quarantined_person_say_why():
    p = people()
    p.loc[0, "age"] = "130"
    p.loc[0, "birth_date"] = None
    v = run(p, events(), as_of=AS_OF)
    assert v.quarantine_events["reason"].tolist() == ["person quarantined: impossible age (outside 0-120)"] * 2


def test_custom_domain_without_race_or_zip():
    d = get_domain({"name": "tiny", "event_types": {"visit": ["ok", "bad"]}, "qis": ["age", "sex"]})
    p = people()[["person_id", "age", "sex"]].assign(age=["1", "2", "3", "4", "5"])
    e = pd.DataFrame({"person_id": ["p1"], "event_type": ["Visit"], "event_date": ["2021-01-01"], "outcome": ["OK"]})
    v = validate(p, e, d)
    assert list(v.people.columns) == ["person_id", "age", "sex"]
    assert v.events.outcome.tolist() == ["ok"] and v.reconciles
