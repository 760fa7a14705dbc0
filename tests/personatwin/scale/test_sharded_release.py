"""A sharded pass whose coordinator holds no event-level array (``personatwin.scale.release``): its figures and its
events table are the single-process pass's, on three sizes and three keys, in memory, out of core and on a
cluster; the shards' pieces (rows, attack cells) combine as the whole release's."""

from __future__ import annotations

import stat
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.core.schema import END_DATE, LOCATION, VALUE
from personatwin.ingest import synth
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import merge_stage
from personatwin.release.one_pass import protect
from personatwin.scale import release
from personatwin.scale.release import DetailDictionary, across_shards, sharded_pass
from personatwin.scale.runners import InProcess
from tests.personatwin.scale.test_sharded_noise import KEYS, SIZES


@pytest.fixture(scope="module")
def prepared():
    out = {}
    for n in SIZES:
        s = synth.generate("criminal_justice", n, seed=n + 1)
        out[n] = prepare(s.people, s.events, get_domain("criminal_justice"))
    return out


def same_pass(single, sharded, tmp_path=None) -> None:
    """The single pass's events table and every figure, from the sharded pass (its table, or its Parquet file
    read back as the single table written to Parquet reads back)."""
    if isinstance(sharded.events, pd.DataFrame):
        pd.testing.assert_frame_equal(single.events, sharded.events)
    else:
        single.events.to_parquet(tmp_path / "single.parquet", index=False)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "single.parquet"), pd.read_parquet(sharded.events))
    assert single.figures() == sharded.figures()
    assert single.risk.by_attribute == sharded.risk.by_attribute
    assert single.sensitive.equals(sharded.sensitive)
    np.testing.assert_array_equal(single.pram.matrix, sharded.pram.matrix)
    assert sharded.n_events == len(single.events)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("key", KEYS)
def test_a_sharded_pass_is_the_single_process_pass(prepared, n, key, tmp_path):
    ctx = PassContext(prepared[n], policy_for_level("high"), ReleaseKey(key), "2024-01", bucket_people=n // 8)
    single = protect(ctx)
    merged = merge_stage(ctx)
    for shards, threads in ((2, 1), (5, 1), (5, 2)):
        runner = InProcess(threads=threads)
        same_pass(single, sharded_pass(ctx, merged, tmp_path / f"rows-{shards}-{threads}", runner, n_shards=shards))
        runner.close()


def test_the_events_file_written_from_the_shards_is_the_single_table(prepared, tmp_path, monkeypatch):
    """Out of core: the shards' arrays and states spilled, their rows merged into one Parquet file chunk by chunk
    of persona ranks (several chunks here); the shards' row folders are the owner's only."""
    ctx = PassContext(prepared[SIZES[-1]], policy_for_level("medium"), ReleaseKey(KEYS[1]), "2024-02",
                      bucket_people=500)
    single = protect(ctx)
    merged = merge_stage(ctx)
    runner = InProcess(spill=tmp_path / "spill")
    path = tmp_path / "events.parquet"
    original = release.merge_rows
    seen: list[int] = []

    def merge(folders, spec, p):
        seen.extend(stat.S_IMODE(f.stat().st_mode) for f in folders)
        return original(folders, spec, p, chunk_ranks=97)

    monkeypatch.setattr(release, "merge_rows", merge)
    got = sharded_pass(ctx, merged, tmp_path / "rows", runner, n_shards=3, events_path=path)
    assert got.events == path
    same_pass(single, got, tmp_path)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).num_row_groups > 3  # written a chunk at a time
    # the shards' rows (each with its source event's position) were the owner's only, and are gone once merged
    assert seen == [0o700] * 3 and not list((tmp_path / "rows").glob("rows-*"))
    assert stat.S_IMODE((tmp_path / "spill" / "states").stat().st_mode) == 0o700
    assert not list((tmp_path / "spill" / "states").iterdir())  # the states' files are unlinked once mapped


