"""The prod instance on PostgreSQL (issue 16): ``deploy/dagster.yaml`` against a database created for the test and
dropped after. In process: a release run, a schedule tick and the source sensor on it; as a deployment runs it
(a code server, a webserver and a daemon as separate processes): a 3-period backfill, and 4 periods released at
once under the queued run coordinator. The database then holds neither the key nor any person-level value."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from personatwin.publish.export import verify_manifest
from personatwin_dag.backfill import main as backfill
from personatwin_dag.constants import SCHEDULE_NAME, SENSOR_NAME
from personatwin_dag.demo import write_sample
from personatwin_dag.environments import resources_for
from tests.paths import PROJECT
from tests.personatwin_dag.helpers import (
    MONTHS,
    QUIET,
    TEST_KEY,
    default_sigint,
    free_port,
    graphql,
    live_pids_in_group,
    wait_for_webserver,
)
from tests.postgres import HOST, PORT, USER, database_text, fresh_database

DEPLOY_YAML = PROJECT / "deploy" / "dagster.yaml"


@pytest.fixture
def pg_env(project_env, monkeypatch):
    """The test's deployment with DAGSTER_HOME on ``deploy/dagster.yaml`` and a fresh PostgreSQL database."""
    with fresh_database() as db:
        (project_env.home / "dagster.yaml").write_text(DEPLOY_YAML.read_text())
        for name, value in {"DAGSTER_PG_HOST": HOST, "DAGSTER_PG_PORT": str(PORT), "DAGSTER_PG_USER": USER,
                            "DAGSTER_PG_PASSWORD": "unused-with-trust-auth", "DAGSTER_PG_DB": db}.items():
            monkeypatch.setenv(name, value)
        project_env.db = db
        yield project_env


def person_values(source: Path) -> set[str]:
    """Person ids and birth dates of the source: no table of the instance may hold one."""
    people = pd.read_parquet(source / "people.parquet")
    return set(people["person_id"].astype(str)) | set(pd.to_datetime(people["birth_date"]).dt.strftime("%Y-%m-%d"))


def assert_no_leak(db: str, source: Path) -> None:
    text = database_text(db)
    assert "event_logs" in text and "runs" in text and len(text) > 10_000  # the instance's tables, with rows
    assert TEST_KEY not in text, "the release key is stored in the instance database"
    leaked = sorted(v for v in person_values(source) if v in text)
    assert not leaked, f"{len(leaked)} person-level values in the instance database, e.g. {leaked[:3]}"


def test_a_release_run_a_schedule_tick_and_the_source_sensor_on_postgres(pg_env, defs):
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        # the schedule's tick on 1 Feb requests January, which runs on this instance
        schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
        tick = schedule.evaluate_tick(dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2024, 2, 1, 2, tzinfo=UTC)))
        [request] = tick.run_requests
        result = defs.resolve_job_def("release_job").execute_in_process(
            partition_key=request.partition_key, tags=request.tags, instance=instance, run_config=QUIET)
        assert result.success and request.partition_key == "2024-01"
        assert verify_manifest(pg_env.releases / "2024-01") == []
        assert instance.get_materialized_partitions(dg.AssetKey("release_files")) == {"2024-01"}
        # the source sensor: one request per period file, then none until a file changes
        sensor, source = defs.resolve_sensor_def(SENSOR_NAME), {"source": resources_for("ci")["source"]}
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, resources=source))
        assert sorted(r.partition_key for r in first.run_requests) == MONTHS
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, resources=source,
                                                             cursor=first.cursor))
        assert not again.run_requests
    assert_no_leak(pg_env.db, pg_env.source)


# -- the deployment's processes -------------------------------------------------------------------------------

