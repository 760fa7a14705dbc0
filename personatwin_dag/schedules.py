"""Schedule: release the last complete period (starts stopped; turn it on in the UI or CLI)."""

import dagster as dg

from personatwin_dag.constants import SCHEDULE_NAME
from personatwin_dag.jobs import release_job

release_schedule = dg.build_schedule_from_partitioned_job(
    release_job, name=SCHEDULE_NAME, hour_of_day=2,
    description="Each period, two hours after it closes, release the period that just ended.",
)
