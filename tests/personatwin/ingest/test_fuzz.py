"""Fuzzing the loaders and the pipeline (issue #6): every input ends in a clean error or a valid result.

Three families, hypothesis-driven, settings as in ``test_properties.py`` (module constants,
``deadline=None``; example counts sized to keep this file under ~60 s on two cores):

a. random bytes written as ``.csv``, ``.csv.gz``, ``.parquet`` (raw, or a valid Parquet file with
   random bytes overwritten / cut off) -> ``read_table`` and ``load_input`` either return tables or
   raise ``InputError`` / ``DirectIdentifierError``, never anything else;
b. random unicode CSV text (delimiters , ; tab |, quotes, CR/LF, NUL, BOMs, non-Latin scripts) under
   a valid or random header, in UTF-8, UTF-8 with BOM, UTF-16 or latin-1 -> ``load_input`` +
   ``validate`` end in a clean error or in counts that reconcile;
c. random shapes: random subsets and orders of the contract columns plus extra columns, random cell
   values (text, numbers, dates, None, near-valid vocabulary), as DataFrames, CSV or Parquet ->
   ``load_input`` + ``validate`` (+ for examples with at least k valid people, the whole
   ``pt.create_safe_personas`` at k=2 with a fixed key) end only in a clean error (the ones above,
   ``TooFewPeopleError``, ``PrivacyTargetError``, ``UtilityGateError``) or in a result whose counts
   reconcile and whose release holds every valid event exactly once, in personas of >= k people.

Whatever the outcome, no error message repeats a cell value that was planted as sensitive.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

import personatwin as pt
from personatwin.core.domains import get_domain
from personatwin.core.errors import (
    DirectIdentifierError,
    InputError,
    PrivacyTargetError,
    TooFewPeopleError,
    UtilityGateError,
)
from personatwin.ingest.tables import load_input, read_table
from personatwin.validate.validation import Validated, validate

DOMAIN = get_domain("criminal_justice")
KEY = "fuzz-test-release-key-0123456789abcdef"
AS_OF = "2024-06-30"
LOAD_ERRORS = (InputError, DirectIdentifierError)
ENGINE_ERRORS = LOAD_ERRORS + (TooFewPeopleError, PrivacyTargetError, UtilityGateError)
SECRET = "fz.secret.7731@example.org"  # planted in some cells: must never be echoed by an error

# PERSONATWIN_FUZZ_SCALE=20 multiplies the example counts for a deeper (slower) local fuzzing run.
SCALE = max(1, int(os.environ.get("PERSONATWIN_FUZZ_SCALE", "1")))
BYTES = settings(max_examples=150 * SCALE, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])
TEXT = settings(BYTES, max_examples=100 * SCALE)
SHAPES = settings(BYTES, max_examples=120 * SCALE)
ENGINE = settings(BYTES, max_examples=16 * SCALE)

PEOPLE_COLS = ["person_id", "age", "birth_date", "sex", "race", "zip"]
EVENT_COLS = ["person_id", "event_type", "event_date", "end_date", "outcome", "location", "value"]
EXTRA_COLS = ["batch", "Ref No", "gender", "dob", "x", "", "1", "county"]
# Rarely drawn: a second spelling of a contract column, or a repeat of its name.
CLASHING_COLS = ["AGE ", "Person Id", "person_id", "age", "outcome"]
TYPES = list(DOMAIN.event_types)
OUTCOMES = sorted({o for outs in DOMAIN.event_types.values() for o in outs})
RACES = list(DOMAIN.hierarchy("race").values)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def check_validated(v: Validated) -> None:
    c = v.counts
    assert v.reconciles
    assert len(v.people) == c["people_valid"] and len(v.quarantine_people) == c["people_quarantined"]
    assert len(v.events) == c["events_valid"] and len(v.quarantine_events) == c["events_quarantined"]
    assert v.people["person_id"].is_unique
    assert set(v.events["person_id"]) <= set(v.people["person_id"])
    for q in (v.quarantine_people, v.quarantine_events):
        assert q["reason"].notna().all() and (q["row"] >= 1).all()
    for col in v.people.columns:  # valid QIs are complete
        assert v.people[col].notna().all(), col


def _gist(message: str) -> str:
    """The kind of a message, for hypothesis statistics: no paths, names or numbers."""
    text = re.sub(r"\([^)]*\)|'[^']*'|\[[^\]]*\]|/\S+|\d+", "", message.split(";")[0].split(":", 1)[-1])
    return " ".join(text.split())[:60]


def load_and_validate(**kw) -> Validated | None:
    """load_input + validate; None for a clean error (which must not echo the planted secret)."""
    try:
        ing = load_input(domain=DOMAIN, **kw)
        v = validate(ing.people, ing.events, DOMAIN, as_of=AS_OF)
    except LOAD_ERRORS as exc:
        assert SECRET not in str(exc)
        event(f"clean error: {type(exc).__name__}: {_gist(str(exc))}")
        return None
    event("validated, some rows valid" if v.counts["events_valid"] else "validated, no valid event")
    for (table, reason), _n in v.reason_counts().items():
        event(f"quarantine reason: {table}: {re.sub(r'[^a-z_ ():-]', '', reason)[:50]}")
    assert len(ing.people) == v.counts["people_in"] and len(ing.events) == v.counts["events_in"]
    check_validated(v)
    return v


# ------------------------------------------------------------------------------------------------
# a. random bytes
# ------------------------------------------------------------------------------------------------


def _valid_parquet() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"person_id": ["p1", "p2"], "event_type": ["arrest", "hearing"],
                  "event_date": ["2024-01-01", "2024-02-02"], "outcome": ["booked", "detained"]}).to_parquet(buf)
    return buf.getvalue()


VALID_PARQUET = _valid_parquet()


@st.composite
def corrupt_parquet(draw) -> bytes:
    data = bytearray(VALID_PARQUET)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


HEADERS = [b"", b"person_id,event_type,event_date,outcome\n", b"person_id;age;sex;race;zip\r\n",
           b"\xef\xbb\xbfperson_id,event_type,event_date,outcome\n", b"\xff\xfe", b"PAR1"]


@st.composite
def byte_files(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["csv", "csv", "gz", "parquet", "corrupt_parquet"]))
    if kind == "corrupt_parquet":
        return "parquet", draw(corrupt_parquet())
    body = draw(st.sampled_from(HEADERS)) + draw(st.binary(max_size=600))
    if kind == "gz":
        return "csv.gz", gzip.compress(body) if draw(st.booleans()) else body
    return kind, body


@BYTES
@given(file=byte_files())
def test_random_bytes_end_in_a_frame_or_a_clean_error(file, tmp_path_factory):
    ext, data = file
    path = tmp_path_factory.mktemp("bytes") / f"input.{ext}"
    path.write_bytes(data)
    try:
        df, notes = read_table(path)
        assert df.index.name == "row" and list(df.index) == list(range(1, len(df) + 1))
    except InputError as exc:
        assert path.name in str(exc)
    load_and_validate(data=path)  # as one flat file
    people = path.with_name(f"people.{ext}")
    people.write_bytes(data)
    load_and_validate(people=people, events=path)


# ------------------------------------------------------------------------------------------------
# b. random unicode text CSVs
# ------------------------------------------------------------------------------------------------

SPECIAL = [",", ";", "\t", "|", '"', "'", "\n", "\r", "\r\n", "\x00", "\ufeff", " ", "é", "中", "\U0001F600",
           SECRET, "2024-01-05", "arrest", "booked", "p1", "F", "White", "68504", "34"]
cell_text = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(max_size=6)), max_size=6).map("".join)


@st.composite
def unicode_csvs(draw) -> tuple[str, str]:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    n_rows = draw(st.integers(0, 8))
    if draw(st.booleans()):
        header = draw(st.sampled_from([["person_id", "age", "sex", "race", "zip"],
                                       ["person_id", "event_type", "event_date", "outcome", "value"]]))
    else:
        header = draw(st.lists(cell_text, min_size=1, max_size=6))
    rows = [draw(st.lists(cell_text, min_size=0, max_size=len(header) + 1)) for _ in range(n_rows)]
    quote = draw(st.booleans())

    def line(cells):
        if quote:
            cells = ['"' + c.replace('"', '""') + '"' for c in cells]
        return sep.join(cells)

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(line(r) for r in [header, *rows]) + draw(st.sampled_from(["", newline]))
    return text, draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))


PEOPLE_OK = "person_id,age,sex,race,zip\np1,34,F,White,68504\np2,51,M,Black,10001\n"
EVENTS_OK = "person_id,event_type,event_date,outcome\np1,arrest,2024-01-05,booked\np2,arrest,2024-02-01,cited\n"


@TEXT
@given(csv=unicode_csvs(), as_people=st.booleans())
def test_random_unicode_csv_ends_in_a_clean_error_or_reconciled_counts(csv, as_people, tmp_path_factory):
    text, encoding = csv
    folder = tmp_path_factory.mktemp("text")
    fuzzed = folder / ("people.csv" if as_people else "events.csv")
    fuzzed.write_bytes(text.encode(encoding, errors="replace"))
    other = folder / ("events.csv" if as_people else "people.csv")
    other.write_text(EVENTS_OK if as_people else PEOPLE_OK)
    note(repr(text[:300]))
    load_and_validate(people=folder / "people.csv", events=folder / "events.csv")
    load_and_validate(data=fuzzed)


# ------------------------------------------------------------------------------------------------
# c. random shapes through the pipeline (and the engine)
# ------------------------------------------------------------------------------------------------

ANY_CELL = st.one_of(
    st.none(), st.text(max_size=10), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()), st.just(SECRET), st.booleans(),
)
RARE_CELL = st.binary(max_size=4)  # bytes in a DataFrame (not UTF-8: a clean error naming the column)
BORN = st.dates(min_value=pd.Timestamp("1930-01-01").date(), max_value=pd.Timestamp("2005-12-31").date()).map(str)
RECENT = st.dates(min_value=pd.Timestamp("2020-01-01").date(), max_value=pd.Timestamp("2024-12-31").date()).map(str)
PAIRS = st.sampled_from([(t, o) for t, outs in DOMAIN.event_types.items() for o in outs]
                        + [("parole", "booked"), ("arrest", "convicted"), ("ARREST", "Booked")])


CLEAN_IDS = [f"p{i}" for i in range(16)]
NEAR_VALID = {
    "person_id": st.sampled_from([f"p{i}" for i in range(12)] + ["P1", " p2 ", "", "p1\x00"]),
    "age": st.one_of(st.integers(-5, 130).map(str), st.sampled_from(["", "abc", "inf", "1e400", "34.5"])),
    "birth_date": st.one_of(BORN, BORN, st.dates().map(str),
                            st.sampled_from(["", "31/12/1990", "garbage", "2999-01-01"])),
    "sex": st.sampled_from(["F", "M", "X", "female", "m", "?", ""]),
    "race": st.sampled_from(RACES + ["white", "Martian", ""]),
    "zip": st.sampled_from(["68504", "10001", "6850", "00000", "ABCDE", "68504-1234", ""]),
    "event_type": st.sampled_from(TYPES + ["ARREST", "parole", ""]),
    "outcome": st.sampled_from(OUTCOMES + ["exploded", ""]),
    "event_date": st.one_of(RECENT, RECENT, st.dates().map(str),
                            st.sampled_from(["2024-01-05", "2024-13-01", "", "0001-01-01"])),
    "end_date": st.one_of(st.none(), st.none(), st.none(), RECENT, st.dates().map(str), st.just("never")),
    "location": st.sampled_from(["68504", "10001", "", None]),
    "value": st.one_of(st.none(), st.none(), st.integers(-10**9, 10**9).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(str), st.just("lots")),
}
@st.composite
def frames(draw, base_cols: list[str], n_max: int, ids: list[str] | None = None) -> pd.DataFrame:
    """A table of random shape; ``person_id`` cells mostly unique (people) or from ``ids`` (events).

    The shape decisions come from a numpy generator seeded by hypothesis, so their rates hold
    (hypothesis's own integers favour boundary values, which made rare choices common); the cell
    values are hypothesis draws.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, n_max))
    required = ["person_id"] + (["event_type", "event_date", "outcome"] if "event_type" in base_cols else [])
    cols = [c for c in base_cols if rng.random() < 0.6]
    if rng.random() < 0.95:  # most examples keep the required columns (deeper paths)
        cols = list(dict.fromkeys([*cols, *required]))
    cols = list(rng.permutation(cols)) if cols else cols
    extras = list(rng.choice(EXTRA_COLS, size=int(rng.integers(0, 3)), replace=False))
    if rng.random() < 0.05:
        extras.append(str(rng.choice(CLASHING_COLS)))
    names = [str(c) for c in [*cols, *extras]]
    data = {}
    for i, c in enumerate(names):
        u = rng.random()
        strat = RARE_CELL if u < 0.01 else ANY_CELL if u < 0.12 or c not in NEAR_VALID else NEAR_VALID[c]
        unique = False
        if c == "person_id" and strat is NEAR_VALID[c]:
            if ids is not None and rng.random() < 0.9:  # events of (mostly) known people
                known = st.sampled_from(ids or [""])
                strat = known if ids and rng.random() < 0.7 else st.one_of(known, strat)
            else:  # people: mostly one row per person
                strat, unique = (st.sampled_from(CLEAN_IDS), True) if rng.random() < 0.8 else (strat, False)
        data[i] = pd.Series(draw(st.lists(strat, min_size=n, max_size=n, unique=unique)), dtype=object)
    if "event_type" in names and "outcome" in names and rng.random() < 0.7:  # coherent pairs per row
        pairs = draw(st.lists(PAIRS, min_size=n, max_size=n))
        data[names.index("event_type")] = pd.Series([t for t, _ in pairs], dtype=object)
        data[names.index("outcome")] = pd.Series([o for _, o in pairs], dtype=object)
    df = pd.DataFrame(data, index=range(n))
    df.columns = names  # may repeat a name: ingest must refuse that cleanly
    return df


