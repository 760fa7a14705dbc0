"""Ingest: every input form gives the same tables; mapping, ignored columns and file errors."""

from __future__ import annotations

import pandas as pd
import pytest

from personatwin.core.errors import DirectIdentifierError, InputError
from personatwin.core.models import (
    Event,
    Person,
    events_from_records,
    people_from_records,
)
from personatwin.ingest.tables import Ingested, load_input
from personatwin.validate.validation import DUPLICATE_CONFLICT, validate

DOMAIN = "criminal_justice"


def people_df() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": ["p1", "p2", "p3", "p4", "p5"],
        "age": ["34", "51", "19", "27", "62"],
        "sex": ["F", "M", "F", "X", "M"],
        "race": ["White", "Black", "Hispanic", "Asian", "White"],
        "zip": ["06850", "68504", "10001", "94110", "60601"],
    })


def events_df() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": ["p1", "p1", "p2", "p3", "p3", "p3", "p4", "p5", "p2"],
        "event_type": ["arrest", "hearing", "arrest", "arrest", "charge", "disposition", "arrest", "arrest",
                       "sentence"],
        "event_date": ["2021-01-05", "2021-02-10", "2021-03-01", "2021-03-02", "2021-03-05", "2021-06-30",
                       "2021-04-04", "2021-05-05", "2021-07-01"],
        "outcome": ["booked", "detained", "cited", "booked", "filed", "convicted", "released_no_charge",
                    "booked", "probation"],
    })


def flat_df() -> pd.DataFrame:
    return events_df().merge(people_df(), on="person_id", how="left")


