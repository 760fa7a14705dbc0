"""Declarative automation and the release calendar (issue 16): the stage assets release the last complete period
after the lag, never past a blocking check that failed; a source observed changed marks its period stale and is
released again as a new version; code versions follow the engine and the policy; the publication deadline's
freshness check fails until the last complete period is published."""

from __future__ import annotations

import datetime
import json
import time

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.data_version import StaleStatus  # the UI's stale status (no public import)

from assets.constants import SOURCE_DATA
from personatwin_dag.automation import code_version, release_calendar
from personatwin_dag.constants import CALENDAR_SENSOR_NAME, DEADLINE_SENSOR_NAME, OBSERVE_SENSOR_NAME
from personatwin_dag.demo import write_sample
from personatwin_dag.environments import resources_for
from tests.personatwin_dag.helpers import QUIET, run_partition

UTC = datetime.UTC
STAGES = ("source_people", "source_events", "valid_people", "valid_events", "quarantine", "personas",
          "protected_events", "risk_assessment", "release", "release_files")


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def requested(result, key: str) -> set[str]:
    return set(result.get_requested_partitions(dg.AssetKey(key)))


def stale_status(defs, instance, key: str, partition: str):
    from dagster._core.definitions.data_version import CachingStaleStatusResolver  # what the UI asks
    from dagster._core.loader import LoadingContextForTest

    resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))
    return resolver.get_status(dg.AssetKey(key), partition), resolver.get_stale_causes(dg.AssetKey(key), partition)


def observe(defs, instance, cursor: str | None = None) -> str:
    """One tick of the observe_source sensor, its observations recorded as the daemon records them."""
    sensor = defs.resolve_sensor_def(OBSERVE_SENSOR_NAME)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                  resources={"source": resources_for("ci")["source"]})
    result = sensor.evaluate_tick(ctx)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result.cursor


def test_the_calendar_releases_the_last_complete_period_after_the_lag(defs, instance):
    assert release_calendar("month", 5, 10).release_cron == "0 2 5 * *"
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 5, 1))
    assert before.total_requested == 0  # the 5th, before 02:00: not yet
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 5, 2, 30),
                                             cursor=before.cursor)
    for key in STAGES:
        assert requested(tick, key) == {"2024-03"}, key
    assert requested(tick, "published_release") == set()  # published by the approvals sensor, after review
    later = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 6, 2, 30),
                                              cursor=tick.cursor)
    assert later.total_requested == 0  # once per tick


def test_a_failed_blocking_check_stops_the_calendar_downstream(defs, instance, project_env):
    start = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 20, 11))
    path = project_env.source / "events" / "2024-03.parquet"
    events = pd.read_parquet(path)
    events.loc[events.index[: len(events) // 5], "outcome"] = "no such outcome"  # 20% quarantined: over the limit
    events.to_parquet(path, index=False)
    assert not run_partition(defs, instance, "2024-03").success  # stops at the blocking quarantine check
    selection = dg.AssetSelection.assets("source_people", "source_events", "valid_people", "valid_events",
                                         "quarantine")
    good = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=selection.resolve(
        defs.resolve_asset_graph())).execute_in_process(partition_key="2024-02", instance=instance, run_config=QUIET)
    assert good.success
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 20, 12),
                                               cursor=start.cursor)
    assert requested(result, "personas") == {"2024-02"}  # its upstream checks passed; 2024-03's did not


def test_a_changed_source_marks_its_period_stale_and_is_released_as_a_new_version(defs, instance, project_env):
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 20, 11))
    cursor = observe(defs, instance)
    assert run_partition(defs, instance, "2024-02").success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 20, 13),
                                                cursor=first.cursor)
    assert settled.total_requested == 0  # nothing changed since
    assert stale_status(defs, instance, "source_events", "2024-02")[0] == StaleStatus.FRESH

    path = project_env.source / "events" / "2024-02.parquet"
    events = pd.read_parquet(path)
    events.loc[events.index[0], "outcome"] = "dismissed" if events["outcome"].iloc[0] != "dismissed" else "convicted"
    time.sleep(0.01)
    events.to_parquet(path, index=False)  # a correction arrives: a new modification time
    assert observe(defs, instance, cursor) != cursor
    status, causes = stale_status(defs, instance, "source_events", "2024-02")
    assert status == StaleStatus.STALE and any(SOURCE_DATA in str(c) for c in causes), causes

    changed = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(2024, 4, 20, 14),
                                                cursor=settled.cursor)
    for key in STAGES:
        assert requested(changed, key) == {"2024-02"}, key  # 2024-01 and 2024-03 were never released: not these
    assert run_partition(defs, instance, "2024-02").success
    series = json.loads((project_env.releases / "2024-02" / "manifest.json").read_text())["series"]
    assert (series["version"], series["supersedes"]) == (2, 1)  # a new version of the series, never silently


