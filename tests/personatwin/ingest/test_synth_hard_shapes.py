"""Opt-in hard shapes of the synthetic generator: skewed sensitive counts and rare race groups."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from personatwin.api import create_safe_personas
from personatwin.core.domains import get_domain
from personatwin.core.errors import ReleaseRefusedError
from personatwin.ingest.synth import (
    COUNT_MAX,
    EVENT_COLUMNS,
    PEOPLE_COLUMNS,
    RARE_RACES,
    SyntheticData,
    flat,
    generate,
    main,
    sensitive_count_columns,
)

SHARES = {"prior_offenses": 0.35, "juvenile_felonies": 0.95, "warrants": 0.30, "fta_count": 0.6}
COUNT_COLUMNS = ("prior_offenses", "juvenile_felonies")


@pytest.fixture(scope="module")
def skewed() -> SyntheticData:
    return generate("criminal_justice", n_people=20_000, seed=7, sensitive_counts=SHARES)


def _events_per_person(data: SyntheticData) -> np.ndarray:
    sizes = data.events.groupby("person_id", observed=True).size()
    return sizes.reindex(data.people["person_id"], fill_value=0).to_numpy()


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()).hexdigest()


def test_default_output_is_unchanged() -> None:
    default = generate("criminal_justice", 5_000, seed=3)
    off = generate("criminal_justice", 5_000, seed=3, sensitive_counts=None, rare_category_share=None)
    empty = generate("criminal_justice", 5_000, seed=3, sensitive_counts={}, rare_category_share=0.0)
    assert list(default.people.columns) == list(PEOPLE_COLUMNS)
    assert list(default.events.columns) == list(EVENT_COLUMNS)
    for other in (off, empty):
        pd.testing.assert_frame_equal(default.people, other.people)
        pd.testing.assert_frame_equal(default.events, other.events)
    # The figures other tests pin on synth output come from exactly these frames (before the options).
    assert _digest(default.people) == "4e7c2b9492499b43b6d18b5c8feb730cf1f6a4b62dbb55cbdb161fe35378e2ee"
    assert _digest(default.events) == "cd946e6c8d6710f3bb0c05ab901330494476ffd7438e62275bb1fd903b1bd582"


def test_sensitive_counts_only_add_columns() -> None:
    default = generate("healthcare", 3_000, seed=5)
    data = generate("healthcare", 3_000, seed=5, sensitive_counts={"prior_claims": 0.5, "denials": 0.9})
    assert list(data.people.columns) == [*PEOPLE_COLUMNS, "prior_claims", "denials"]
    pd.testing.assert_frame_equal(data.people[list(PEOPLE_COLUMNS)], default.people)
    pd.testing.assert_frame_equal(data.events, default.events)


def test_zero_shares_match_the_request(skewed: SyntheticData) -> None:
    assert len(skewed.people) == 20_000
    for column, share in SHARES.items():
        zero = float((skewed.people[column] == 0).mean())
        assert abs(zero - share) <= 0.02, (column, zero, share)


def test_counts_are_long_tailed_integers(skewed: SyntheticData) -> None:
    for column in SHARES:
        counts = skewed.people[column]
        assert counts.dtype == np.int64, column
        assert (counts >= 0).all() and counts.max() <= COUNT_MAX, column
        nonzero = counts[counts > 0]
        assert counts.max() >= 10, column
        assert nonzero.mean() > 1.5, column
        assert nonzero.median() < nonzero.mean(), column  # right skew
        assert (nonzero == 1).mean() > (nonzero == 2).mean() > (nonzero == 5).mean(), column


def test_counts_rise_with_event_count(skewed: SyntheticData) -> None:
    n_events = _events_per_person(skewed)
    many = n_events >= np.quantile(n_events, 0.75)
    few = n_events <= np.quantile(n_events, 0.25)
    for column in SHARES:
        counts = skewed.people[column].to_numpy()
        assert np.corrcoef(counts, n_events)[0, 1] > 0.1, column
        assert (counts[many] > 0).mean() > (counts[few] > 0).mean(), column
        assert counts[many].mean() > counts[few].mean(), column


def test_counts_depend_only_on_event_counts_and_seed(skewed: SyntheticData) -> None:
    """Never a function of outcomes: the columns are rebuilt from events per person and the seed."""
    child = np.random.default_rng(7).spawn(2)[1]
    again = sensitive_count_columns(_events_per_person(skewed), SHARES, child)
    for column in SHARES:
        np.testing.assert_array_equal(again[column], skewed.people[column].to_numpy())


def test_same_seed_same_output_and_another_seed_differs() -> None:
    kwargs = {"sensitive_counts": {"prior_offenses": 0.35}, "rare_category_share": 0.01}
    a = generate("criminal_justice", 3_000, seed=42, **kwargs)
    b = generate("criminal_justice", 3_000, seed=42, **kwargs)
    pd.testing.assert_frame_equal(a.people, b.people)
    pd.testing.assert_frame_equal(a.events, b.events)
    c = generate("criminal_justice", 3_000, seed=43, **kwargs)
    assert not a.people["prior_offenses"].equals(c.people["prior_offenses"])


def test_rare_category_share_moves_people_into_rare_races() -> None:
    base = generate("criminal_justice", 20_000, seed=9)
    rare = generate("criminal_justice", 20_000, seed=9, rare_category_share=0.005)
    moved = (base.people["race"] != rare.people["race"]).to_numpy()
    assert moved.sum() == 100
    assert not base.people["race"][moved].isin(RARE_RACES).any()
    assert rare.people["race"][moved].value_counts().sort_values().tolist() == [33, 33, 34]
    gained = rare.people["race"].value_counts() - base.people["race"].value_counts()
    assert {r: int(gained[r]) for r in RARE_RACES if gained[r]} == dict(rare.people["race"][moved].value_counts())
    others = [c for c in PEOPLE_COLUMNS if c != "race"]
    pd.testing.assert_frame_equal(rare.people[others], base.people[others])
    # Same events and, for everyone not moved, the same outcomes (the moved follow their new race;
    # end dates, values and locations are drawn per outcome, so they may shift for anyone).
    cols = ["person_id", "event_type", "event_date"]
    pd.testing.assert_frame_equal(rare.events[cols], base.events[cols])
    stay = ~base.events["person_id"].isin(base.people["person_id"][moved]).to_numpy()
    pd.testing.assert_series_equal(rare.events["outcome"][stay], base.events["outcome"][stay])


def test_options_on_empty_and_invalid_requests() -> None:
    empty = generate("education", 0, sensitive_counts={"absences": 0.4}, rare_category_share=0.01)
    assert list(empty.people.columns) == [*PEOPLE_COLUMNS, "absences"] and empty.people.empty
    for bad in ({"prior_offenses": 1.5}, {"prior_offenses": -0.1}, {"prior_offenses": float("nan")},
                {"race": 0.5}, {"": 0.5}):
        with pytest.raises(ValueError):
            generate("criminal_justice", 100, sensitive_counts=bad)
    for share in (-0.01, 1.01):
        with pytest.raises(ValueError):
            generate("criminal_justice", 100, rare_category_share=share)


def test_new_columns_survive_flat() -> None:
    data = generate("criminal_justice", 2_000, seed=1, sensitive_counts={"prior_offenses": 0.35})
    rows = flat(data)
    assert list(rows.columns) == [*PEOPLE_COLUMNS, "prior_offenses", *EVENT_COLUMNS[1:]]
    assert rows["prior_offenses"].dtype == np.int64
    expected = data.people.set_index("person_id")["prior_offenses"].loc[rows["person_id"]].to_numpy()
    np.testing.assert_array_equal(rows["prior_offenses"].to_numpy(), expected)


def test_create_safe_personas_takes_counts_declared_sensitive() -> None:
    shares = {"prior_offenses": 0.35, "juvenile_felonies": 0.95}
    data = generate("criminal_justice", 2_000, seed=3, sensitive_counts=shares)
    domain = get_domain("criminal_justice").with_overrides(sensitive=COUNT_COLUMNS)
    try:
        result = create_safe_personas(people=data.people, events=data.events, domain=domain,
                                      privacy_level="low", key="x" * 32)
    except ReleaseRefusedError as err:  # skewed sensitive counts may refuse; it must say why
        assert str(err).strip()
    else:
        assert len(result.personas) > 0
        assert set(result.sensitive["attribute"]) == set(COUNT_COLUMNS)


def test_cli_options(tmp_path, capsys) -> None:
    assert main(["--people", "500", "--out", str(tmp_path), "--format", "csv",
                 "--sensitive-count", "prior_offenses=0.35", "--rare-category-share", "0.02"]) == 0
    people = pd.read_csv(tmp_path / "people.csv")
    assert (people["prior_offenses"] == 0).mean() == pytest.approx(0.35, abs=0.005)
    assert people["race"].isin(RARE_RACES).sum() >= 10
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--sensitive-count", "prior_offenses"])
