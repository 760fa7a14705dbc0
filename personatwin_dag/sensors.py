"""Sensor: start a release run when a new (or changed) per-period source file arrives."""


import json

import dagster as dg

from assets.partitions import RELEASE_PARTITIONS
from personatwin_dag.constants import SENSOR_NAME
from personatwin_dag.jobs import release_job
from resources import fs
from resources.source import SourceResource


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
