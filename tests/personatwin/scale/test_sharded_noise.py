"""The sharded engine (personatwin.scale) releases what the single-process engine releases: the noise stage shard
by shard, the privacy loop with it, and the exported files, on three sizes and three keys."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

import personatwin as pt
from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.core.schema import END_DATE, LOCATION, VALUE
from personatwin.ingest import synth
from personatwin.measure.assess import counts_of
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import merge_stage, noise_stage
from personatwin.release.one_pass import protect
from personatwin.scale.noise import sharded_noise_stage
from personatwin.scale.plan import plan_shards
from personatwin.scale.runners import InProcess

KEYS = ("scale-test-key-one-0000000000001", "scale-test-key-two-0000000000002", "scale-test-key-three-00000000003")
SIZES = (1_200, 3_000, 7_000)


def same_noise(a, b) -> None:
    """Every published table and every per-event array of two noise stages are equal."""
    assert a.events.equals(b.events)
    assert a.sensitive.equals(b.sensitive)
    np.testing.assert_array_equal(a.pram.matrix, b.pram.matrix)
    for f in ("ev_persona", "starts", "outcomes", "order", "period_values", "detail_true", "detail_released"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for (x, nx), (y, ny) in zip(a.sensitive_codes, b.sensitive_codes):
        np.testing.assert_array_equal(x, y)
        assert nx == ny


def same_counts(a, b) -> None:
    """Two passes' event-level sums are equal, field by field."""
    np.testing.assert_array_equal(a.periods.days, b.periods.days)
    for f in ("original", "released"):
        np.testing.assert_array_equal(getattr(a.periods, f), getattr(b.periods, f))
    for f in ("outcomes_true", "outcomes_released", "by_type"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    for f in ("co", "cr", "people_o"):
        for x, y in zip(getattr(a.rates, f), getattr(b.rates, f)):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.rates.persona_types, b.rates.persona_types)


