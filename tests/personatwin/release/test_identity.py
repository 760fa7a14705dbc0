"""Release identity (issue 12, finding 3): API releases never share randomness unless they are the same data."""

from __future__ import annotations

import json

import pandas as pd

import personatwin as pt
from personatwin.core.keys import ReleaseKey
from personatwin.ingest import synth
from personatwin.publish.export import write_release_folder
from personatwin.release.identity import AUTO_PREFIX, derived_release_id, table_digest

KEY = "release-identity-key-0123456789abcdef"


def _month(data, month: str):
    ev = data.events[data.events["event_date"].dt.strftime("%Y-%m") == month].reset_index(drop=True)
    people = data.people[data.people["person_id"].isin(ev["person_id"])].reset_index(drop=True)
    return people, ev


def test_two_months_with_one_key_share_no_persona_id(tmp_path):
    data = synth.generate("criminal_justice", 4000, start="2024-01-01", end="2024-02-29", seed=61)
    releases = {}
    for month in ("2024-01", "2024-02"):
        people, events = _month(data, month)
        releases[month] = pt.create_safe_personas(people=people, events=events, privacy_level="medium",
                                                  domain="criminal_justice", key=KEY)  # no salt given
    jan, feb = releases["2024-01"], releases["2024-02"]
    assert jan.salt.startswith(AUTO_PREFIX) and feb.salt.startswith(AUTO_PREFIX) and jan.salt != feb.salt
    ids_jan = set(jan.personas.to_dataframe()["persona_id"].astype(str))
    ids_feb = set(feb.personas.to_dataframe()["persona_id"].astype(str))
    assert not ids_jan & ids_feb  # with the shared default salt, 192 of 11,870 people kept their id
    manifest = write_release_folder(jan.tables(), tmp_path / "2024-01", partition="2024-01")
    assert manifest["release_id"] == jan.salt
    assert json.loads((tmp_path / "2024-01" / "manifest.json").read_text())["release_id"] == jan.salt


def test_the_same_data_gives_the_same_id_and_release_whatever_the_row_order():
    data = synth.generate("criminal_justice", 800, start="2024-01-01", end="2024-01-31", seed=62)
    key = ReleaseKey(KEY)
    a = derived_release_id(key, data.people, data.events, "criminal_justice")
    shuffled = data.events.sample(frac=1.0, random_state=3)[list(reversed(data.events.columns))]
    assert derived_release_id(key, data.people, shuffled, "criminal_justice") == a
    assert derived_release_id(ReleaseKey(KEY + "x"), data.people, data.events, "criminal_justice") != a
    corrected = data.events.copy()
    corrected.loc[0, "outcome"] = "dismissed" if corrected.loc[0, "outcome"] != "dismissed" else "convicted"
    assert derived_release_id(key, data.people, corrected, "criminal_justice") != a  # a correction: fresh draws
    assert table_digest(pd.DataFrame()) == table_digest(None)
    first = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="low",
                                    domain="criminal_justice", key=KEY, target_risk=0.5)
    again = pt.create_safe_personas(people=data.people, events=shuffled, privacy_level="low",
                                    domain="criminal_justice", key=KEY, target_risk=0.5)
    assert first.salt == again.salt and first.salt.startswith(AUTO_PREFIX)
    pd.testing.assert_frame_equal(first.personas.to_dataframe(), again.personas.to_dataframe())