def test_details_that_travel_and_shifted_dates_match_as_in_the_single_pass(prepared, tmp_path):
    """Location, end date and amount released with the outcome (joint PRAM), dates shifted: the attack's detail
    codes from the shards' dictionary give the single pass's linkage figures."""
    data = prepared[SIZES[1]]
    data = replace(data, domain=replace(data.domain, outcome_dependent=(END_DATE, VALUE, LOCATION)))
    policy = policy_for_level("medium").with_changes(date_shift_days=20)
    ctx = PassContext(data, policy, ReleaseKey(KEYS[0]), "2024-02", bucket_people=300)
    single = protect(ctx)
    assert single.risk.external_linkage_risk > 0
    same_pass(single, sharded_pass(ctx, merge_stage(ctx), tmp_path, InProcess(), n_shards=4))


def test_one_bucket_is_refused_with_a_reason(prepared, tmp_path):
    ctx = PassContext(prepared[SIZES[0]], policy_for_level("high"), ReleaseKey(KEYS[0]), "2024-01")
    assert ctx.n_buckets == 1
    with pytest.raises(ValueError, match="at least two buckets"):
        sharded_pass(ctx, merge_stage(ctx), tmp_path)


def test_occurrences_counted_across_shards():
    """A persona's rows in two shards: its counts of a cell add up (capped at m), as over the whole release."""
    a = (np.array([7, 8]), np.array([3, 3]), np.array([2, 1]))
    b = (np.array([8, 7]), np.array([4, 3]), np.array([1, 1]))
    persona, cell, occ = across_shards([a, b], 3)
    assert sorted(zip(persona.tolist(), cell.tolist(), occ.tolist())) == [(7, 3, 0), (7, 3, 1), (7, 3, 2),
                                                                            (8, 3, 0), (8, 4, 0)]
    assert len(across_shards([a, b], 2)[0]) == 4 and all(len(x) == 0 for x in across_shards([], 3))


def test_detail_dictionary_codes_equal_tuples_equally():
    end = np.array([5, 5, 9, np.iinfo(np.int64).min])
    amount = np.array([-1.0, 2.5, 2.5, 0.0])
    d = DetailDictionary.of((end, amount))
    codes = d.codes((end, amount))
    assert len(set(codes.tolist())) == 4 and d.size == 4
    other = d.codes((np.array([5, 9, 5, 7]), np.array([2.5, -1.0, -1.0, 2.5])))
    assert other.tolist() == [codes[1], d.size, codes[0], d.size]  # unseen tuples (or values): no target's code
    assert DetailDictionary.of(()).codes(()).tolist() == []


def test_the_coordinator_reads_no_event_array_once_the_shards_are_placed(prepared, tmp_path):
    """Once the shards hold the events, the coordinator's data may lose them: every event array replaced by one of
    the same length and other values (persons reversed, types and outcomes rolled, dates moved) gives the same
    pass, so nothing after the placement read them."""
    from personatwin.protect.prepared import EVENT_ARRAYS
    from personatwin.scale.noise import placed_shards

    data = prepared[SIZES[1]]
    ctx = PassContext(data, policy_for_level("high"), ReleaseKey(KEYS[2]), "2024-03", bucket_people=400)
    single = protect(ctx)
    merged = merge_stage(ctx)
    runner = InProcess()
    placed = placed_shards(ctx, runner, 3)

    def other(name: str, a):
        if a is None:
            return None
        if a.dtype.kind == "M":
            return a + np.timedelta64(4000, "D")
        return (a[::-1] if name == "event_person" else np.roll(a, 7)).copy()

    blind = replace(data, **{f: other(f, getattr(data, f)) for f in EVENT_ARRAYS})
    placed.data = blind  # the same shards, for a context whose data no longer hold the events
    got = sharded_pass(replace(ctx, data=blind), merged, tmp_path, runner, n_shards=3)
    same_pass(single, got)


def test_shards_on_threads_out_of_core_give_the_same_pass(prepared, tmp_path):
    """Two threads running the shards' phases (spilled, out of core): the same pass, every shard's phases timed."""
    ctx = PassContext(prepared[SIZES[-1]], policy_for_level("high"), ReleaseKey(KEYS[0]), "2024-05", bucket_people=500)
    single = protect(ctx)
    runner = InProcess(spill=tmp_path / "spill", threads=2)
    try:
        got = sharded_pass(ctx, merge_stage(ctx), tmp_path / "rows", runner, n_shards=6)
    finally:
        runner.close()
    same_pass(single, got)
    assert runner.workers == 2 and set(runner.log.shards["cells"]) == set(range(6))
