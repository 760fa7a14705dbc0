"""The SQL source in the code location (issue 16): PERSONATWIN_SOURCE_URL selects it, a release_job run reads its
partition from PostgreSQL on a real instance into the very release the Parquet files give, the new_source_rows
sensor requests runs for new and changed periods, and a bad connection fails the run with a clear message while
the password reaches no log, event or metadata."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest
from dagster_shared.serdes import serialize_value

from personatwin_dag.constants import OBSERVE_SENSOR_NAME, SENSOR_NAME, SQL_SENSOR_NAME
from personatwin_dag.definitions import build_defs
from personatwin_dag.environments import resources_for
from resources.sql_source import SqlSourceResource
from tests.personatwin_dag.helpers import (
    MONTHS,
    dagster_home,
    deployment_vars,
    failure_message,
    folder_bytes,
    free_port,
    release_runs,
    run_partition,
)
from tests.postgres import execute, fresh_database
from tests.sqldata import load_folder, url

PASSWORD = "Pw-dag-n0t-in-any-log"


@pytest.fixture
def sql_env(project_env, monkeypatch):
    """The test's deployment with its sample source loaded into a fresh PostgreSQL database and selected by
    PERSONATWIN_SOURCE_URL (the password in the URL; the server trusts local connections and ignores it)."""
    with fresh_database() as db:
        load_folder(db, project_env.source)
        monkeypatch.setenv("PERSONATWIN_SOURCE_URL", url(db, PASSWORD))
        project_env.db = db
        yield project_env


def instance_text(instance) -> str:
    """Every event of every run on the instance, serialized (for leak scans)."""
    return "\n".join(serialize_value(record) for run in instance.get_runs()
                     for record in instance.all_logs(run.run_id))


def test_the_url_selects_the_sql_source_and_its_sensor(sql_env, monkeypatch):
    monkeypatch.setenv("PERSONATWIN_SOURCE_DATE_COLUMN", "occurred_on")
    monkeypatch.setenv("PERSONATWIN_SOURCE_COLUMN_MAPPING", '{"kind": "event_type"}')
    source = resources_for("ci")["source"]
    assert isinstance(source, SqlSourceResource)
    assert source.event_date_column == "occurred_on" and source.column_mapping == {"kind": "event_type"}
    assert PASSWORD not in repr(source)  # the resource names the variables; the URL stays in the environment
    sensors = {s.name for s in build_defs(resources_for("ci")).sensors}
    assert SQL_SENSOR_NAME in sensors and SENSOR_NAME not in sensors


@pytest.mark.parametrize("name, value, expected", [
    ("PERSONATWIN_SOURCE_URL", f"postgresql://u:{PASSWORD}@h:port/db", "not a SQLAlchemy URL"),
    ("PERSONATWIN_SOURCE_COLUMN_MAPPING", "[1, 2]", "PERSONATWIN_SOURCE_COLUMN_MAPPING must map"),
    ("PERSONATWIN_SOURCE_COLUMN_MAPPING", "{not json", "must be a JSON object"),
])
def test_bad_sql_settings_stop_the_code_location(sql_env, monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=expected) as info:
        resources_for("ci")
    assert PASSWORD not in str(info.value)


def test_release_job_reads_its_partition_from_postgresql_into_the_same_release(sql_env, instance, tmp_path,
                                                                              monkeypatch):
    """The SQL source's release of a period is the file source's, byte for byte (same key, same data): only the
    manifest's creation time and stage timings differ."""
    result = run_partition(build_defs(resources_for("ci")), instance, "2024-02")
    assert result.success, failure_message(result)
    by_key = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    meta = by_key["source_events"].materialization.metadata
    month = pd.read_parquet(sql_env.source / "events" / "2024-02.parquet")
    assert meta["dagster/row_count"].value == len(month)
    assert all(":***@" in f for f in meta["source_files"].value)
    assert PASSWORD not in instance_text(instance)
    from_sql = folder_bytes(sql_env.releases / "2024-02")

    files = tmp_path / "file_deployment"  # the same source folder read as files, in a deployment of its own
    files.mkdir()
    monkeypatch.delenv("PERSONATWIN_SOURCE_URL")
    for name, value in deployment_vars(sql_env.source, files / "releases", files / "assets",
                                       dagster_home(files / "home")).items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as other:
        assert run_partition(build_defs(resources_for("ci")), other, "2024-02").success
    from_files = folder_bytes(files / "releases" / "2024-02")
    assert sorted(from_sql) == sorted(from_files)
    assert {n: b for n, b in from_sql.items() if n != "manifest.json"} == \
        {n: b for n, b in from_files.items() if n != "manifest.json"}
    manifests = [json.loads(f["manifest.json"]) for f in (from_sql, from_files)]
    assert [{k: v for k, v in m.items() if k not in ("created_at", "timings")} for m in manifests] == \
        [{k: v for k, v in manifests[1].items() if k not in ("created_at", "timings")}] * 2


