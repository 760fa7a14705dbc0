"""Tests of the synthetic data generator (personatwin.ingest.synth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.core import schema
from personatwin.core.domains import BUILTIN_DOMAINS, get_domain
from personatwin.ingest.synth import (
    EVENT_COLUMNS,
    PEOPLE_COLUMNS,
    RACES,
    SEXES,
    SyntheticData,
    flat,
    generate,
    main,
    zip_geography,
)

START, END = pd.Timestamp("2021-01-01"), pd.Timestamp("2024-12-31")


@pytest.fixture(scope="module")
def cj() -> SyntheticData:
    return generate("criminal_justice", n_people=20_000, seed=7)


@pytest.fixture(scope="module", params=BUILTIN_DOMAINS)
def each_domain(request) -> SyntheticData:
    return generate(request.param, n_people=4_000, seed=11)


def test_same_seed_gives_identical_frames() -> None:
    a = generate("healthcare", n_people=3_000, seed=42)
    b = generate("healthcare", n_people=3_000, seed=42)
    pd.testing.assert_frame_equal(a.people, b.people)
    pd.testing.assert_frame_equal(a.events, b.events)
    c = generate("healthcare", n_people=3_000, seed=43)
    assert not a.events.equals(c.events)


def test_schema_and_dtypes(cj: SyntheticData) -> None:
    people, events = cj.people, cj.events
    assert list(people.columns) == list(PEOPLE_COLUMNS) == ["person_id", "birth_date", "sex", "race", "zip"]
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert set(EVENT_COLUMNS) == set(schema.EVENT_COLUMNS)
    for col in ("person_id", "sex", "race", "zip"):
        assert people[col].dtype == schema.STRING, col
    for col in ("person_id", "event_type", "outcome", "location"):
        assert events[col].dtype == schema.STRING, col
    assert people["birth_date"].dtype == schema.DATE
    assert events["event_date"].dtype == schema.DATE
    assert events["end_date"].dtype == schema.DATE
    assert events["value"].dtype == "float64"
    assert people["person_id"].is_unique
    assert people["person_id"].str.fullmatch(r"P\d{7}").all()
    assert people["person_id"].iloc[0] == "P0000001"
    assert people["zip"].str.fullmatch(r"\d{5}").all()
    assert events["location"].str.fullmatch(r"\d{5}").all()
    assert set(people["sex"]) == set(SEXES)
    assert set(people["race"]) == set(RACES)
    assert not people.isna().any().any()
    assert not events[["person_id", "event_type", "event_date", "outcome", "location"]].isna().any().any()


def test_vocabulary_follows_the_domain(each_domain: SyntheticData) -> None:
    dom = get_domain(each_domain.domain)
    events = each_domain.events
    assert set(events["event_type"]) == set(dom.event_types)
    pairs = events[["event_type", "outcome"]].drop_duplicates()
    for etype, outcome in pairs.itertuples(index=False):
        assert outcome in dom.event_types[etype], (etype, outcome)
    assert events["outcome"].isin(dom.adverse_outcomes).any()


@pytest.mark.parametrize("mean", [1.0, 4.0, 10.0, 25.0])
def test_mean_events_per_person(mean: float) -> None:
    data = generate("social_services", n_people=5_000, events_per_person=mean, seed=3)
    observed = len(data.events) / len(data.people)
    assert abs(observed - mean) <= 0.15 * mean


def test_event_counts_are_heavy_tailed_with_few_zeros(cj: SyntheticData) -> None:
    counts = cj.events["person_id"].value_counts().reindex(cj.people["person_id"], fill_value=0)
    assert counts.max() > 6 * counts.mean()
    assert 0 < (counts == 0).mean() < 0.03


def test_events_reference_people_and_are_sorted(cj: SyntheticData) -> None:
    events = cj.events
    assert events["person_id"].isin(cj.people["person_id"]).all()
    resorted = events.sort_values(["person_id", "event_date"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(events[["person_id", "event_date"]], resorted[["person_id", "event_date"]])


def test_dates_lie_in_the_window(each_domain: SyntheticData) -> None:
    events, people = each_domain.events, each_domain.people
    assert events["event_date"].min() >= START and events["event_date"].max() <= END
    ends = events.dropna(subset=["end_date"])
    assert (ends["end_date"] >= ends["event_date"]).all()
    assert (ends["end_date"] <= END).all()
    assert (people["birth_date"] <= START).all()


def test_short_window_is_respected() -> None:
    data = generate("criminal_justice", n_people=500, start="2023-03-01", end="2023-03-31", seed=1)
    ev = data.events
    assert ev["event_date"].between(pd.Timestamp("2023-03-01"), pd.Timestamp("2023-03-31")).all()
    assert (ev["end_date"].dropna() <= pd.Timestamp("2023-03-31")).all()


def test_end_dates_and_values_only_for_some_types(cj: SyntheticData) -> None:
    ev = cj.events
    with_end = set(ev.loc[ev["end_date"].notna(), "event_type"])
    assert with_end and with_end <= {"sentence", "hearing"}
    assert 0 < ev["end_date"].notna().mean() < 0.3
    values = ev["value"].dropna()
    assert (values > 0).all()
    assert 0 < ev["value"].notna().mean() < 0.5
    assert ev.loc[ev["event_type"] == "arrest", "value"].isna().all()


def test_criminal_justice_has_a_race_disparity(cj: SyntheticData) -> None:
    rows = flat(cj)
    adverse = get_domain("criminal_justice").adverse_outcomes
    rows = rows.assign(adverse=rows["outcome"].isin(adverse))
    by_race = rows.groupby("race")["adverse"].agg(["mean", "size"])
    black, white = by_race.loc["Black"], by_race.loc["White"]
    diff = black["mean"] - white["mean"]
    se = np.sqrt(sum(g["mean"] * (1 - g["mean"]) / g["size"] for g in (black, white)))
    assert diff > 0.03 and diff / se > 5
    hearings = rows[rows["event_type"] == "hearing"]
    detained = hearings.assign(d=hearings["outcome"] == "detained").groupby("race")["d"].mean()
    assert detained["Black"] - detained["White"] > 0.03


def test_rare_quasi_identifier_combinations_exist(cj: SyntheticData) -> None:
    people = cj.people
    age = (START - people["birth_date"]).dt.days // 365
    band = (age // 5) * 5
    sizes = people.assign(band=band).groupby(["band", "sex", "race", "zip"], observed=True).size()
    assert (sizes < 5).sum() > 100
    assert (sizes == 1).any()
    assert (age >= 90).sum() >= 5  # very old outliers
    zip_sizes = people["zip"].value_counts()
    assert zip_sizes.min() < 10 and zip_sizes.max() > 0.05 * len(people)  # urban core, rural tail
    race_share = people["race"].value_counts(normalize=True)
    assert race_share["Pacific Islander"] < 0.01 and race_share["White"] > 0.4


def test_domain_typical_ages() -> None:
    def ages(domain: str) -> pd.Series:
        people = generate(domain, n_people=4_000, seed=2).people
        return (START - people["birth_date"]).dt.days / 365.25

    edu = ages("education")
    assert edu.between(4, 19).mean() > 0.9
    cj_age = ages("criminal_justice")
    assert cj_age.between(18, 60).mean() > 0.8 and cj_age.median() < 35
    emp = ages("employment")
    assert emp.between(18, 71).mean() > 0.99


def test_locations_stay_near_home(cj: SyntheticData) -> None:
    rows = flat(cj)
    own = (rows["location"] == rows["zip"]).mean()
    assert 0.75 < own < 0.97
    assert (rows["location"].str.slice(0, 3) == rows["zip"].str.slice(0, 3)).all()
    assert set(rows["location"]) <= set(zip_geography()["zip"])


def test_geography_is_three_states_of_zip3_blocks() -> None:
    geo = zip_geography()
    assert geo["state"].nunique() == 3
    assert geo.groupby("state")["zip3"].nunique().min() >= 3
    assert geo.groupby("zip3")["zip"].nunique().min() >= 4
    assert geo["population_share"].sum() == pytest.approx(1.0)
    assert (geo["zip"].str.slice(0, 3) == geo["zip3"]).all()


def test_flat_repeats_person_columns(cj: SyntheticData) -> None:
    rows = flat(cj)
    assert len(rows) == len(cj.events)
    assert list(rows.columns) == ["person_id", "birth_date", "sex", "race", "zip",
                                  *EVENT_COLUMNS[1:]]
    sample = rows.sample(200, random_state=0)
    people = cj.people.set_index("person_id")
    expected = people.loc[sample["person_id"], ["sex", "race", "zip"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(sample[["sex", "race", "zip"]].reset_index(drop=True), expected)


def test_empty_and_invalid_requests() -> None:
    empty = generate("education", n_people=0)
    assert empty.people.empty and empty.events.empty
    assert list(empty.events.columns) == list(EVENT_COLUMNS)
    assert generate("education", n_people=10, events_per_person=0).events.empty
    with pytest.raises(ValueError):
        generate("criminal_justice", n_people=-1)
    with pytest.raises(ValueError):
        generate("criminal_justice", start="2024-01-01", end="2023-01-01")
    with pytest.raises(ValueError):
        generate("astrology")


def test_custom_yaml_domain_uses_generic_profile(tmp_path) -> None:
    spec = tmp_path / "clinic.yaml"
    spec.write_text("name: clinic\nevent_types:\n  visit: [seen, turned_away]\n  call: [answered]\n"
                    "adverse_outcomes: [turned_away]\n")
    data = generate(str(spec), n_people=500, seed=0)
    assert data.domain == "clinic"
    assert set(data.events["event_type"]) == {"visit", "call"}
    assert set(data.events["outcome"]) <= {"seen", "turned_away", "answered"}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_writes_people_and_events(tmp_path, fmt: str, capsys) -> None:
    assert main(["--domain", "employment", "--people", "300", "--out", str(tmp_path), "--format", fmt]) == 0
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    people = read(tmp_path / f"people.{fmt}")
    events = read(tmp_path / f"events.{fmt}")
    assert len(people) == 300 and len(events) > 0
    assert set(events["person_id"]) <= set(people["person_id"])
    assert "events ->" in capsys.readouterr().out