def _to_route(df: pd.DataFrame, route: str, path: Path):
    if route == "frame":
        return df
    if route == "csv":
        df.to_csv(path.with_suffix(".csv"), index=False)
        return path.with_suffix(".csv")
    assume(not df.columns.duplicated().any())  # pandas cannot write repeated names to Parquet
    out = df.copy()
    for c in out.columns:  # Parquet columns need one type: mixed object columns as text
        if out[c].dtype == object:
            out[c] = out[c].map(lambda x: None if x is None else str(x)).astype("string")
    out.columns = [str(c) for c in out.columns]
    out.to_parquet(path.with_suffix(".parquet"), index=False)
    return path.with_suffix(".parquet")


@st.composite
def table_pairs(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    people = draw(frames(PEOPLE_COLS, 10))
    ids = ([str(x) for x in people["person_id"].dropna()] if "person_id" in people.columns
           and people.columns.tolist().count("person_id") == 1 else [])
    return people, draw(frames(EVENT_COLS, 14, ids=ids))


@SHAPES
@given(tables=table_pairs(), route=st.sampled_from(["frame", "csv", "parquet"]), flat=st.booleans())
def test_random_shapes_end_in_a_clean_error_or_reconciled_counts(tables, route, flat, tmp_path_factory):
    people, events = tables
    folder = tmp_path_factory.mktemp("shapes")
    unique = not (people.columns.duplicated().any() or events.columns.duplicated().any())
    if flat and unique and "person_id" in people.columns and "person_id" in events.columns:
        key = {"person_id": object}
        merged = events.astype(key).merge(people.astype(key).drop_duplicates("person_id"), on="person_id",
                                          how="left", suffixes=("", "_person"))
        load_and_validate(data=_to_route(merged, route, folder / "flat"))
    else:
        load_and_validate(people=_to_route(people, route, folder / "people"),
                          events=_to_route(events, route, folder / "events"))


@st.composite
def mostly_valid(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Enough people to release at small k, with a few broken cells and columns."""
    n = draw(st.integers(4, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    people = pd.DataFrame({
        "person_id": [f"q{i:03d}" for i in range(n)],
        "age": rng.integers(18, 80, n).astype(str),
        "sex": rng.choice(["F", "M"], n),
        "race": rng.choice(RACES[:3], n),
        "zip": rng.choice(["68504", "68505", "10001"], n),
    })
    m = int(rng.integers(n, 3 * n))
    etype = rng.choice(TYPES, m)
    events = pd.DataFrame({
        "person_id": rng.choice(people["person_id"], m),
        "event_type": etype,
        "event_date": (np.datetime64("2024-01-01") + rng.integers(0, 150, m).astype("timedelta64[D]")).astype(str),
        "outcome": [DOMAIN.event_types[t][0] for t in etype],
    })
    people, events = people.astype(object), events.astype(object)
    for _ in range(draw(st.integers(0, 4))):  # break a few cells
        table = draw(st.sampled_from(["people", "events"]))
        df = people if table == "people" else events
        col = draw(st.sampled_from(list(df.columns)))
        df.loc[draw(st.integers(0, len(df) - 1)), col] = draw(ANY_CELL)
    if draw(st.booleans()):
        people = people[draw(st.permutations(list(people.columns)))]
    if draw(st.booleans()):
        events["batch"] = "b1"
    return people, events


@ENGINE
@given(data=mostly_valid(), route=st.sampled_from(["frame", "csv", "parquet"]))
def test_engine_ends_in_a_clean_refusal_or_a_release_that_reconciles(data, route, tmp_path_factory):
    people, events = data
    folder = tmp_path_factory.mktemp("engine")
    p, e = _to_route(people, route, folder / "people"), _to_route(events, route, folder / "events")
    v = load_and_validate(people=p, events=e)
    assume(v is not None)
    try:
        release = pt.create_safe_personas(people=p, events=e, privacy_level="low", domain="criminal_justice",
                                          key=KEY, as_of=AS_OF, k=2, target_risk=1.0)
    except ENGINE_ERRORS as exc:
        assert SECRET not in str(exc)
        event(f"engine refused: {type(exc).__name__}")
        if isinstance(exc, TooFewPeopleError):
            assert v.counts["people_valid"] < 3  # only when there really are too few (k may rise to 3)
        return
    event("released")
    c = release.counts
    assert c == dict(v.counts)
    assert c["events_in"] == c["events_valid"] + c["events_quarantined"]
    assert len(release.events) + release.suppressed_events == c["events_valid"]
    sizes = release.personas.to_dataframe()["size"]
    assert sizes.sum() == c["people_valid"] and (sizes >= 2).all()
