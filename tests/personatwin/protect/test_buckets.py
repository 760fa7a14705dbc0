"""Buckets of draws (personatwin.protect.buckets): one bucket draws what one generator per purpose drew; more
buckets keep every event- and person-level draw inside its bucket, so a shard holding whole buckets draws the
same values."""

from __future__ import annotations

import numpy as np
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.protect import noise
from personatwin.protect.buckets import n_buckets, person_buckets
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.row_order import keyed_order_bucketed, keyed_order_grouped
from personatwin.protect.stages import assignment_from_membership, merge_stage, noise_stage
from personatwin.release.one_pass import protect

KEY = ReleaseKey("bucket-test-release-key-0001")


def _draw(purpose: str):
    return lambda b: KEY.rng("2024-01", purpose, "bucket", str(b))


def test_bucket_count_follows_people_not_workers():
    assert n_buckets(0) == 1 and n_buckets(20_000) == 1 and n_buckets(20_001) == 2
    assert n_buckets(1_000_000) == 50 and n_buckets(10_000_000) == 500
    assert n_buckets(2_500, bucket_people=1_000) == 3


def test_one_bucket_draws_what_one_generator_drew():
    rng = np.random.default_rng(5)
    types = rng.integers(0, 4, 5_000)
    one = lambda b: KEY.rng("2024-01", "pram")  # noqa: E731
    np.testing.assert_array_equal(noise.bucketed_pram_sources(types, 4, 0.7, np.zeros(0, np.int64), 1, one),
                                  noise.joint_pram_sources(types, 0.7, KEY.rng("2024-01", "pram")))
    persona = rng.integers(0, 300, 5_000)
    persona[:300] = np.arange(300)
    minor = rng.integers(0, 20, 5_000)
    np.testing.assert_array_equal(
        keyed_order_bucketed(persona, 300, minor, np.zeros(0, np.int64), 1, lambda b: KEY.rng("x", "row-order")),
        keyed_order_grouped(persona, 300, minor, KEY.rng("x", "row-order")))


def _bucketed_case(seed: int = 1, n_events: int = 20_000, n_bk: int = 7):
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 3, n_events)
    bucket = rng.integers(0, n_bk, n_events)
    return types, bucket


def test_pram_draws_of_a_bucket_depend_on_its_events_and_the_type_lists_only():
    """What a bucket draws (which of its events are replaced, and which position of their type's list each one
    takes) does not move when every other bucket's events are shuffled inside their buckets: the type lists keep
    their lengths per bucket, so a shard can draw its buckets without seeing the others."""
    types, bucket = _bucketed_case()
    src = noise.bucketed_pram_sources(types, 3, 0.6, bucket, 7, _draw("pram"))
    rng = np.random.default_rng(9)
    shuffled = types.copy()
    for b in range(7):
        if b != 3:
            rows = np.flatnonzero(bucket == b)
            shuffled[rows] = types[rows][rng.permutation(len(rows))]
    src2 = noise.bucketed_pram_sources(shuffled, 3, 0.6, bucket, 7, _draw("pram"))
    mine = np.flatnonzero(bucket == 3)
    np.testing.assert_array_equal(src[mine] == mine, src2[mine] == mine)
    np.testing.assert_array_equal(_positions(types, bucket, src)[mine], _positions(shuffled, bucket, src2)[mine])
    assert (src[mine] != mine).any() and (shuffled != types).any()


def _positions(types, bucket, source):
    order = np.argsort(bucket, kind="stable")
    lists = order[np.argsort(types[order], kind="stable")]
    pos = np.empty(len(types), np.int64)
    pos[lists] = np.arange(len(types))
    return pos[source]


def test_bucketed_pram_stays_invariant_and_draws_from_the_whole_release():
    types, bucket = _bucketed_case(n_events=200_000)
    rng = np.random.default_rng(3)
    outcomes = (rng.random(len(types)) < np.array([0.2, 0.5, 0.8])[types]).astype(np.int64)
    src = noise.bucketed_pram_sources(types, 3, 0.5, bucket, 7, _draw("pram"))
    assert (types[src] == types).all()  # a source is always of the event's own type
    replaced = src != np.arange(len(types))
    assert abs(replaced.mean() - 0.5) < 5 * np.sqrt(0.25 / len(types))
    assert (bucket[src[replaced]] != bucket[replaced]).mean() > 0.8  # ~6/7 come from other buckets
    for t, rate in enumerate((0.2, 0.5, 0.8)):  # invariant: the released marginal is the true one
        rel = outcomes[src][types == t].mean()
        assert abs(rel - rate) < 5 * np.sqrt(rate * (1 - rate) / (types == t).sum())


def test_people_are_spread_over_the_buckets_by_a_keyed_draw():
    a = person_buckets(KEY.rng("2024-01", "person-buckets"), 50_000, 10)
    b = person_buckets(KEY.rng("2024-02", "person-buckets"), 50_000, 10)
    counts = np.bincount(a, minlength=10)
    assert counts.min() > 4_600 and counts.max() < 5_400  # balanced: 5,000 +- 5.7 standard deviations
    assert (a != b).mean() > 0.85  # another release id, another spread (never person id order)
    assert not (np.diff(a) >= 0).all()
    assert (person_buckets(KEY.rng("x"), 7, 1) == 0).all()


@pytest.fixture(scope="module")
def prepared():
    s = synth.generate("criminal_justice", 3_000, seed=11)
    return prepare(s.people, s.events, get_domain("criminal_justice"))


def test_a_release_in_many_buckets_is_reproducible_and_keeps_its_guarantees(prepared):
    ctx = PassContext(prepared, policy_for_level("medium"), KEY, "2024-01", bucket_people=400)
    assert ctx.n_buckets == 8
    merged = merge_stage(ctx)
    # a stored membership maps back to the same numbering (the pipeline's steps rebuild the merge from it)
    stored = merged.membership(prepared.people)
    np.testing.assert_array_equal(assignment_from_membership(ctx, stored), merged.person_persona)
    result = protect(ctx)
    assert result.risk.k_anonymity >= ctx.policy.k
    assert result.events["persona_id"].astype(str).isin(set(merged.ids.astype(str))).all()
    again = protect(PassContext(prepared, policy_for_level("medium"), KEY, "2024-01", bucket_people=400))
    assert again.events.equals(result.events) and again.personas.equals(result.personas)
    # the buckets change the PRAM draws (bucket generators), not the grouping nor the persona-level draws
    one = noise_stage(PassContext(prepared, policy_for_level("medium"), KEY, "2024-01"), merged)
    many = noise_stage(ctx, merged)
    np.testing.assert_array_equal(one.starts, many.starts)
    assert not np.array_equal(one.outcomes, many.outcomes)
    assert sorted(one.events["persona_id"].astype(str)) == sorted(many.events["persona_id"].astype(str))