@pytest.fixture(scope="module")
def prepared():
    out = {}
    for n in SIZES:
        s = synth.generate("criminal_justice", n, seed=n)
        out[n] = prepare(s.people, s.events, get_domain("criminal_justice"))
    return out


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("key", KEYS)
def test_noise_shard_by_shard_is_the_single_process_noise(prepared, n, key):
    ctx = PassContext(prepared[n], policy_for_level("high"), ReleaseKey(key), "2024-01", bucket_people=n // 8)
    assert ctx.n_buckets >= 8
    merged = merge_stage(ctx)
    single = noise_stage(ctx, merged)
    whole = counts_of(ctx, merged, single)  # the pass's event-level sums, counted in one piece
    for shards, threads in ((2, 1), (3, 1), (3, 2)):
        runner = InProcess(threads=threads)
        sharded = sharded_noise_stage(ctx, merged, runner, n_shards=shards)
        runner.close()
        same_noise(single, sharded)
        assert set(runner.log.shards["draw"]) == set(range(shards))  # every shard drew its own buckets
        same_counts(whole, sharded.counts)  # the shards' sums add up to them


def test_every_outcome_dependent_column_travels_the_same_way(prepared):
    """A custom domain where the location travels with the outcome too, at a policy with date shifts."""
    data = prepared[3_000]
    dom = replace(data.domain, outcome_dependent=(END_DATE, VALUE, LOCATION))
    data = replace(data, domain=dom)
    policy = policy_for_level("medium").with_changes(date_shift_days=20)
    ctx = PassContext(data, policy, ReleaseKey(KEYS[0]), "2024-02", bucket_people=300)
    merged = merge_stage(ctx)
    single = noise_stage(ctx, merged)
    assert (single.detail_true != single.detail_released).any()  # the details do travel
    same_noise(single, sharded_noise_stage(ctx, merged, InProcess(), n_shards=4))


def test_a_pass_and_its_figures_are_the_same_with_a_runner(prepared):
    data = prepared[7_000]
    base = PassContext(data, policy_for_level("high"), ReleaseKey(KEYS[1]), "2024-03", bucket_people=700)
    a = protect(base)
    runner = InProcess()
    b = protect(replace(base, runner=runner))
    assert a.events.equals(b.events) and a.personas.equals(b.personas)
    assert a.figures() == b.figures()
    assert b.stages[1].counts is not None  # the sharded pass's utility and l-diversity came from the shards' sums
    assert a.utility.group_rates.equals(b.utility.group_rates) and a.utility.event_counts.equals(b.utility.event_counts)
    assert a.risk.by_attribute == b.risk.by_attribute
    # the events are cut into shards once per release: the next pass (another k) reuses them
    placed = runner._placed
    coarser = replace(base, policy=base.policy.with_changes(k=base.policy.k * 2))
    assert protect(replace(coarser, runner=runner)).events.equals(protect(coarser).events)
    assert runner._placed is placed


def test_out_of_core_shards_on_spilled_data_give_the_same_pass(tmp_path):
    """Events memory-mapped from files (``prepare_parts(spill=)``), shards too (``InProcess(spill=)``): the
    same pass as in memory, and the shards' arrays are read-only maps of their files."""
    from personatwin.core.schema import PERSON_ID
    from personatwin.protect.prepared import prepare_parts

    s = synth.generate("criminal_justice", 3_000, seed=21)
    people = s.people.sort_values(PERSON_ID).reset_index(drop=True)
    cut = people[PERSON_ID].iloc[1_200]
    parts = [(people[people[PERSON_ID] < cut], s.events[s.events[PERSON_ID] < cut]),
             (people[people[PERSON_ID] >= cut], s.events[s.events[PERSON_ID] >= cut])]
    spilled = prepare_parts(parts, get_domain("criminal_justice"), spill=tmp_path / "data")
    policy, key = policy_for_level("high"), ReleaseKey(KEYS[2])
    runner = InProcess(spill=tmp_path / "shards")
    a = protect(PassContext(spilled, policy, key, "2024-04", bucket_people=300, runner=runner))
    b = protect(PassContext(prepare(s.people, s.events, get_domain("criminal_justice")), policy, key, "2024-04",
                            bucket_people=300))
    assert a.events.equals(b.events) and a.personas.equals(b.personas)
    assert a.figures() == b.figures()
    shards = runner._placed.handles
    assert len(shards) == 2 and all(isinstance(sh.event_day, np.memmap) and not sh.event_day.flags.writeable
                                    for sh in shards)
    assert len(list((tmp_path / "shards").glob("shard-*/event_day.npy"))) == 2


def test_the_released_files_are_byte_identical(tmp_path, monkeypatch):
    """create_safe_personas with and without a runner, written as release folders: the same Parquet, CSV and JSON
    files, the same report, the same manifest (but for its timings)."""
    import json

    from personatwin.protect import buckets
    from personatwin.publish.export import write_release_folder

    monkeypatch.setattr(buckets, "BUCKET_PEOPLE", 500)  # 8 buckets of draws at 4,000 people
    s = synth.generate("criminal_justice", 4_000, seed=21)
    kwargs = dict(people=s.people, events=s.events, privacy_level="medium", key=KEYS[2], salt="2024-04")
    digests = []
    for name, extra in (("single", {}), ("sharded", {"runner": InProcess()})):
        res = pt.create_safe_personas(**kwargs, **extra)
        folder = tmp_path / name
        write_release_folder(res.tables(), folder, partition="2024-04", created_at="2024-05-01T00:00:00+00:00")
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest.pop("timings", None)
        digests.append(({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
                         if p.name != "manifest.json"}, manifest))
    assert {"events.parquet", "events.csv", "events.json", "privacy_report.html"} <= set(digests[0][0])
    assert digests[0] == digests[1]


def test_shard_plans_balance_whole_buckets():
    load = np.array([50, 10, 10, 40, 30, 0, 20])
    plan = plan_shards(load, 3)
    totals = np.bincount(plan.shard_of, weights=load, minlength=3)
    assert sorted(totals) == [50, 50, 60] and plan_shards(load, 3).shard_of.tolist() == plan.shard_of.tolist()
    assert plan_shards(load, 20).n_shards == len(load) and plan_shards(load, 1).shard_of.tolist() == [0] * 7
