"""The pipeline's one per-process cache: reuse only for the very same inputs."""

from __future__ import annotations

import pytest

from assets.step_cache import StepCache
from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.protect.prepared import PassContext
from personatwin.protect.stages import merge_stage
from personatwin.validate.validation import validate

DOMAIN = get_domain("criminal_justice")


def tables():
    data = synth.generate("criminal_justice", 600, start="2024-01-01", end="2024-01-31", seed=4)
    checked = validate(data.people, data.events, DOMAIN)
    return checked.people, checked.events


def test_prepared_is_reused_for_the_same_table_objects_only():
    cache, (people, events) = StepCache(), tables()
    first = cache.prepared(people, events, DOMAIN)
    assert cache.prepared(people, events, DOMAIN) is first and cache.hits["prepared"] == 1
    assert cache.prepared(people.copy(), events, DOMAIN) is not first  # equal values, other object: recomputed


def test_first_pass_follows_the_context():
    cache, (people, events) = StepCache(), tables()
    data = cache.prepared(people, events, DOMAIN)
    ctx = PassContext(data, policy_for_level("medium", target_risk=0.5), ReleaseKey("k" * 32), "2024-01")
    merged = merge_stage(ctx)
    personas = {"personas": merged.personas, "membership": merged.membership(data.people)}
    risk_pass = cache.first_protection(ctx, personas)
    same = PassContext(data, ctx.policy, ReleaseKey("k" * 32), "2024-01")  # equal key, new object
    assert cache.cached_first_protection(same) is risk_pass
    assert cache.cached_first_protection(PassContext(data, ctx.policy, ctx.key, "2024-02")) is None
    assert cache.cached_first_protection(PassContext(data, ctx.policy, ReleaseKey("j" * 32), "2024-01")) is None
    assert cache.cached_first_protection(ctx.with_policy(policy_for_level("high"))) is None
    assert (risk_pass.events.reset_index(drop=True)).equals(cache.first_pass(ctx, personas)[1].events)


def test_digests_computed_ahead_are_those_of_the_same_tables_only():
    """The validated tables' digests and the people's digests start in the background with the prepared data;
    what the release reads is the digest of those very objects, equal to computing it then."""
    import numpy as np

    from personatwin.release.identity import table_digest
    from personatwin.series import exposure

    cache, (people, events) = StepCache(), tables()
    data = cache.prepared(people, events, DOMAIN)
    assert cache.table_digests(people, events) == (table_digest(people), table_digest(events))
    assert cache.hits["table_digests"] == 1
    other = events.copy()
    other.loc[other.index[0], "outcome"] = next(o for o in other["outcome"].unique() if o != other["outcome"].iloc[0])
    assert cache.table_digests(people, other)[1] == table_digest(other) != table_digest(events)
    assert cache.hits["table_digests"] == 1  # another object: computed, not the one started ahead
    assert np.array_equal(exposure._person_digests(data), exposure.person_digests(data))
    assert exposure._AHEAD and exposure._AHEAD[0][0] is data
    fresh = cache.prepared(people.copy(), events, DOMAIN)  # new tables: new prepared data, its own digests
    assert exposure._AHEAD[0][0] is fresh and np.array_equal(exposure._person_digests(fresh),
                                                             exposure.person_digests(fresh))


def test_an_attack_evaluation_started_ahead_serves_that_context_only():
    """The evaluation started in the background for the first pass's context is the one the release gets for
    that very context (equal to evaluating then); another context (salt) is evaluated anew."""
    from concurrent.futures import ThreadPoolExecutor

    from personatwin.measure import anonymeter_eval as ae

    data = synth.generate("criminal_justice", 2500, start="2024-01-01", end="2024-01-31", seed=8)
    checked = validate(data.people, data.events, DOMAIN)
    cache = StepCache()
    prepared = cache.prepared(checked.people, checked.events, DOMAIN)
    ctx = PassContext(prepared, policy_for_level("high"), ReleaseKey("k" * 32), "2024-01")
    with ThreadPoolExecutor(max_workers=1) as pool:
        ae.evaluate_prepared_ahead(ctx, ae.AnonymeterOptions(), pool.submit)
        future = ae._AHEAD[0][2]
        got = ae.evaluate_prepared(PassContext(prepared, policy_for_level("high"), ReleaseKey("k" * 32), "2024-01"))
        assert got is future.result() and not ae._AHEAD
        assert got.metrics() == ae.evaluate_prepared_now(ctx).metrics()
        ae.evaluate_prepared_ahead(ctx, ae.AnonymeterOptions(), pool.submit)
        ahead = ae._AHEAD[0][2]
        other = ae.evaluate_prepared(PassContext(prepared, ctx.policy, ctx.key, "2024-01-v2"))
        assert not ae._AHEAD and (ahead.cancelled() or other is not ahead.result())
        assert other.metrics() == ae.evaluate_prepared_now(PassContext(prepared, ctx.policy, ctx.key,
                                                                        "2024-01-v2")).metrics()


def test_the_merge_steps_own_stage_serves_the_noise_step_of_the_same_context_only():
    """The noise step takes the merge step's Merged for the very same context (equal to the rebuild from the
    stored membership), and rebuilds from storage for another context or other stored personas."""
    import numpy as np

    cache, (people, events) = StepCache(), tables()
    data = cache.prepared(people, events, DOMAIN)
    ctx = PassContext(data, policy_for_level("medium", target_risk=0.5), ReleaseKey("k" * 32), "2024-01")
    merged = merge_stage(ctx)
    personas = {"personas": merged.personas, "membership": merged.membership(data.people)}
    cache.remember_merged(ctx, merged)
    got, _ = cache.first_pass(ctx, personas)
    assert got is merged and cache.hits["merged"] == 1
    rebuilt, _ = StepCache().first_pass(ctx, personas)
    assert np.array_equal(rebuilt.person_persona, merged.person_persona)
    assert rebuilt.personas.equals(merged.personas)
    other = PassContext(data, ctx.policy, ctx.key, "2024-02")
    with pytest.raises(ValueError, match="another key or salt"):  # the stored membership is not this context's
        cache.first_pass(other, personas)
    fewer = {"personas": personas["personas"].iloc[1:], "membership": personas["membership"]}
    cache2 = StepCache()
    cache2.remember_merged(ctx, merged)
    cache2.first_pass(ctx, fewer)
    assert "merged" not in cache2.hits