def test_code_versions_follow_the_engine_and_the_policy(project_env, instance, monkeypatch):
    from personatwin_dag.definitions import build_defs

    high = build_defs(resources_for("ci"))
    assert code_version(resources_for("ci")) == code_version(resources_for("ci"))
    versions = {high.resolve_asset_graph().get(dg.AssetKey(k)).code_version for k in STAGES}
    assert len(versions) == 1 and versions.pop().startswith("0.")
    assert run_partition(high, instance, "2024-01").success
    monkeypatch.setenv("PERSONATWIN_PRIVACY_LEVEL", "maximum")
    maximum = build_defs(resources_for("ci"))
    assert code_version(resources_for("ci")) != high.resolve_asset_graph().get(dg.AssetKey("release")).code_version
    status, causes = stale_status(maximum, instance, "release", "2024-01")
    assert status == StaleStatus.STALE and any("code version" in str(c) for c in causes), causes


def last_due_period(now: datetime.datetime, deadline_day: int = 10) -> str:
    """The period the deadline check expects published: the month before the last deadline passed."""
    deadline = now.replace(day=deadline_day, hour=0, minute=0, second=0, microsecond=0)
    if now < deadline:
        deadline = (deadline.replace(day=1) - datetime.timedelta(days=1)).replace(day=deadline_day)
    return (deadline.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")


def check_deadline(defs, instance) -> dg.AssetCheckEvaluation:
    """The deadline's freshness check, run as its sensor runs it."""
    key = dg.AssetCheckKey(dg.AssetKey("published_release"), "freshness_check")
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.get_subset(asset_check_selection={key}).execute_in_process(instance=instance, raise_on_error=False,
                                                                         run_config=QUIET)
    return next(e.asset_check_evaluation_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION")


def test_the_publication_deadline_check_fails_until_the_last_period_is_published(defs, instance, project_env):
    period = last_due_period(datetime.datetime.now(UTC))
    sensor = defs.resolve_sensor_def(DEADLINE_SENSOR_NAME)
    [request] = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs)).run_requests
    assert set(request.asset_check_keys) == {dg.AssetCheckKey(dg.AssetKey("published_release"), "freshness_check")}
    missing = check_deadline(defs, instance)
    assert not missing.passed and missing.severity == dg.AssetCheckSeverity.ERROR
    months = pd.period_range(end=pd.Period(period, "M"), periods=3, freq="M").strftime("%Y-%m").tolist()
    write_sample(project_env.source, people=3000, months=months, seed=3)  # as dense as the sample's months
    assert run_partition(defs, instance, period).success
    published = defs.resolve_job_def("publish_job").execute_in_process(partition_key=period, instance=instance,
                                                                      run_config=QUIET)
    assert published.success
    assert check_deadline(defs, instance).passed


def test_the_automation_sensors_start_stopped_and_are_documented(defs):
    from tests.paths import PROJECT

    readme = (PROJECT / "personatwin_dag" / "README.md").read_text()
    for name in (OBSERVE_SENSOR_NAME, CALENDAR_SENSOR_NAME, DEADLINE_SENSOR_NAME):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED, name
        assert name in readme, f"{name} is not documented in personatwin_dag/README.md"


@pytest.mark.parametrize("period, cron", [("quarter", "0 2 5 1,4,7,10 *"), ("week", "0 2 * * 3"),
                                          ("day", "0 2 * * *")])
def test_the_calendar_follows_the_period_length(period, cron):
    assert release_calendar(period).release_cron == cron
    with pytest.raises(ValueError, match="must come before"):
        release_calendar("month", 12, 10)
