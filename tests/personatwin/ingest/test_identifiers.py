"""Direct identifier detection by column name and by value pattern; messages never show values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.errors import DirectIdentifierError
from personatwin.ingest.identifiers import (
    IdentifierFinding,
    drop_identifiers,
    find_identifier_columns,
    mapped_identifier_columns,
)

N = 40
CJ = get_domain("criminal_justice")
BARE = CJ.with_overrides(direct_identifiers=())  # nothing pre-mapped: every finding is reported


def frame(**columns) -> pd.DataFrame:
    base = {"person_id": [f"p{i}" for i in range(N)], "sex": ["F", "M"] * (N // 2)}
    return pd.DataFrame({**base, **columns})


def kinds(df: pd.DataFrame, domain=BARE) -> dict[str, str]:
    return {f.column: f.kind for f in find_identifier_columns(df, domain)}


@pytest.mark.parametrize("name", [
    "SSN", "social_security_no", "SocialSecurityNumber", "Phone", "mobile", "home_telephone", "E-mail",
    "email_address", "first_name", "LastName", "full name", "surname", "maiden_name", "NAME", "home_address",
    "Street", "LAT", "Longitude", "lng", "drivers_license", "DRIVERS", "passport_no", "MRN",
    "medical_record_number", "case_notes", "comments", "free_text", "Narrative",
])
def test_identifier_by_name(name):
    df = frame(**{name: ["x"] * N})
    found = find_identifier_columns(df, BARE)
    assert [f.column for f in found] == [name]
    assert found[0].by == "name" and "column name suggests" in found[0].reason


@pytest.mark.parametrize("name", ["event_type", "race", "zip", "charge_code", "county", "latency_days",
                                  "phonetic_group", "streetwise_score", "enamel", "annotation"])
def test_innocent_names_are_not_flagged(name):
    df = frame(**{name: ["a", "b"] * (N // 2)})
    assert kinds(df) == {}


def ssns(n=N):
    return [f"{100 + i:03d}-{10 + i % 89:02d}-{1000 + i:04d}" for i in range(n)]


STREETS = list(zip(["Kohler", "Main", "Kunde", "Oak"] * 10, ["Camp", "St", "Burg Apt 79", "Ave"] * 10))
NAMES = list(zip(["Alice", "Lou", "Mary", "Ana"] * 10, ["Gleason", "Little", "O'Brien", "McCullough"] * 10))
HIDDEN = {
    "ssn_dashed": ("ref", ssns(), "ssn"),
    "ssn_bare": ("ref", [f"{500000000 + 7919 * i}" for i in range(N)], "ssn"),
    "email": ("contact", [f"user{i}@mail{i % 3}.example.org" for i in range(N)], "email"),
    "phone": ("reach", [f"(402) 555-{1000 + i}" for i in range(N)], "phone"),
    "phone_intl": ("reach", [f"+44 20 7946 {1000 + i}" for i in range(N)], "phone"),
    "phone_bare": ("reach", [f"402555{1000 + i}" for i in range(N)], "phone"),
    "address": ("where", [f"{100 + i} {s} {t}" for i, (s, t) in enumerate(STREETS)], "address"),
    "coord_pair": ("pt", [f"{40 + i / 1000:.6f}, {-96 - i / 1000:.6f}" for i in range(N)], "coordinates"),
    "coord_single": ("geo_x", [f"{-96 - i / 997:.7f}" for i in range(N)], "coordinates"),
    "names": ("who", [f"{f}{i} {last}{i * 7}" for i, (f, last) in enumerate(NAMES)], "person_name"),
}


@pytest.mark.parametrize("case", list(HIDDEN))
def test_identifier_hidden_under_innocent_name(case):
    column, values, kind = HIDDEN[case]
    df = frame(**{column: values})
    assert kinds(df, CJ) == {column: kind}
    with pytest.raises(DirectIdentifierError) as err:
        drop_identifiers(df, CJ)
    msg = str(err.value)
    assert f"column {column!r}" in msg
    assert f"column_mapping={{{column!r}: 'drop'}}" in msg and f"allow_columns=[{column!r}]" in msg
    for v in values:
        assert v not in msg
    assert err.value.findings[0].by == "value"


def test_numeric_dtype_identifiers_are_detected():
    df = frame(ref=np.arange(N, dtype="int64") * 7919 + 500000000,
               location_xy=np.linspace(40.1234567, 41.7654321, N))
    assert kinds(df) == {"ref": "ssn", "location_xy": "coordinates"}


def test_flat_layout_repeats_identifiers_per_event():
    people = [f"p{i}" for i in range(10) for _ in range(4)]
    df = pd.DataFrame({"person_id": people, "ref": [f"{500000000 + 7919 * int(p[1:])}" for p in people],
                       "who": [f"Alice{p[1:]} Gleason{p[1:]}" for p in people]})
    assert kinds(df) == {"ref": "ssn", "who": "person_name"}


@pytest.mark.parametrize("column,values", [
    ("race", ["White", "Black", "Hispanic", "Asian"] * 10),
    ("zip", [f"{68000 + i}" for i in range(N)]),
    ("zip", [f"{680000000 + i}" for i in range(N)]),  # ZIP+4 without dash on a canonical column
    ("event_date", ["2021-01-05", "2021-02-10 14:02:00", "2021-03-01T07:13:55Z", "01/02/2020"] * 10),
    ("outcome", ["booked", "cited"] * 20),
    ("person_id", [f"{100000000 + i}" for i in range(N)]),  # 9-digit ids: ambiguous, canonical column
    ("charge_code", ["410620009", "162864005", "195662009", "10509002"] * 10),  # shared codes
    ("city", ["Omaha", "Lincoln", "Grand Island", "Kearney"] * 10),  # shared places
    ("amount", [f"{i * 13.37:.2f}" for i in range(N)]),
    ("score", [f"{i / 997:.6f}" for i in range(N)]),  # 6 decimals but not a coordinate column
    ("description", ["Well child visit (procedure)", "Encounter for symptom"] * 20),
    ("dose", [f"{i} MG Oral Tablet" for i in range(N)]),
])
def test_ordinary_values_are_not_flagged(column, values):
    df = frame(**{column: values}) if column != "person_id" else pd.DataFrame({column: values})
    assert kinds(df) == {}


def test_below_half_is_not_flagged():
    values = ssns(15) + ["n/a"] * 25
    assert kinds(frame(ref=values)) == {}
    assert kinds(frame(ref=ssns(25) + ["n/a"] * 15)) == {"ref": "ssn"}


def test_person_id_holding_ssns_is_flagged():
    df = pd.DataFrame({"person_id": ssns()})
    assert kinds(df) == {"person_id": "ssn"}


def test_mapped_and_allowed_columns_are_skipped():
    df = frame(ssn=ssns(), ref=ssns(), contact=[f"u{i}@x.org" for i in range(N)])
    assert mapped_identifier_columns(df, CJ, {"ref"}) == ["ssn", "ref"]
    assert find_identifier_columns(df, CJ, {"ref"}, allow={"contact"}) == []
    out, dropped = drop_identifiers(df, CJ, {"ref"}, allow={"contact"})
    assert dropped == ("ssn", "ref") and list(out.columns) == ["person_id", "sex", "contact"]


def test_error_lists_every_finding():
    df = frame(ref=ssns(), contact=[f"u{i}@x.org" for i in range(N)], first_name=["x"] * N)
    with pytest.raises(DirectIdentifierError) as err:
        drop_identifiers(df, BARE)
    assert [f.column for f in err.value.findings] == ["ref", "contact", "first_name"]
    assert all(isinstance(f, IdentifierFinding) for f in err.value.findings)


def test_nulls_and_empty_columns_are_fine():
    df = frame(ref=[None] * N, other=[""] * N)
    assert kinds(df) == {}
    df = frame(ref=ssns(10) + [None] * 30)  # only non-null values are sampled
    assert kinds(df) == {"ref": "ssn"}
