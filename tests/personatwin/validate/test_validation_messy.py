"""A messy input end to end: every output table of validation pinned, row by row, with its dtypes.

Spelling variants (case, spaces, synonyms), exact and conflicting duplicates, unknown ids and vocabulary,
bad and missing dates and numbers, NUL bytes: the valid tables, the quarantine (rows, reasons, order) and
the counts must stay exactly these, whichever way validation computes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.ingest.tables import load_input
from personatwin.validate.validation import validate

DOMAIN = "criminal_justice"
AS_OF = "2022-01-01"

PEOPLE = [  # person_id, birth_date, age, sex, race, zip
    # valid, in the spellings validation normalizes
    ("p1", "1990-06-15", None, "F", "White", "68504"),
    (" p2", "07/04/1985", None, "female", "WHITE", "6850"),
    ("p3 ", None, " 45 ", " M ", "african american", " 94110 "),
    ("p4", "1970-01-01T10:30:00Z", None, "Non  Binary", "two or more  races", "68114-1234"),
    ("p5", None, "-0", "m", "Martian", "100010000"),
    ("p6", None, "30.5", "x", "  black  ", "68504"),
    ("p7", "2001-12-31 23:59", None, "MALE", "Hispanic or Latino", "68504"),
    ("p8", "1980-02-29", "41", "F", "unknown", "0"),
    # duplicates: exact after normalization (collapsed) and conflicting (quarantined)
    ("p1", "1990-06-15 00:00", None, "f", "white", "68504"),
    ("p2", "1985-07-04", None, "F", "White", "06850"),
    ("p9", None, "22", "F", "Asian", "68504"),
    ("p9", None, "23", "F", "Asian", "68504"),
    # bad rows
    ("p10", "15/15/1990", None, "F", "White", "68504"),
    ("p11", "2030-01-01", None, "F", "White", "68504"),
    ("p12", None, "forty", "F", "White", "68504"),
    ("p13", None, "130", "F", "White", "68504"),
    ("p14", None, "", "F", "White", "68504"),
    ("p15", None, "30", "unknown", "White", "68504"),
    ("p16", None, "30", None, "White", "68504"),
    ("p17", None, "30", "F", None, "68504"),
    ("p18", None, "30", "F", "White", "68I14"),
    ("p19", None, "30", "F", "White", "123456"),
    ("p20", None, "30", "F", "White", "00000"),
    ("p21\x00", None, "30", "F", "White", "68504"),
    (None, None, "30", "F", "White", "68504"),
    ("  ", None, "30", "F", "White", "68504"),
]

EVENTS = [  # person_id, event_type, event_date, end_date, outcome, value
    ("p1", "arrest", "2021-01-05", None, "booked", "1"),
    ("p1", "ARREST ", "2021-02-10", None, " Booked", None),
    ("p2", "Hearing", "03/01/2021", "2021-03-02", "released  on bail", "2.5"),
    (" p3", "charge", "2021-03-05 10:00", None, "filed", "-0"),
    ("p4", "disposition", "2021-06-30T23:00:00-05:00", None, "Convicted", None),
    ("p5", "sentence", "2021-05-05", "2021-06-05", "community_service", "1e3"),
    ("p6", "hearing", "2021-05-05", None, "detained", None),
    ("p7", "arrest", "2021-05-05", None, "cited", None),
    ("p8", "charge", "2021-05-05", None, "Dropped", None),
    ("p8", "charge", "2021-05-05", None, "dropped", None),
    # bad events of valid people
    ("p1", "charge", "2021-03-05", None, "filed", "lots"),
    ("p1", "arrest", "2021-02-30", None, "cited", None),
    ("p1", "disposition", "2021-06-30", None, "convicted", "inf"),
    ("p1", "parole", "2021-05-05", None, "granted", None),
    ("p1", "sentence", "2021-05-05", "2021-05-04", "fine", None),
    ("p1", "hearing", None, None, "detained", None),
    ("p1", "arrest", "2022-03-01", None, "booked", None),
    ("p3", "arrest", "1800-01-01", None, "booked", None),
    ("p1", "arrest", "2021-05-05", "soon", "booked", None),
    ("p1", "arrest", "2021-05-05", None, "convicted", None),
    ("p1", None, "2021-05-05", None, "booked", None),
    ("p1", "arrest", "2021-05-05", None, None, None),
    ("p1", "arrest", "1989-01-01", None, "booked", None),
    ("p1", "arr\x00est", "2021-07-07", None, "booked", None),
    ("p99", "arrest", "2021-05-05", None, "booked", None),
    (None, "arrest", "2021-05-05", None, "booked", None),
    # events of quarantined people
    ("p9", "arrest", "2021-05-05", None, "booked", None),
    ("p13", "arrest", "2021-05-05", None, "booked", None),
    ("p21\x00", "arrest", "2021-05-05", None, "booked", None),
]

VALID_PEOPLE = pd.DataFrame({
    "person_id": pd.array(["p1", "p2", "p3", "p4", "p5", "p6", "p7"], dtype="string"),
    "age": [31.0, 36.0, 45.0, 52.0, -0.0, 30.5, 20.0],  # 30.5 keeps the column float, -0 stays -0.0
    "sex": pd.array(["F", "F", "M", "X", "M", "X", "M"], dtype="string"),
    "race": pd.array(["White", "White", "Black", "Multiracial", "Other", "Black", "Hispanic"], dtype="string"),
    "zip": pd.array(["68504", "06850", "94110", "68114", "10001", "68504", "68504"], dtype="string"),
})

VALID_EVENTS = pd.DataFrame({
    "person_id": pd.array(["p1", "p1", "p3", "p4", "p5", "p6", "p7"], dtype="string"),
    "event_type": pd.array(["arrest", "arrest", "charge", "disposition", "sentence", "hearing", "arrest"],
                           dtype="string"),
    "event_date": pd.to_datetime(["2021-01-05", "2021-02-10", "2021-03-05", "2021-07-01", "2021-05-05",
                                  "2021-05-05", "2021-05-05"]).astype("datetime64[s]"),
    "end_date": pd.to_datetime([None, None, None, None, "2021-06-05", None, None]).astype("datetime64[s]"),
    "outcome": pd.array(["booked", "booked", "filed", "convicted", "community_service", "detained", "cited"],
                        dtype="string"),
    "value": [1.0, np.nan, -0.0, np.nan, 1000.0, np.nan, np.nan],
})

QUARANTINED_PEOPLE = [  # (source row, reason)
    (8, "missing zip"),
    (11, "duplicate person_id with conflicting demographics"),
    (12, "duplicate person_id with conflicting demographics"),
    (13, "unparseable birth_date"),
    (14, "birth_date in the future"),
    (15, "non-numeric age"),
    (16, "impossible age (outside 0-120)"),
    (17, "missing age"),
    (18, "unknown sex value"),
    (19, "missing sex"),
    (20, "missing race"),
    (21, "non-numeric zip"),
    (22, "invalid zip (not 5 digits or ZIP+4)"),
    (23, "missing zip"),
    (24, "NUL byte in person_id"),
    (25, "missing person_id"),
    (26, "missing person_id"),
]

QUARANTINED_EVENTS = [
    (3, "outcome not valid for event_type"),
    (9, "person quarantined: missing zip"),
    (10, "person quarantined: missing zip"),
    (11, "non-numeric value"),
    (12, "unparseable event_date"),
    (13, "non-finite value (infinite)"),
    (14, "event_type not in domain vocabulary"),
    (15, "end_date before event_date"),
    (16, "missing event_date"),
    (17, "event_date in the future"),
    (18, "event_date before 1900-01-01"),
    (19, "unparseable end_date"),
    (20, "outcome not valid for event_type"),
    (21, "missing event_type"),
    (22, "missing outcome"),
    (23, "event before birth"),
    (24, "NUL byte in event_type"),
    (25, "unknown person_id"),
    (26, "missing person_id"),
    (27, "person quarantined: duplicate person_id with conflicting demographics"),
    (28, "person quarantined: impossible age (outside 0-120)"),
    (29, "NUL byte in person_id"),
]

COUNTS = {
    "people_in": 26, "people_valid": 7, "people_quarantined": 17, "people_duplicates_collapsed": 2,
    "events_in": 29, "events_valid": 7, "events_quarantined": 22, "race_mapped_to_other": 1,
}


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    people = pd.DataFrame(PEOPLE, columns=["person_id", "birth_date", "age", "sex", "race", "zip"])
    events = pd.DataFrame(EVENTS, columns=["person_id", "event_type", "event_date", "end_date", "outcome", "value"])
    return people, events


def ingested() -> tuple[pd.DataFrame, pd.DataFrame]:
    """As the pipeline hands them over: through ingest, indexed by source row."""
    ing = load_input(people=frames()[0], events=frames()[1], domain=DOMAIN)
    return ing.people, ing.events


def quarantined(q: pd.DataFrame) -> list[tuple[int, str]]:
    return [(int(r), str(x)) for r, x in zip(q["row"], q["reason"])]


@pytest.mark.parametrize("source", [frames, ingested])
def test_messy_input_gives_exactly_these_tables(source):
    people, events = source()
    v = validate(people, events, DOMAIN, as_of=AS_OF)
    assert v.reconciles
    pd.testing.assert_frame_equal(v.people, VALID_PEOPLE, check_exact=True)
    pd.testing.assert_frame_equal(v.events, VALID_EVENTS, check_exact=True)
    assert np.signbit(v.people["age"].iloc[4]) and np.signbit(v.events["value"].iloc[2])  # -0.0, not 0.0
    assert quarantined(v.quarantine_people) == QUARANTINED_PEOPLE
    assert quarantined(v.quarantine_events) == QUARANTINED_EVENTS
    assert v.counts == COUNTS


@pytest.mark.parametrize("source", [frames, ingested])
def test_messy_quarantine_keeps_the_rows_as_given(source):
    people, events = source()
    v = validate(people, events, DOMAIN, as_of=AS_OF)
    qp, qe = v.quarantine_people, v.quarantine_events
    assert list(qp.columns) == ["person_id", "birth_date", "age", "sex", "race", "zip", "reason", "row", "table"]
    assert list(qe.columns) == ["person_id", "event_type", "event_date", "end_date", "outcome", "value", "reason",
                                "row", "table"]
    assert {str(t) for t in qp.dtypes} == {"string", "Int64"} and {str(t) for t in qe.dtypes} == {"string", "Int64"}
    given = people.reset_index(drop=True)  # source row r is position r - 1 here
    for row, got in zip(qp["row"], qp.drop(columns=["reason", "row", "table"]).itertuples(index=False)):
        expected = given.iloc[int(row) - 1]
        assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in expected]
    assert set(qp["table"]) == {"people"} and set(qe["table"]) == {"events"}
    assert qe.loc[qe["row"] == 29, "person_id"].tolist() == ["p21\x00"]  # the offending id, unrepaired