def test_a_database_that_cannot_be_reached_fails_the_run_without_the_password(sql_env, instance, monkeypatch):
    monkeypatch.setenv("PERSONATWIN_SOURCE_URL", url(sql_env.db, PASSWORD, port=free_port()))
    result = run_partition(build_defs(resources_for("ci")), instance, "2024-02")
    assert not result.success
    message = failure_message(result)
    assert "partition 2024-02" in message and "cannot be reached" in message and "PERSONATWIN_SOURCE_URL" in message
    assert PASSWORD not in instance_text(instance)
    assert release_runs(instance)[0].status == dg.DagsterRunStatus.FAILURE


def test_sensor_requests_new_and_changed_periods_once(sql_env, instance):
    execute(sql_env.db, "ALTER TABLE events ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()")
    source = SqlSourceResource(change_column="updated_at")
    defs = build_defs(resources_for("ci"))
    sensor = defs.resolve_sensor_def(SQL_SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED and sensor.description

    def tick(cursor):
        """One sensor tick: its partition keys, run requests and new cursor."""
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources={"source": source})
        result = sensor.evaluate_tick(ctx)
        return [r.partition_key for r in result.run_requests], result.run_requests, result.cursor

    # every period with rows, once
    keys, requests, cursor = tick(None)
    assert keys == ["2024-01", "2024-02", "2024-03"]
    assert requests[0].tags["personatwin/trigger"] == "new or changed source rows"
    first = {r.partition_key: r.run_key for r in requests}
    assert tick(cursor)[0] == []

    # a new row in one period: that period again, under a new run key
    execute(sql_env.db, "INSERT INTO events (person_id, event_type, event_date, outcome) "
                        "SELECT person_id, 'arrest', DATE '2024-02-10', 'booked' FROM people LIMIT 1")
    keys, requests, cursor = tick(cursor)
    assert keys == ["2024-02"] and requests[0].run_key != first["2024-02"]
    assert requests[0].run_key.startswith("2024-02:")

    # a changed row (same count, same days): seen through the change column
    execute(sql_env.db, "UPDATE events SET outcome = 'released', updated_at = now() + INTERVAL '1 minute' "
                        "WHERE ctid = (SELECT ctid FROM events WHERE event_date >= DATE '2024-03-01' LIMIT 1)")
    keys, _, cursor = tick(cursor)
    assert keys == ["2024-03"]

    # a new period; rows of a period not yet complete or before the first partition are not requested
    execute(sql_env.db, "INSERT INTO events (person_id, event_type, event_date, outcome) VALUES "
                        "('P0000001', 'arrest', DATE '2024-04-03', 'booked'), "
                        "('P0000001', 'arrest', DATE '2099-01-03', 'booked'), "
                        "('P0000001', 'arrest', DATE '2001-01-03', 'booked'), "
                        "('P0000001', 'arrest', NULL, 'booked')")
    keys, _, cursor = tick(cursor)
    assert keys == ["2024-04"]
    assert tick(cursor)[0] == []


def test_the_source_observation_versions_periods_from_sql(sql_env, instance):
    """The release calendar's observe_source sensor works on the SQL source: a data version per period with rows,
    a new one when a period's rows change."""
    defs = build_defs(resources_for("ci"))
    sensor = defs.resolve_sensor_def(OBSERVE_SENSOR_NAME)

    def observe(cursor):
        """One observe_source tick: the periods observed and the new cursor."""
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                      resources={"source": resources_for("ci")["source"]})
        result = sensor.evaluate_tick(ctx)
        return sorted(e.partition for e in result.asset_events), result.cursor

    periods, cursor = observe(None)
    assert periods == MONTHS
    execute(sql_env.db, "DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE event_date >= '2024-03-01' "
                        "LIMIT 1)")
    assert observe(cursor)[0] == ["2024-03"]


def test_the_resource_names_the_variables_the_environment_reads():
    from personatwin_dag import constants as c
    from resources.sql_errors import SETTING_ENV

    assert SETTING_ENV == {"url": c.ENV_SOURCE_URL, "password": c.ENV_SOURCE_PASSWORD, "people": c.ENV_SOURCE_PEOPLE,
                           "events": c.ENV_SOURCE_EVENTS, "event_date_column": c.ENV_SOURCE_DATE_COLUMN,
                           "person_id_column": c.ENV_SOURCE_PERSON_COLUMN, "change_column": c.ENV_SOURCE_CHANGE_COLUMN,
                           "column_mapping": c.ENV_SOURCE_COLUMN_MAPPING}
