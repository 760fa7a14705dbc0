"""Attack: does the order of released rows tell anything the columns do not?

Inside a block of rows that share every released column the pipeline sorts on (persona, period,
type, released outcome), the order must be keyed and random: it must not follow the source person
ids, the true event days, or the hidden value and end-date order of the events (finding 7 of the
attack review: 100% of tied rows followed source order, against ~50% if random)."""

from __future__ import annotations

import numpy as np
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import merge_stage, noise_stage
from personatwin.validate.validation import validate

DOMAIN = get_domain("criminal_justice")


def released_pass(level: str, key: str = "row-order-attack-key-0123456789", bucket_people: int | None = None,
                  sharded: bool = False):
    data = synth.generate("criminal_justice", 4000, start="2024-01-01", end="2024-03-31", seed=17)
    checked = validate(data.people, data.events, DOMAIN)
    ctx = PassContext(prepare(checked.people, checked.events, DOMAIN), policy_for_level(level), ReleaseKey(key), "p",
                      bucket_people=bucket_people)
    merged = merge_stage(ctx)
    if sharded:
        from personatwin.scale.noise import sharded_noise_stage
        from personatwin.scale.runners import InProcess

        return ctx, sharded_noise_stage(ctx, merged, InProcess(), n_shards=3)
    return ctx, noise_stage(ctx, merged)


def adjacent_rises(block: np.ndarray, hidden: np.ndarray) -> tuple[int, int]:
    """Among adjacent released rows of the same block with different hidden values: how many rise."""
    same = block[1:] == block[:-1]
    a, b = hidden[:-1][same], hidden[1:][same]
    differ = a != b
    return int((b[differ] > a[differ]).sum()), int(differ.sum())


@pytest.mark.parametrize("level", ["low", "medium", "high"])
def test_tied_rows_follow_no_hidden_order(level):
    ctx, noised = released_pass(level)
    ev = noised.events
    block = (ev["persona_id"].cat.codes.to_numpy().astype(np.int64) * 10_000
             + ev["event_period"].cat.codes.to_numpy() * 100 + ev["event_type"].cat.codes.to_numpy() * 10
             + ev["outcome"].cat.codes.to_numpy())
    source = noised.order  # canonical position of each released row: source person, then true day
    hidden = {"source position": source, "true day": ctx.data.event_day[source].astype(np.int64),
              "person": ctx.data.event_person[source]}
    if ctx.data.values is not None:
        hidden["value"] = np.nan_to_num(ctx.data.values[source], nan=-1.0)
    for name, values in hidden.items():
        rises, pairs = adjacent_rises(block, values)
        if pairs < 200:
            continue
        share = rises / pairs
        # random order: share ~ 0.5 (sd ~ 0.5/sqrt(pairs)); the old stable sort gave 1.0 for source position
        assert abs(share - 0.5) < 5 * 0.5 / np.sqrt(pairs) + 0.02, (level, name, share, pairs)


def test_row_order_is_keyed_and_reproducible():
    _, first = released_pass("medium")
    _, again = released_pass("medium")
    _, other = released_pass("medium", key="another-row-order-key-987654321")
    assert (first.order == again.order).all()
    assert first.events.equals(again.events)
    assert not (first.order == other.order).all()


@pytest.mark.parametrize(("bucket_people", "sharded"), [(None, False), (300, False), (300, True)])
def test_rows_of_one_person_are_not_grouped_inside_a_block(bucket_people, sharded):
    """Inside a block, a member's rows sit next to each other no more often than in a random order: with buckets of
    draws (one per group of people) a tie order drawn bucket after bucket would put each member's rows in a run and
    tell which events belong to one person (each member is in its own bucket)."""
    ctx, noised = released_pass("low", bucket_people=bucket_people, sharded=sharded)
    assert ctx.n_buckets == (1 if bucket_people is None else 14)
    ev = noised.events
    block = (ev["persona_id"].cat.codes.to_numpy().astype(np.int64) * 10_000
             + ev["event_period"].cat.codes.to_numpy() * 100 + ev["event_type"].cat.codes.to_numpy() * 10
             + ev["outcome"].cat.codes.to_numpy())
    person = ctx.data.event_person[noised.order]
    same_block = block[1:] == block[:-1]
    observed = int((person[1:] == person[:-1])[same_block].sum())
    # expected under a random order inside each block: (n - 1) * sum c(c - 1) / (n (n - 1)) per block
    starts = np.flatnonzero(np.concatenate(([True], block[1:] != block[:-1])))
    ends = np.append(starts[1:], len(block))
    expected = 0.0
    for lo, hi in zip(starts, ends):  # a loop over blocks of a 4,000-person test release
        n = hi - lo
        if n > 1:
            c = np.unique(person[lo:hi], return_counts=True)[1]
            expected += (c * (c - 1)).sum() / n
    assert expected > 100  # enough blocks holding several rows of one person to tell
    assert abs(observed - expected) < 5 * np.sqrt(expected) + 0.05 * expected, (observed, expected)
