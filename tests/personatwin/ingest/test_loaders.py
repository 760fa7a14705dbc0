"""Loaders: Synthea (shared Nebraska sample and a tiny hand-made folder) and court extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.errors import DirectIdentifierError, InputError
from personatwin.ingest.loaders import (
    SYNTHEA_IDENTIFIERS,
    SYNTHEA_MAPPING,
    load_criminal_justice_data,
    load_healthcare_data,
)
from personatwin.validate.validation import validate
from tests.helpers import needs_nebraska
from tests.paths import SYNTHEA_NEBRASKA

# shared/ lies beside the project root (DESIGN: ../shared/data from the project root)
NEBRASKA = SYNTHEA_NEBRASKA
HEALTH = get_domain("healthcare")


def _all_cells(frames) -> set[str]:
    cells: set[str] = set()
    for f in frames:
        for col in f.columns:
            cells |= set(f[col].dropna().astype(str).tolist())
        cells |= set(map(str, f.columns))
    return cells


@pytest.fixture(scope="module")
def nebraska():
    ing = load_healthcare_data(NEBRASKA)
    return ing, validate(ing.people, ing.events, HEALTH)


@needs_nebraska
def test_synthea_people_and_identifiers(nebraska):
    ing, v = nebraska
    assert len(ing.people) == 111
    assert list(ing.people.columns) == ["person_id", "birth_date", "sex", "race", "zip"]
    assert set(SYNTHEA_IDENTIFIERS) | {"DEATHDATE"} <= set(ing.dropped_identifiers)
    raw = pd.read_csv(NEBRASKA / "patients.csv", dtype=str, keep_default_na=False)
    secret = set()
    for col in SYNTHEA_IDENTIFIERS:  # (DEATHDATE is checked by column: its dates recur as other dates)
        secret |= {x for x in raw[col].tolist() if x}
    assert len(secret) > 500
    frames = [ing.people, ing.events, v.people, v.events, v.quarantine_people, v.quarantine_events]
    for f in frames:
        assert not set(f.columns) & ({c.lower() for c in SYNTHEA_IDENTIFIERS} | set(SYNTHEA_IDENTIFIERS))
    leaked = secret & _all_cells(frames)
    assert not leaked, f"{len(leaked)} identifier values reached the output"


@needs_nebraska
def test_synthea_encounters_are_valid_events(nebraska):
    ing, v = nebraska
    raw = pd.read_csv(NEBRASKA / "encounters.csv", dtype=str, keep_default_na=False)
    assert len(ing.events) == len(raw) == 7584
    assert v.reconciles
    for et, outcome in v.events[["event_type", "outcome"]].drop_duplicates().itertuples(index=False):
        assert outcome in HEALTH.event_types[et]
    # the only quarantined people are those without a ZIP (Synthea writes 00000), with their events
    assert set(v.quarantine_people["reason"]) == {"missing zip"}
    patients = pd.read_csv(NEBRASKA / "patients.csv", dtype=str, keep_default_na=False)
    assert v.counts["people_quarantined"] == (patients.ZIP.isin(["00000", ""])).sum() == 7
    assert set(v.quarantine_events["reason"]) == {"person quarantined: missing zip"}
    assert v.counts["events_valid"] + v.counts["events_quarantined"] == 7584


@needs_nebraska
def test_synthea_outcome_race_and_value_rules(nebraska):
    ing, _ = nebraska
    raw = pd.read_csv(NEBRASKA / "encounters.csv", dtype=str, keep_default_na=False)
    total = raw.TOTAL_CLAIM_COST.astype(float).to_numpy()
    paid = raw.PAYER_COVERAGE.astype(float).to_numpy()
    expect = np.where(paid >= total * 0.999, "covered", np.where(paid == 0, "uncovered", "partial"))
    assert ing.events["outcome"].tolist() == expect.tolist()
    assert np.allclose(ing.events["value"].astype(float).to_numpy(), total)
    patients = pd.read_csv(NEBRASKA / "patients.csv", dtype=str, keep_default_na=False)
    hispanic = (patients.ETHNICITY == "hispanic").sum()
    assert (ing.people["race"] == "Hispanic").sum() == hispanic
    assert set(ing.people["race"]) <= set(HEALTH.hierarchy("race").values)


@needs_nebraska
def test_synthea_conditions_as_diagnoses():
    ing = load_healthcare_data(NEBRASKA, include_conditions=True)
    cond = pd.read_csv(NEBRASKA / "conditions.csv", dtype=str, keep_default_na=False)
    diag = ing.events[ing.events.event_type == "diagnosis"]
    assert len(diag) == len(cond) and len(ing.events) == 7584 + len(cond)
    assert (diag.outcome == "ongoing").sum() == (cond.STOP == "").sum()
    assert diag.index.min() == 7585  # rows continue after the encounters


@needs_nebraska
def test_synthea_classes_outside_the_domain():
    ing = load_healthcare_data(NEBRASKA, encounter_class_map={})
    v = validate(ing.people, ing.events, HEALTH)
    unknown = v.quarantine_events["reason"] == "event_type not in domain vocabulary"
    assert unknown.sum() > 0 and v.reconciles


# --- a tiny hand-made Synthea folder (runs everywhere) --------------------------------------

@pytest.fixture
def tiny_synthea(tmp_path) -> Path:
    patients = pd.DataFrame({
        "Id": ["a", "b", "c"],
        "BIRTHDATE": ["1980-01-02", "2000-05-06", "1950-07-08"],
        "DEATHDATE": ["", "", "2020-01-01"],
        "SSN": ["999-11-2222", "999-33-4444", "999-55-6666"],
        "FIRST": ["Alice1", "Bob2", "Cora3"], "LAST": ["Smith4", "Jones5", "Brown6"],
        "ADDRESS": ["1 Main St", "2 Oak Ave", "3 Elm Rd"],
        "LAT": ["40.1234567", "41.7654321", "40.5555555"], "LON": ["-96.1234567", "-95.7654321", "-97.5555555"],
        "RACE": ["white", "black", "native"], "ETHNICITY": ["hispanic", "nonhispanic", "nonhispanic"],
        "GENDER": ["F", "M", "F"], "ZIP": ["68504", "00000", "6850"], "CITY": ["Lincoln", "Omaha", "Lincoln"],
    })
    encounters = pd.DataFrame({
        "Id": ["e1", "e2", "e3", "e4"],
        "START": ["2021-01-01T10:00:00Z", "2021-02-01T10:00:00Z", "2021-03-01T10:00:00Z", "2021-04-01T10:00:00Z"],
        "STOP": ["2021-01-01T11:00:00Z", "2021-02-01T11:00:00Z", "2021-03-02T11:00:00Z", "2021-04-01T11:00:00Z"],
        "PATIENT": ["a", "a", "b", "c"],
        "ENCOUNTERCLASS": ["wellness", "hospice", "emergency", "virtual"],
        "CODE": ["410620009"] * 4,
        "TOTAL_CLAIM_COST": ["100.00", "200.00", "300.00", "0.00"],
        "PAYER_COVERAGE": ["100.00", "0.00", "150.00", "0.00"],
    })
    patients.to_csv(tmp_path / "patients.csv", index=False)
    encounters.to_csv(tmp_path / "encounters.csv", index=False)
    return tmp_path


def test_tiny_synthea(tiny_synthea):
    ing = load_healthcare_data(tiny_synthea)
    assert ing.source.startswith("synthea")
    assert ing.people.race.tolist() == ["Hispanic", "Black", "Native American"]
    assert ing.events.outcome.tolist() == ["covered", "uncovered", "partial", "covered"]
    assert ing.events.event_type.tolist() == ["wellness", "inpatient", "emergency", "ambulatory"]
    assert "CITY" in ing.ignored_columns and "CODE" in ing.ignored_columns
    assert "RACE" not in ing.ignored_columns and "PAYER_COVERAGE" not in ing.ignored_columns
    v = validate(ing.people, ing.events, HEALTH)
    assert v.quarantine_people["reason"].tolist() == ["missing zip"]
    assert v.people.zip.tolist() == ["68504", "06850"]
    assert "birth_date" not in v.people.columns
    out = _all_cells([ing.people, ing.events, v.people, v.events, v.quarantine_people, v.quarantine_events])
    assert not out & {"999-11-2222", "Alice1", "Smith4", "1 Main St", "40.1234567", "2020-01-01"}


def test_format_argument(tiny_synthea, tmp_path):
    with pytest.raises(ValueError, match="format"):
        load_healthcare_data(tiny_synthea, format="hl7")
    with pytest.raises(InputError, match="not a Synthea CSV folder"):
        load_healthcare_data(tmp_path / "nowhere", format="synthea")
    with pytest.raises(InputError, match="Synthea"):  # auto on a Synthea-like folder without events
        load_healthcare_data(tiny_synthea, format="flat")
    assert set(SYNTHEA_MAPPING) == {"people", "events"}


def test_healthcare_flat_file(tmp_path):
    flat = pd.DataFrame({"patient_id": ["x", "x", "y"], "age": ["30", "30", "40"], "sex": ["F", "F", "M"],
                         "race": ["White"] * 3, "zip": ["68504"] * 3,
                         "event_type": ["Emergency", "wellness", "diagnosis"],
                         "event_date": ["2021-01-01", "2021-02-01", "2021-03-01"],
                         "outcome": ["covered", "partial", "ongoing"]})
    flat.to_csv(tmp_path / "visits.csv", index=False)
    ing = load_healthcare_data(tmp_path / "visits.csv", column_mapping={"patient_id": "person_id"})
    v = validate(ing.people, ing.events, HEALTH)
    assert v.counts["events_valid"] == 3 and v.counts["people_valid"] == 2


# --- court extracts -------------------------------------------------------------------------

def court_extract() -> pd.DataFrame:
    return pd.DataFrame({
        "defendant_id": ["d1", "d1", "d2", "d3"],
        "DOB": ["1990-01-01", "1990-01-01", "1985-05-05", "2000-02-02"],
        "Gender": ["Male", "Male", "Female", "M"],
        "race": ["White", "White", "Black", "Asian"],
        "zip": ["68504", "68504", "68114", "68104"],
        "event": ["Arrest", "Hearing", "Arrest", "Charge"],
        "event_date": ["2021-01-01", "2021-02-01", "2021-03-01", "2021-03-04"],
        "disposition": ["booked", "detained", "cited", "filed"],
        "case_number": ["CR-1", "CR-1", "CR-2", "CR-3"],
    })


@pytest.mark.parametrize("form", ["df", "csv", "parquet"])
def test_court_extract_flat(form, tmp_path):
    data = court_extract()
    if form != "df":
        path = tmp_path / f"court.{form}"
        data.to_csv(path, index=False) if form == "csv" else data.to_parquet(path, index=False)
        data = path
    ing = load_criminal_justice_data(data)
    assert ing.renamed["defendant_id"] == "person_id" and ing.renamed["DOB"] == "birth_date"
    assert ing.ignored_columns == ("case_number",)
    v = validate(ing.people, ing.events, "criminal_justice")
    assert v.counts["people_valid"] == 3 and v.counts["events_valid"] == 4
    assert v.events.event_type.tolist() == ["arrest", "hearing", "arrest", "charge"]


def test_court_extract_pair_with_mapping(tmp_path):
    c = court_extract().rename(columns={"defendant_id": "PID"})
    people = c[["PID", "DOB", "Gender", "race", "zip"]].drop_duplicates()
    events = c[["PID", "event", "event_date", "disposition"]]
    people.to_csv(tmp_path / "people.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    ing = load_criminal_justice_data(tmp_path, column_mapping={"PID": "person_id"})
    assert len(ing.people) == 3 and len(ing.events) == 4
    ing2 = load_criminal_justice_data(tmp_path / "people.csv", {"PID": "person_id"}, events=tmp_path / "events.csv")
    pd.testing.assert_frame_equal(ing.events, ing2.events)


def test_court_extract_with_names_stops():
    data = court_extract().assign(defendant=["John Smith", "John Smith", "Mary Jones", "Ann Lee"])
    with pytest.raises(DirectIdentifierError, match="'defendant'") as err:
        load_criminal_justice_data(data)
    assert "John Smith" not in str(err.value)
