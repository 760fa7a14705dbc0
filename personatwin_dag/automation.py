"""Declarative automation: the release calendar, the publication deadline, and code versions.

- **Calendar**: the stage assets release the last complete period a few days after it closes (a lag for late
  data: ``PERSONATWIN_RELEASE_DAY``, default the 5th), each stage only once every blocking check upstream passed;
  a period released before whose source changed (the ``source_data`` observation's data version) is released
  again, which the release series turns into a new version (supersedes, differencing check, review).
- **Deadline**: a freshness check on ``published_release`` fails (red, severity error) when the last complete
  period is not published by ``PERSONATWIN_RELEASE_DEADLINE_DAY`` (default the 10th).
- **Code versions**: every stage asset's code version is the engine's source fingerprint and the policy and
  domain settings, so a change of either shows the periods released before as stale.

The ``release_calendar`` sensor (automation conditions) and ``release_deadline`` sensor (freshness) start
stopped, as the schedule does: turn on the calendar or the schedule, not both.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

import personatwin
from assets.constants import PUBLISH, SOURCE_DATA, STAGE_GROUPS
from personatwin_dag.constants import (
    CALENDAR_SENSOR_NAME,
    DEADLINE_SENSOR_NAME,
    ENV_DEADLINE_DAY,
    ENV_RELEASE_DAY,
    OBSERVE_SENSOR_NAME,
)

PUBLISHED_ASSET = "published_release"
DAY_CRONS = {  # period -> (cron of the release on day N after the period closes, of the deadline on day M)
    "month": ("0 2 {day} * *", "0 0 {day} * *"),
    "quarter": ("0 2 {day} 1,4,7,10 *", "0 0 {day} 1,4,7,10 *"),
}
FIXED_CRONS = {  # short periods: the next day / the week's Wednesday, the deadline a day later
    "day": ("0 2 * * *", "0 0 * * *"),
    "week": ("0 2 * * 3", "0 0 * * 4"),
}


@dataclass(frozen=True)
class ReleaseCalendar:
    """When periods are released, by when they must be published, and how often the source is observed."""

    release_cron: str
    deadline_cron: str
    timezone: str = "UTC"


def release_calendar(period: str = "month", release_day: int = 5, deadline_day: int = 10) -> ReleaseCalendar:
    """The calendar of a period length: monthly and quarterly releases on ``release_day`` of the month after the
    period closes and due by ``deadline_day``; daily and weekly ones on fixed days."""
    if period in FIXED_CRONS:
        release, deadline = FIXED_CRONS[period]
        return ReleaseCalendar(release, deadline)
    if period not in DAY_CRONS:
        raise ValueError(f"unknown release period {period!r}")
    if not 1 <= release_day < deadline_day <= 28:
        raise ValueError(f"{ENV_RELEASE_DAY} ({release_day}) must come before {ENV_DEADLINE_DAY} ({deadline_day}), "
                         "both days 1 to 28 of the month")
    release, deadline = DAY_CRONS[period]
    return ReleaseCalendar(release.format(day=release_day), deadline.format(day=deadline_day))


def calendar_from_env() -> ReleaseCalendar:
    """The calendar of this deployment (``PERSONATWIN_PERIOD``, ``_RELEASE_DAY``, ``_RELEASE_DEADLINE_DAY``)."""
    from assets.constants import ENV_PERIOD

    def day(name: str, default: int) -> int:
        text = os.environ.get(name) or str(default)
        try:
            return int(text)
        except ValueError:
            raise RuntimeError(f"{name} must be a day of the month, got {text!r}") from None

    return release_calendar((os.environ.get(ENV_PERIOD) or "month").lower(), day(ENV_RELEASE_DAY, 5),
                            day(ENV_DEADLINE_DAY, 10))


def stage_condition(calendar: ReleaseCalendar, root: bool) -> dg.AutomationCondition:
    """A stage asset's condition: on the calendar (the latest complete period), or, for a period released before,
    when its source changed (root) or an upstream stage was updated; never while it or an upstream stage runs, and
    never past a blocking check that failed upstream."""
    ac = dg.AutomationCondition
    if root:  # the source is observed, not materialized: the calendar alone starts the release
        on_calendar = (ac.in_latest_time_window()
                       & ac.cron_tick_passed(calendar.release_cron, calendar.timezone).since_last_handled())
        changed = (ac.any_deps_match(ac.data_version_changed()).with_label("source changed").since_last_handled()
                   & ~ac.missing())
    else:  # an upstream stage updated since this stage last ran (not in the same run: that one is handled)
        on_calendar = ac.on_cron(calendar.release_cron, cron_timezone=calendar.timezone)
        changed = ac.any_deps_updated().since_last_handled()
    return ((on_calendar | changed) & ac.all_deps_blocking_checks_passed() & ~ac.in_progress()
            & ~ac.any_deps_in_progress()).with_label("release calendar")


def engine_fingerprint() -> str:
    """SHA-256 (12 hex) of the engine's source and domain files: changes with any change of the engine."""
    root = Path(personatwin.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml", ".txt") and p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def settings_fingerprint(resources: dict) -> str:
    """SHA-256 (12 hex) of the settings that decide what a release is: the policy resource's configuration (level,
    overrides, pinned period) and the domain."""
    policy, source = resources.get("policy"), resources.get("source")
    settings = {"policy": _config(policy), "domain": getattr(source, "domain", None)}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _config(resource) -> dict | None:
    if resource is None:
        return None
    values = resource.model_dump() if hasattr(resource, "model_dump") else dict(vars(resource))
    return {k: v for k, v in values.items() if k != "pinned_ledger"}  # where the ledger is, not what it says


def code_version(resources: dict) -> str:
    """The stage assets' code version: ``<engine version>-<engine fingerprint>-<settings fingerprint>``."""
    return f"{personatwin.__version__}-{engine_fingerprint()}-{settings_fingerprint(resources)}"


def with_automation(assets: Sequence, calendar: ReleaseCalendar, version: str) -> list:
    """The stage assets with their calendar condition and code version; the publish stage with its code version
    only (published by the approvals sensor); the source observation as it is (observed on its own cron)."""
    def spec(s: dg.AssetSpec) -> dg.AssetSpec:
        if s.group_name == PUBLISH:
            return s.replace_attributes(code_version=version)
        root = any(dep.asset_key == dg.AssetKey(SOURCE_DATA) for dep in s.deps)
        return s.replace_attributes(code_version=version, automation_condition=stage_condition(calendar, root))

    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and not a.is_observable:
            out.extend(dg.map_asset_specs(spec, [a]))
        else:
            out.append(a)
    return out


def deadline_checks(calendar: ReleaseCalendar) -> Sequence[dg.AssetChecksDefinition]:
    """The publication deadline: the last complete period published by the calendar's deadline (fails in red).

    Dagster 1.13 marks these partition-aware checks superseded by ``FreshnessPolicy``, which judges the asset's
    latest materialization of any partition: a correction of an old period would then pass for a missing new one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)  # chosen knowingly (docstring)
        return dg.build_time_partition_freshness_checks(assets=[PUBLISHED_ASSET],
                                                        deadline_cron=calendar.deadline_cron,
                                                        timezone=calendar.timezone,
                                                        severity=dg.AssetCheckSeverity.ERROR)


DATA_VERSION_TAG = "dagster/data_version"  # the tag that gives an observation its data version


@dg.sensor(name=OBSERVE_SENSOR_NAME, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Observes the source: records a data version of each period whose source is new or changed.")
def observe_source(context: dg.SensorEvaluationContext, source: dg.ResourceParam[Any]):
    """One ``source_data`` observation per period whose source's version changed since the last tick."""
    from assets.partitions import RELEASE_PARTITIONS

    seen = json.loads(context.cursor) if context.cursor else {}
    current = source.period_versions(RELEASE_PARTITIONS.get_partition_keys())
    events = [dg.AssetObservation(SOURCE_DATA, partition=period, tags={DATA_VERSION_TAG: version})
              for period, version in sorted(current.items()) if seen.get(period) != version]
    return dg.SensorResult(asset_events=events, cursor=json.dumps(current, sort_keys=True),
                           skip_reason=None if events else dg.SkipReason("no period's source changed"))


def automation_sensors(checks: Sequence[dg.AssetChecksDefinition]) -> list[dg.SensorDefinition]:
    """The source observer, the calendar's automation sensor and the deadline's freshness sensor, all stopped until
    turned on."""
    calendar = dg.AutomationConditionSensorDefinition(
        CALENDAR_SENSOR_NAME, target=dg.AssetSelection.groups(*STAGE_GROUPS),
        default_status=dg.DefaultSensorStatus.STOPPED, minimum_interval_seconds=60,
        description="Releases the last complete period on the release calendar, and a changed period as a new "
                    "version, each stage once its upstream blocking checks passed.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)  # see deadline_checks
        deadline = dg.build_sensor_for_freshness_checks(freshness_checks=checks, name=DEADLINE_SENSOR_NAME,
                                                        default_status=dg.DefaultSensorStatus.STOPPED)
    return [observe_source, calendar, deadline]
