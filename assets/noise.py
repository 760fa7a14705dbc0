"""Noise: the first pass's events with dates blurred, outcomes randomized and locations generalized."""


import time

import dagster as dg
import pandas as pd

from assets.common import PARTITIONS, seconds_since, table_metadata
from assets.constants import CHECK_DATE_PRECISION, NOISE
from assets.gx import check_result, run_suite
from assets.step_cache import CACHE
from personatwin.measure.criteria import dates_at_precision, distinct_dates
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.shards import ShardRunnerResource, shard_metadata
from resources.source import SourceResource


@dg.asset(group_name=NOISE, kinds={"pandas", "parquet"}, partitions_def=PARTITIONS, check_specs=[
    dg.AssetCheckSpec(CHECK_DATE_PRECISION, asset="protected_events", partitions_def=PARTITIONS, blocking=True,
                      description="No released date is finer than the policy's date precision.")])
def protected_events(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
                     release_key: ReleaseKeyResource, shards: ShardRunnerResource, valid_people: pd.DataFrame,
                     valid_events: pd.DataFrame, personas: dict):
    """Events of the first pass re-attributed to personas, with blurred dates and PRAM outcomes."""
    t0 = time.perf_counter()
    with shards.runner() as runner:
        ctx = CACHE.context(valid_people, valid_events, source.get_domain(), policy.policy(), release_key.key(),
                            context.partition_key, runner=runner)
        _, noised = CACHE.first_pass(ctx, personas)
    pol = ctx.policy
    yield dg.Output(noised.events, metadata={**table_metadata(noised.events),
                                             "date_precision": dg.MetadataValue.text(pol.date_precision),
                                             "pram_p": dg.MetadataValue.float(pol.pram_p), **shard_metadata(runner),
                                             **seconds_since(t0)})
    yield no_date_finer_than_precision(pol.date_precision, noised.events)


def no_date_finer_than_precision(precision: str, protected_events: pd.DataFrame) -> dg.AssetCheckResult:
    """Every released date is the first day of its period (GX suite)."""
    frame = dates_at_precision(distinct_dates(protected_events), precision)  # every row's dates, once each
    suite = [("ExpectColumnValuesToBeInSet", {"column": c, "value_set": [True]}) for c in frame.columns]
    return check_result(run_suite("protected_events_dates", frame, suite, row_column=None),
                        check_name=CHECK_DATE_PRECISION)
