"""The code location: every stage asset (its checks run in its step) with its release-calendar condition and code
version, the source observation, the release and publish jobs, the schedule, the sensors and the deadline check."""

import dagster as dg

from assets import auto_adjust, export, ingest, merge, noise, publish, risk_assess, validate
from personatwin.core.memory import reuse_freed_memory
from personatwin_dag.automation import (
    automation_sensors,
    calendar_from_env,
    code_version,
    deadline_checks,
    with_automation,
)
from personatwin_dag.environments import resources_for
from personatwin_dag.jobs import publish_job, release_job
from personatwin_dag.schedules import release_schedule
from personatwin_dag.sensors import approved_releases, new_source_files, new_source_rows
from resources.sql_source import SqlSourceResource

# the process that loads the code location runs the steps (in-process executor): its 10M-row temporaries reuse
# freed heap memory instead of faulting in fresh pages (personatwin.core.memory)
reuse_freed_memory()

STAGE_MODULES = (ingest, validate, merge, noise, risk_assess, auto_adjust, export, publish)


def source_sensor(resources: dict) -> dg.SensorDefinition:
    """The sensor that watches the source: new or changed rows of a SQL source, else new or changed period files."""
    return new_source_rows if isinstance(resources.get("source"), SqlSourceResource) else new_source_files


def build_defs(resources: dict | None = None) -> dg.Definitions:
    """Definitions with the given resources (default: those of the current environment)."""
    resources = resources if resources is not None else resources_for()
    calendar = calendar_from_env()
    deadline = deadline_checks(calendar)
    return dg.Definitions(
        assets=with_automation(dg.load_assets_from_modules(STAGE_MODULES), calendar, code_version(resources)),
        asset_checks=deadline,
        jobs=[release_job, publish_job],
        schedules=[release_schedule],
        sensors=[source_sensor(resources), approved_releases, *automation_sensors(deadline)],
        resources=resources,
        # Backfills and UI materializations run as an implicit asset job: keep them in one process
        # too (a new Python per step costs ~10 s per partition, DESIGN §10).
        executor=dg.in_process_executor,
    )


defs = build_defs()
