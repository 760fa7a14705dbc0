"""Merge: the first protection pass groups people into personas of k..2k-1 at the starting policy."""


import time

import dagster as dg
import pandas as pd

from assets.common import PARTITIONS, float_metadata, seconds_since, table_metadata
from assets.constants import CHECK_PERSONAS_MIN_K, MERGE
from assets.gx import check_result, run_suite
from assets.step_cache import CACHE
from personatwin.core.errors import TooFewPeopleError
from personatwin.protect.prepared import PassContext
from personatwin.protect.stages import merge_stage
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.source import SourceResource


@dg.asset(group_name=MERGE, kinds={"pandas", "parquet"}, partitions_def=PARTITIONS, check_specs=[
    dg.AssetCheckSpec(CHECK_PERSONAS_MIN_K, asset="personas", partitions_def=PARTITIONS, blocking=True,
                      description="Every persona of the first pass has between k and 2k-1 members.")])
def personas(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
             release_key: ReleaseKeyResource, valid_people: pd.DataFrame, valid_events: pd.DataFrame):
    """Personas of the first protection pass: every valid person in a group of k to 2k-1 similar people."""
    t0 = time.perf_counter()
    pol = policy.policy()
    data = CACHE.prepared(valid_people, valid_events, source.get_domain())
    ctx = PassContext(data, pol, release_key.key(), context.partition_key)
    try:
        merged = merge_stage(ctx)
    except TooFewPeopleError as exc:
        raise dg.Failure(description=f"partition {context.partition_key}: {exc}") from None
    # the release stage attacks the configuration it settles on, most often this first pass's: start that
    # evaluation now, on the core the next stages leave idle
    CACHE.attack_evaluation_ahead(ctx)
    CACHE.remember_merged(ctx, merged)
    table = merged.personas
    sizes = table["size"]
    stored = {"personas": table, "membership": merged.membership(data.people)}
    yield dg.Output(stored,
                     metadata={**table_metadata(table), **float_metadata({
                         "k": pol.k, "people": int(sizes.sum()), "personas": len(table),
                         "persona_size_min": sizes.min(), "persona_size_max": sizes.max(),
                         "information_loss": merged.grouping.information_loss}), **seconds_since(t0)})
    yield personas_at_least_k(pol.k, stored)


def personas_at_least_k(k: int, personas: dict) -> dg.AssetCheckResult:
    """Persona sizes within k..2k-1 and unique persona ids (GX suite)."""
    suite = [("ExpectColumnMinToBeBetween", {"column": "size", "min_value": k}),
             ("ExpectColumnMaxToBeBetween", {"column": "size", "max_value": 2 * k - 1}),
             ("ExpectColumnValuesToBeUnique", {"column": "persona_id"})]
    return check_result(run_suite("personas", personas["personas"], suite, row_column=None),
                        check_name=CHECK_PERSONAS_MIN_K)
