"""The release job: every stage asset of one partition, in one process (one run per partition)."""

import dagster as dg

from assets.constants import PUBLISH, STAGE_GROUPS
from personatwin_dag.constants import JOB_NAME, PUBLISH_JOB_NAME

release_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.groups(*STAGE_GROUPS),
    executor_def=dg.in_process_executor,
    description="Ingest, validate, merge, noise, risk assess, auto-adjust and export one release period.",
)

publish_job = dg.define_asset_job(
    PUBLISH_JOB_NAME,
    selection=dg.AssetSelection.groups(PUBLISH),
    executor_def=dg.in_process_executor,
    description="Publish one period's approved staged release (launched by the approvals sensor).",
)
