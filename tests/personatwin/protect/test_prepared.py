"""``prepare_parts``: a population prepared part by part is the population prepared at once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.schema import END_DATE, EVENT_TYPE, LOCATION, PERSON_ID
from personatwin.ingest import synth
from personatwin.protect.prepared import EVENT_ARRAYS, PreparedData, prepare, prepare_parts

DOMAIN = get_domain("criminal_justice")


def split(people: pd.DataFrame, events: pd.DataFrame, cuts: list[int], seed: int = 0):
    """Parts of whole people in person_id order, each part's rows shuffled (the order must not matter)."""
    people = people.sort_values(PERSON_ID).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    for lo, hi in zip([0, *cuts], [*cuts, len(people)]):
        part = people.iloc[lo:hi]
        ev = events[events[PERSON_ID].isin(part[PERSON_ID])]
        yield (part.sample(frac=1.0, random_state=int(rng.integers(1 << 30))),
               ev.sample(frac=1.0, random_state=int(rng.integers(1 << 30))))


def assert_same(a: PreparedData, b: PreparedData) -> None:
    pd.testing.assert_frame_equal(a.people, b.people)
    for f in dataclasses.fields(PreparedData):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x.dtype == y.dtype, f.name
            np.testing.assert_array_equal(x, y, err_msg=f.name)  # exact: NaT / NaN in the same places
        elif not isinstance(x, pd.DataFrame):
            assert x == y, f.name


@pytest.mark.parametrize("cuts", [[1], [400, 401, 1500], [2999]])
def test_parts_give_the_same_prepared_data_as_the_whole(cuts):
    s = synth.generate("criminal_justice", 3000, seed=11)
    assert {END_DATE, LOCATION}.issubset(s.events.columns)
    assert_same(prepare_parts(split(s.people, s.events, cuts), DOMAIN), prepare(s.people, s.events, DOMAIN))


def test_a_part_with_fewer_event_types_and_locations_is_coded_against_the_union():
    s = synth.generate("criminal_justice", 600, seed=3)
    people = s.people.sort_values(PERSON_ID).reset_index(drop=True)
    first = set(people[PERSON_ID].iloc[:200])
    keep = ~s.events[PERSON_ID].isin(first) | (s.events[EVENT_TYPE] == "arrest")
    events = s.events[keep]
    events.loc[events[PERSON_ID].isin(first), LOCATION] = pd.NA  # the first part has no location at all
    parts = list(split(people, events, [200]))
    assert set(parts[0][1][EVENT_TYPE]) == {"arrest"} and parts[0][1][LOCATION].isna().all()
    whole = prepare(people, events, DOMAIN)
    got = prepare_parts(parts, DOMAIN)
    assert_same(got, whole)
    assert got.location_codes is not None and (got.location_codes[: (got.event_person < 200).sum()] == -1).all()


def test_parts_out_of_order_or_with_strangers_are_refused_by_part():
    s = synth.generate("criminal_justice", 300, seed=5)
    a, b = split(s.people, s.events, [150])
    with pytest.raises(ValueError, match=r"part 1: its person_ids must all sort after"):
        prepare_parts([b, a], DOMAIN)
    with pytest.raises(ValueError, match=r"part 1: events reference person_ids that are not among"):
        prepare_parts([a, (b[0], pd.concat([b[1], a[1].head(3)]))], DOMAIN)
    with pytest.raises(ValueError, match=r"column 'end_date' is in the events of parts \[0\] but not of parts \[1\]"):
        prepare_parts([a, (b[0], b[1].drop(columns=[END_DATE]))], DOMAIN)
    with pytest.raises(ValueError, match="no parts given"):
        prepare_parts([], DOMAIN)


def test_spilled_parts_are_memory_mapped_read_only_and_equal(tmp_path):
    s = synth.generate("criminal_justice", 2000, seed=13)
    got = prepare_parts(split(s.people, s.events, [700, 1300]), DOMAIN, spill=tmp_path / "spill")
    assert_same(got, prepare(s.people, s.events, DOMAIN))
    for name in EVENT_ARRAYS:
        a = getattr(got, name)
        assert isinstance(a, np.memmap) and not a.flags.writeable, name
    # only the whole's files are left: one per event array, the parts' spills removed
    assert sorted(p.name for p in (tmp_path / "spill").iterdir()) == sorted(f"{n}.npy" for n in EVENT_ARRAYS)
    assert (tmp_path / "spill").stat().st_mode & 0o777 == 0o700  # person-level data: the owner's only


def test_a_whole_pass_on_spilled_data_is_the_same_pass(tmp_path):
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.policy import policy_for_level
    from personatwin.protect.prepared import PassContext
    from personatwin.release.one_pass import protect

    s = synth.generate("criminal_justice", 1500, seed=17)
    key = ReleaseKey("prepared-parts-test-key-0000000001")
    spilled = prepare_parts(split(s.people, s.events, [500]), DOMAIN, spill=tmp_path)
    a = protect(PassContext(spilled, policy_for_level("high"), key, "2024-01", bucket_people=300))
    b = protect(PassContext(prepare(s.people, s.events, DOMAIN), policy_for_level("high"), key, "2024-01",
                            bucket_people=300))
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.personas, b.personas)
    assert a.figures() == b.figures()
