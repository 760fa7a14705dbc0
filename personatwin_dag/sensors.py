"""Sensors: a release run when a new (or changed) per-period source file arrives, or when a period's rows in a SQL
source are new or changed; a publish run when a staged release has its approvals."""


import json

import dagster as dg
import pandas as pd

from assets.partitions import RELEASE_PARTITIONS
from personatwin.core.errors import ApprovalLogError
from personatwin_dag.constants import APPROVALS_SENSOR_NAME, SENSOR_NAME, SQL_SENSOR_NAME
from personatwin_dag.jobs import publish_job, release_job
from resources import fs
from resources.governance import GovernanceResource
from resources.source import SourceResource
from resources.sql_source import SqlSourceResource, period_fingerprints


@dg.sensor(job=release_job, name=SENSOR_NAME, minimum_interval_seconds=60,
           description="Watches the source's events/ folder; one run per newly arrived or changed period file.")
def new_source_files(context: dg.SensorEvaluationContext, source: SourceResource):
    """Request a run for each period whose events file is new or changed since the last tick."""
    seen = json.loads(context.cursor) if context.cursor else {}
    valid = set(RELEASE_PARTITIONS.get_partition_keys())
    current = {}
    requests = []
    for period, location in sorted(source.period_files().items()):
        stamp = str(fs.modified(location))
        current[period] = stamp
        if period not in valid:
            continue
        if seen.get(period) != stamp:
            requests.append(dg.RunRequest(run_key=f"{period}:{stamp}", partition_key=period,
                                          tags={"personatwin/trigger": "new source file"}))
    context.update_cursor(json.dumps(current, sort_keys=True))
    if not requests:
        return dg.SkipReason("no new or changed period files")
    return requests


def partition_bounds(partitions: dg.TimeWindowPartitionsDefinition) -> tuple[list[str], pd.DatetimeIndex, pd.Timestamp]:
    """The release periods' keys, their start times and the end of the last one (naive UTC)."""
    keys = partitions.get_partition_keys()
    if not keys:
        return [], pd.DatetimeIndex([]), pd.Timestamp.min
    starts = pd.DatetimeIndex(pd.to_datetime(keys, format=partitions.fmt))
    last_end = pd.Timestamp(partitions.time_window_for_partition_key(keys[-1]).end)
    return keys, starts, last_end.tz_convert("UTC").tz_localize(None)


@dg.sensor(job=release_job, name=SQL_SENSOR_NAME, minimum_interval_seconds=60,
           description="Watches the SQL source's events; one run per period whose rows are new or changed (row count, "
                       "rows per day, latest change column value).")
def new_source_rows(context: dg.SensorEvaluationContext, source: SqlSourceResource):
    """Request a run for each complete period whose fingerprint differs from the cursor's (one aggregate query)."""
    seen = json.loads(context.cursor) if context.cursor else {}
    keys, starts, last_end = partition_bounds(RELEASE_PARTITIONS)
    current = period_fingerprints(source.day_counts(), keys, starts, last_end)
    requests = [dg.RunRequest(run_key=f"{period}:{stamp}", partition_key=period,
                              tags={"personatwin/trigger": "new or changed source rows"})
                for period, stamp in sorted(current.items()) if seen.get(period) != stamp]
    context.update_cursor(json.dumps(current, sort_keys=True))
    return requests or dg.SkipReason("no new or changed rows in any period")


@dg.sensor(job=publish_job, name=APPROVALS_SENSOR_NAME, minimum_interval_seconds=30,
           description="Publishes each period whose latest staged release has the policy's approvals.")
def approved_releases(context: dg.SensorEvaluationContext, governance: GovernanceResource):
    """Request a publish run for each period whose latest staging is approved and not yet requested."""
    if not governance.reviewed:
        return dg.SkipReason("no disclosure review configured: releases are published at export")
    area, log, policy = governance.area(), governance.log(), governance.policy()
    try:
        decisions = log.decisions()
    except ApprovalLogError as exc:
        return dg.SkipReason(f"nothing is published: {exc}")
    valid = set(RELEASE_PARTITIONS.get_partition_keys())
    requests = []
    for period in sorted({s.period for s in area.stagings()} & valid):
        staged = area.find(period)
        review = log.review_in(decisions, period, staged.staging().manifest_sha256, policy)
        if review.complete:  # the run key makes one publish run per approved staging
            requests.append(dg.RunRequest(run_key=f"{period}:{staged.staging_id}", partition_key=period,
                                          tags={"personatwin/trigger": "approvals complete",
                                                "personatwin/staging": staged.staging_id}))
    return requests or dg.SkipReason("no staged release has all its approvals")
