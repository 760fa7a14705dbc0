"""The schedule's tick requests the last complete period; the sensor requests a run for a newly
arrived (or changed) period file, and not twice for the same file. Both start stopped."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from personatwin_dag.constants import JOB_NAME, SCHEDULE_NAME, SENSOR_NAME
from resources.source import SourceResource
from tests.paths import PROJECT


@pytest.mark.parametrize("tick, expected", [
    (datetime(2024, 4, 1, 2, 0, tzinfo=UTC), "2024-03"),
    (datetime(2024, 1, 1, 2, 0, tzinfo=UTC), "2023-12"),
])
def test_schedule_tick_requests_the_last_complete_period(defs, instance, tick, expected):
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert [r.partition_key for r in data.run_requests] == [expected]
    assert schedule.job_name == JOB_NAME
    assert schedule.cron_schedule == "0 2 1 * *" and schedule.execution_timezone == "UTC"


def test_schedule_and_sensor_start_stopped_and_are_documented(defs):
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert schedule.description and sensor.description
    assert sensor.job_name == JOB_NAME
    readme = (PROJECT / "personatwin_dag" / "README.md").read_text()
    for name in (SCHEDULE_NAME, SENSOR_NAME, "personatwin-backfill"):
        assert name in readme, f"{name} is not documented in personatwin_dag/README.md"


def write_period(folder: Path, period: str, rows: int, mtime: float) -> Path:
    """A (small, real) per-period events file with a given modification time."""
    path = folder / "events" / f"{period}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"person_id": [f"p{i}" for i in range(rows)], "event_type": "arrest",
                  "event_date": pd.Timestamp(f"{period}-15"), "outcome": "released"}).to_parquet(path, index=False)
    os.utime(path, (mtime, mtime))
    return path


def test_sensor_requests_new_and_changed_periods_once(defs, instance, tmp_path):
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    source = SourceResource(location=str(tmp_path / "landing"))
    t = datetime(2024, 4, 2, tzinfo=UTC).timestamp()

    def tick(cursor):
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources={"source": source})
        result = sensor.evaluate_tick(ctx)
        return [r.partition_key for r in result.run_requests], result.run_requests, result.cursor

    # nothing there yet: no request
    keys, _, cursor = tick(None)
    assert keys == []

    # a new period file: one run for that period, with the job's partition
    write_period(tmp_path / "landing", "2024-03", rows=5, mtime=t)
    keys, requests, cursor = tick(cursor)
    assert keys == ["2024-03"]
    assert requests[0].tags["personatwin/trigger"] == "new source file"
    first_run_key = requests[0].run_key

    # the same file on the next tick: nothing again
    keys, _, cursor = tick(cursor)
    assert keys == []

    # another period arrives: only that one; a file outside the release periods is ignored
    write_period(tmp_path / "landing", "2024-04", rows=5, mtime=t + 60)
    write_period(tmp_path / "landing", "2099-01", rows=1, mtime=t + 60)
    keys, _, cursor = tick(cursor)
    assert keys == ["2024-04"]
    keys, _, cursor = tick(cursor)
    assert keys == []

    # the 2024-03 file is replaced (new contents, new modification time): requested again, new run key
    write_period(tmp_path / "landing", "2024-03", rows=7, mtime=t + 120)
    keys, requests, cursor = tick(cursor)
    assert keys == ["2024-03"]
    assert requests[0].run_key != first_run_key
    keys, _, cursor = tick(cursor)
    assert keys == []