class Deployment:
    """`dagster api grpc` (the code location), `dagster-webserver` and `dagster-daemon run` as separate processes,
    each in its own process group, on the test's environment; the webserver and daemon reach the code over gRPC."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.grpc_port, self.web_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.workspace = folder / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": self.grpc_port, "location_name": "personatwin"}}]}))
        self.procs: dict[str, subprocess.Popen] = {}
        self.start("code", ["dagster", "api", "grpc", "-m", "personatwin_dag.definitions", "-h", "127.0.0.1",
                            "-p", str(self.grpc_port)])
        self.wait_for_code()
        self.start("webserver", ["dagster-webserver", "-h", "127.0.0.1", "-p", str(self.web_port),
                                 "-w", str(self.workspace)])
        self.start("daemon", ["dagster-daemon", "run", "-w", str(self.workspace)])
        self.wait_for_webserver()

    def start(self, name: str, cmd: list[str]) -> None:
        exe = Path(sys.executable).with_name(cmd[0])
        with open(self.folder / f"{name}.log", "wb") as out:
            self.procs[name] = subprocess.Popen([str(exe), *cmd[1:]], cwd=PROJECT, env=dict(os.environ),
                                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                preexec_fn=default_sigint, start_new_session=True)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n" + "\n".join((self.folder / f"{name}.log").read_text(errors="replace")
                                                     .splitlines()[-25:]) for name in self.procs)

    def _alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{self.logs()}")

    def wait_for_code(self, timeout: float = 120) -> None:
        exe = Path(sys.executable).with_name("dagster")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._alive()
            if subprocess.run([str(exe), "api", "grpc-health-check", "-p", str(self.grpc_port)],
                              capture_output=True, cwd=PROJECT).returncode == 0:
                return
            time.sleep(1)
        pytest.fail(f"the code server did not answer within {timeout:.0f}s:\n{self.logs()}")

    def wait_for_webserver(self, timeout: float = 90) -> None:
        wait_for_webserver(self.url, self._alive, timeout, self.logs)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.url, query, variables)

    def stop(self) -> None:
        """SIGTERM to each process group, then SIGKILL to anything left after 20 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            while live_pids_in_group(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if live_pids_in_group(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(10)


@pytest.fixture
def deployment(pg_env, tmp_path):
    started: list[Deployment] = []

    def start() -> Deployment:
        started.append(Deployment(tmp_path))
        return started[-1]

    yield start
    for d in started:
        d.stop()


BACKFILL_RUNS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status partitionNames runs(limit: 20) { runId status tags { key value } } }
    ... on PythonError { message }
  }
}
"""


def backfill_through(server: Deployment, periods: list[str], capsys, timeout: float = 600) -> dict:
    """``personatwin-backfill`` through the webserver; waits until the daemon finished the backfill."""
    assert backfill(["--from", periods[0], "--to", periods[-1], "--mode", "instance", "--url", server.url]) == 0
    backfill_id = next(line.split()[1] for line in capsys.readouterr().out.splitlines()
                       if line.startswith("backfill ") and " launched" in line)
    deadline = time.monotonic() + timeout
    while True:
        found = server.graphql(BACKFILL_RUNS, {"id": backfill_id})["partitionBackfillOrError"]
        assert found["__typename"] == "PartitionBackfill", found
        if found["status"] not in ("REQUESTED", "CANCELING"):
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"backfill {backfill_id} still {found['status']} after {timeout:.0f}s:\n{server.logs()}")
        time.sleep(2)


def assert_released(found: dict, periods: list[str], releases: Path) -> list[dg.RunRecord]:
    """Every period released by one successful run, its folder matching its manifest; the runs as the PostgreSQL
    instance recorded them (with their success event in its event log)."""
    assert found["status"] == "COMPLETED_SUCCESS", found
    runs = {next(t["value"] for t in r["tags"] if t["key"] == "dagster/partition"): r for r in found["runs"]}
    assert sorted(runs) == periods and all(r["status"] == "SUCCESS" for r in runs.values()), found
    for period in periods:
        assert verify_manifest(releases / period) == [], period
        assert json.loads((releases / period / "manifest.json").read_text())["series"]["period"] == period
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(run_ids=[r["runId"] for r in runs.values()]))
        successes = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_SUCCESS, limit=100).records
        assert {r.run_id for r in successes} >= set(runs_ids := [r["runId"] for r in runs.values()]), runs_ids
        assert instance.get_materialized_partitions(dg.AssetKey("release_files")) >= set(periods)
    return records


@pytest.mark.slow
def test_a_three_period_backfill_through_webserver_daemon_and_code_server(deployment, pg_env, capsys):
    server = deployment()
    found = backfill_through(server, MONTHS, capsys)
    records = assert_released(found, MONTHS, pg_env.releases)
    assert all(r.dagster_run.tags.get("dagster/backfill") for r in records)
    server.stop()
    assert_no_leak(pg_env.db, pg_env.source)


@pytest.mark.slow
def test_four_periods_run_at_once_under_the_queued_run_coordinator(deployment, pg_env, capsys):
    months = ["2024-01", "2024-02", "2024-03", "2024-04"]
    for old in (pg_env.source / "events").glob("*"):
        old.unlink()
    write_sample(pg_env.source, people=3000, months=months, seed=5)
    config = yaml.safe_load(DEPLOY_YAML.read_text())
    limits = config["concurrency"]["runs"]
    limits["max_concurrent_runs"] = 4
    next(t for t in limits["tag_concurrency_limits"] if t["key"] == "dagster/backfill")["limit"] = 4
    (pg_env.home / "dagster.yaml").write_text(yaml.safe_dump(config))
    server = deployment()
    records = assert_released(backfill_through(server, months, capsys), months, pg_env.releases)
    spans = sorted((r.start_time, r.end_time) for r in records)
    assert len(spans) == 4 and all(start is not None and end is not None for start, end in spans)
    assert max(start for start, _ in spans) < min(end for _, end in spans), \
        f"the four runs did not overlap: {spans}"  # all four in progress at one moment
    print(f"4 runs at once: {max(e for _, e in spans) - min(s for s, _ in spans):.1f} s from the first start to the "
          f"last end; each {', '.join(f'{e - s:.1f}' for s, e in spans)} s")  # the figures for the closing note
    server.stop()
    assert_no_leak(pg_env.db, pg_env.source)