def person_records() -> list[Person]:
    p, e = people_df(), events_df()
    out = []
    for row in p.itertuples(index=False):  # building the fixture, not engine code
        evs = [Event(event_type=r.event_type, event_date=r.event_date, outcome=r.outcome)
               for r in e[e.person_id == row.person_id].itertuples(index=False)]
        out.append(Person(person_id=row.person_id, age=row.age, gender=row.sex, race=row.race,
                          location=row.zip, events=evs))
    return out


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Values as text, rows sorted: equality independent of order, index and dtype."""
    out = df.reset_index(drop=True).astype("string")
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def assert_same(a: Ingested, b: Ingested) -> None:
    pd.testing.assert_frame_equal(canonical(a.people), canonical(b.people))
    pd.testing.assert_frame_equal(canonical(a.events), canonical(b.events))
    va, vb = validate(a.people, a.events, DOMAIN), validate(b.people, b.events, DOMAIN)
    pd.testing.assert_frame_equal(va.people.sort_values("person_id").reset_index(drop=True),
                                  vb.people.sort_values("person_id").reset_index(drop=True))
    key = ["person_id", "event_date", "event_type"]
    pd.testing.assert_frame_equal(va.events.sort_values(key).reset_index(drop=True),
                                  vb.events.sort_values(key).reset_index(drop=True))
    assert va.counts == vb.counts


@pytest.fixture
def reference() -> Ingested:
    return load_input((people_df(), events_df()), domain=DOMAIN)


def _write(df: pd.DataFrame, path, kind: str) -> None:
    if kind == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


FORMS = ["kwargs", "mapping", "flat_df", "dicts", "persons", "csv_flat", "csv_pair", "csv_dir", "parquet_flat",
         "parquet_pair", "parquet_dir", "path_tuple"]


@pytest.mark.parametrize("form", FORMS)
def test_every_input_form_gives_identical_tables(form, reference, tmp_path):
    kind = "parquet" if form.startswith("parquet") else "csv"
    ext = "parquet" if kind == "parquet" else "csv"
    if form == "kwargs":
        got = load_input(people=people_df(), events=events_df(), domain=DOMAIN)
    elif form == "mapping":
        got = load_input({"people": people_df(), "events": events_df()}, domain=DOMAIN)
    elif form == "flat_df":
        got = load_input(flat_df(), domain=DOMAIN)
    elif form == "dicts":
        got = load_input(flat_df().to_dict(orient="records"), domain=DOMAIN)
    elif form == "persons":
        got = load_input(person_records(), domain=DOMAIN)
    elif form.endswith("_flat"):
        _write(flat_df(), tmp_path / f"flat.{ext}", kind)
        got = load_input(tmp_path / f"flat.{ext}", domain=DOMAIN)
    elif form.endswith("_pair") or form == "path_tuple":
        _write(people_df(), tmp_path / f"p.{ext}", kind)
        _write(events_df(), tmp_path / f"e.{ext}", kind)
        if form == "path_tuple":
            got = load_input((str(tmp_path / f"p.{ext}"), str(tmp_path / f"e.{ext}")), domain=DOMAIN)
        else:
            got = load_input(people=tmp_path / f"p.{ext}", events=tmp_path / f"e.{ext}", domain=DOMAIN)
    else:  # folder
        _write(people_df(), tmp_path / f"people.{ext}", kind)
        _write(events_df(), tmp_path / f"events.{ext}", kind)
        got = load_input(tmp_path, domain=DOMAIN)
    assert_same(got, reference)
    assert got.dropped_identifiers == () and got.ignored_columns == ()
    assert got.people.index.name == "row" and got.events.index.name == "row"


def test_output_columns_are_canonical_and_ordered(reference):
    assert list(reference.people.columns) == ["person_id", "age", "sex", "race", "zip"]
    assert list(reference.events.columns) == ["person_id", "event_type", "event_date", "outcome"]
    assert reference.people.index.tolist() == [1, 2, 3, 4, 5]


def test_csv_is_read_as_text_nothing_coerced(tmp_path):
    people_df().to_csv(tmp_path / "people.csv", index=False)
    events_df().to_csv(tmp_path / "events.csv", index=False)
    got = load_input(tmp_path, domain=DOMAIN)
    assert got.people["zip"].tolist()[0] == "06850"  # leading zero kept
    assert got.people["age"].dtype == "string"
    assert got.events["event_date"].dtype == "string"


def test_empty_strings_are_missing(tmp_path):
    e = events_df()
    e.loc[0, "outcome"] = ""
    e.to_csv(tmp_path / "e.csv", index=False)
    people_df().to_csv(tmp_path / "p.csv", index=False)
    got = load_input(people=tmp_path / "p.csv", events=tmp_path / "e.csv", domain=DOMAIN)
    assert got.events["outcome"].isna().sum() == 1
    v = validate(got.people, got.events, DOMAIN)
    assert v.quarantine_events["reason"].tolist() == ["missing outcome"]


# --- column mapping -------------------------------------------------------------------------

def test_column_mapping_renames_to_canonical(reference):
    p = people_df().rename(columns={"person_id": "Id", "sex": "GENDER", "zip": "PostCode", "race": "Ethn"})
    e = events_df().rename(columns={"person_id": "PATIENT", "event_type": "KIND", "event_date": "WHEN",
                                    "outcome": "RESULT"})
    mapping = {"Id": "person_id", "GENDER": "sex", "PostCode": "zip", "Ethn": "race", "PATIENT": "person_id",
               "KIND": "event_type", "WHEN": "event_date", "RESULT": "outcome"}
    got = load_input(people=p, events=e, domain=DOMAIN, column_mapping=mapping)
    assert_same(got, reference)
    assert got.renamed["GENDER"] == "sex" and got.renamed["WHEN"] == "event_date"


def test_per_table_mapping(reference):
    p = people_df().rename(columns={"person_id": "Id"})
    e = events_df().rename(columns={"person_id": "PATIENT"}).assign(Id=[f"e{i}" for i in range(9)])
    got = load_input(people=p, events=e, domain=DOMAIN,
                     column_mapping={"people": {"Id": "person_id"}, "events": {"PATIENT": "person_id"}})
    assert_same(got, reference)
    assert got.ignored_columns == ("Id",)  # the encounter-style event id is ignored, not a person id


def test_mapping_to_drop_declares_an_identifier(reference):
    e = events_df().assign(ref=["123-45-6789"] * 9)
    got = load_input(people=people_df(), events=e, domain=DOMAIN, column_mapping={"ref": "drop"})
    assert got.dropped_identifiers == ("ref",)
    assert_same(got, reference)


def test_case_and_spacing_variants_are_recognized(reference):
    p = people_df().rename(columns={"person_id": "Person ID", "sex": "Gender", "zip": "ZIP_CODE"})
    e = events_df().rename(columns={"event_date": "Event Date", "event_type": "EVENT_TYPE"})
    got = load_input(people=p, events=e, domain=DOMAIN)
    assert_same(got, reference)
    assert got.renamed == {"Person ID": "person_id", "Gender": "sex", "ZIP_CODE": "zip",
                           "Event Date": "event_date", "EVENT_TYPE": "event_type"}


def test_mapping_to_unknown_target_is_an_error():
    with pytest.raises(InputError, match="not contract columns"):
        load_input((people_df(), events_df()), domain=DOMAIN, column_mapping={"age": "years"})


def test_mapping_of_absent_column_is_an_error():
    with pytest.raises(InputError, match="NOPE"):
        load_input((people_df(), events_df()), domain=DOMAIN, column_mapping={"NOPE": "sex"})


def test_missing_required_column_is_an_error():
    with pytest.raises(InputError, match="outcome"):
        load_input((people_df(), events_df().drop(columns="outcome")), domain=DOMAIN)


def test_unknown_columns_are_ignored_and_recorded(reference):
    p = people_df().assign(marital=["S"] * 5)
    e = events_df().assign(court=["A"] * 9, charge_code=["X1"] * 9)
    got = load_input(people=p, events=e, domain=DOMAIN)
    assert set(got.ignored_columns) == {"marital", "court", "charge_code"}
    assert_same(got, reference)


# --- flat input specifics -------------------------------------------------------------------

def test_flat_conflicting_person_attributes_are_kept_for_quarantine():
    flat = flat_df()
    flat.loc[flat.index[flat.person_id == "p3"][1], "sex"] = "M"  # p3 is F on its other rows
    got = load_input(flat, domain=DOMAIN)
    assert (got.people.person_id == "p3").sum() == 2
    v = validate(got.people, got.events, DOMAIN)
    qp = v.quarantine_people
    assert set(qp.loc[qp.person_id == "p3", "reason"]) == {DUPLICATE_CONFLICT}
    qe = v.quarantine_events
    assert (qe.person_id == "p3").sum() == 3
    assert set(qe["reason"]) == {"person quarantined: " + DUPLICATE_CONFLICT}
    assert v.reconciles and "p3" not in set(v.people.person_id)


def test_flat_row_numbers_point_at_source_rows():
    got = load_input(flat_df(), domain=DOMAIN)
    assert got.events.index.tolist() == list(range(1, 10))
    assert got.people.loc[got.people.person_id == "p3"].index.tolist() == [4]  # first row of p3


def test_flat_rows_without_event_fields_are_people_only():
    flat = flat_df()
    extra = pd.DataFrame({"person_id": ["p6"], "age": ["40"], "sex": ["F"], "race": ["White"], "zip": ["68504"]})
    got = load_input(pd.concat([flat, extra], ignore_index=True), domain=DOMAIN)
    assert "p6" in set(got.people.person_id) and "p6" not in set(got.events.person_id)
    assert len(got.events) == 9


# --- records --------------------------------------------------------------------------------

def test_person_aliases_and_nested_events():
    p = Person(person_id="a", demographics={"age": 30, "gender": "F", "ethnicity": "White", "zip": "68504"},
               events=[Event(event_type="arrest", date="2021-01-01", outcome="booked")])
    assert (p.sex, p.race, p.zip) == ("F", "White", "68504")
    assert p.events[0].person_id == "a" and p.events[0].event_date == "2021-01-01"
    assert people_from_records([p]).columns.tolist() == ["person_id", "age", "sex", "race", "zip"]
    assert events_from_records([p]).person_id.tolist() == ["a"]
    with pytest.raises(ValueError, match="sex"):
        Person(person_id="b", sex="F", gender="M")
    with pytest.raises(ValueError, match="another person_id"):
        Person(person_id="c", events=[Event(person_id="d", event_type="arrest")])


def test_list_of_mixed_records_is_an_error():
    with pytest.raises(InputError, match="only Person records or only dicts"):
        load_input([Person(person_id="a"), {"person_id": "b"}], domain=DOMAIN)


# --- files ----------------------------------------------------------------------------------

def test_empty_file_names_the_file(tmp_path):
    (tmp_path / "flat.csv").write_text("")
    with pytest.raises(InputError, match="flat.csv: empty file"):
        load_input(tmp_path / "flat.csv", domain=DOMAIN)


def test_truncated_parquet_names_the_file(tmp_path):
    flat_df().to_parquet(tmp_path / "flat.parquet", index=False)
    data = (tmp_path / "flat.parquet").read_bytes()
    (tmp_path / "flat.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="flat.parquet: not a readable Parquet file"):
        load_input(tmp_path / "flat.parquet", domain=DOMAIN)


def test_latin1_fallback_is_recorded(tmp_path):
    p = people_df()
    p.loc[0, "race"] = "Blanc\u00e9"  # not a race value; becomes Other in validation
    (tmp_path / "p.csv").write_bytes(p.to_csv(index=False).encode("latin-1"))
    events_df().to_csv(tmp_path / "e.csv", index=False)
    got = load_input(people=tmp_path / "p.csv", events=tmp_path / "e.csv", domain=DOMAIN)
    assert any("p.csv" in n and "latin-1" in n for n in got.notes)
    assert got.people.race.iloc[0] == "Blanc\u00e9"


def test_utf8_bom_is_stripped(tmp_path):
    (tmp_path / "flat.csv").write_bytes(flat_df().to_csv(index=False).encode("utf-8-sig"))
    got = load_input(tmp_path / "flat.csv", domain=DOMAIN)
    assert got.people.columns[0] == "person_id" and got.notes == ()


def test_semicolon_separated_csv(tmp_path, reference):
    flat_df().to_csv(tmp_path / "flat.csv", index=False, sep=";")
    assert_same(load_input(tmp_path / "flat.csv", domain=DOMAIN), reference)


def test_malformed_csv_names_the_file(tmp_path):
    (tmp_path / "bad.csv").write_text('person_id,event_type\n"p1,arrest\n')
    with pytest.raises(InputError, match="bad.csv"):
        load_input(tmp_path / "bad.csv", domain=DOMAIN)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_input(tmp_path / "nope.csv", domain=DOMAIN)
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(InputError, match="unsupported file type"):
        load_input(tmp_path / "x.xlsx", domain=DOMAIN)


def test_folder_without_events_file(tmp_path):
    people_df().to_csv(tmp_path / "people.csv", index=False)
    with pytest.raises(InputError, match="people.csv|parquet and events"):
        load_input(tmp_path, domain=DOMAIN)


# --- identifiers never pass ingest ----------------------------------------------------------

def test_domain_listed_identifiers_are_dropped_and_counted(reference):
    p = people_df().assign(email=[f"u{i}@example.org" for i in range(5)], Phone=["402-555-0100"] * 5)
    got = load_input(people=p, events=events_df(), domain=DOMAIN)
    assert set(got.dropped_identifiers) == {"email", "Phone"}
    assert_same(got, reference)


def test_unmapped_identifier_stops_ingest_without_values():
    ssns = [f"{100 + i}-{10 + i}-{1000 + i}" for i in range(5)]
    p = people_df().assign(ref=ssns)
    with pytest.raises(DirectIdentifierError) as err:
        load_input(people=p, events=events_df(), domain=DOMAIN)
    msg = str(err.value)
    assert "'ref'" in msg and "social security" in msg and "column_mapping={'ref': 'drop'}" in msg
    assert "allow_columns=['ref']" in msg
    assert not any(s in msg for s in ssns)


def test_allow_columns_accepts_a_false_positive():
    p = people_df().assign(nickname_code=["Alpha1", "Bravo2", "Charlie3", "Delta4", "Echo5"])
    with pytest.raises(DirectIdentifierError, match="nickname_code"):
        load_input(people=p, events=events_df(), domain=DOMAIN)
    got = load_input(people=p, events=events_df(), domain=DOMAIN, allow_columns=["nickname_code"])
    assert got.ignored_columns == ("nickname_code",)
