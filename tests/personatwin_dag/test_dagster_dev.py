"""`dagster dev` starts on 127.0.0.1, its GraphQL lists every asset and check with the partition
materialized, and it stops cleanly (no process of its group left behind)."""

from __future__ import annotations

import pytest

from assets.constants import (
    CHECK_APPROVALS,
    CHECK_DATE_PRECISION,
    CHECK_MANIFEST,
    CHECK_PERSONAS_MIN_K,
    CHECK_PUBLISHED_MANIFEST,
    CHECK_QUARANTINE_RATE,
    CHECK_RECONCILIATION,
    CHECK_RELEASE_GUARANTEES,
    CHECK_RELEASE_UTILITY,
    CHECK_RISK_METRICS,
    CHECK_VALID_EVENTS_SUITE,
    CHECK_VALID_PEOPLE_SUITE,
    SOURCE_DATA,
)
from personatwin_dag.constants import (
    APPROVALS_SENSOR_NAME,
    CALENDAR_SENSOR_NAME,
    DEADLINE_SENSOR_NAME,
    JOB_NAME,
    OBSERVE_SENSOR_NAME,
    PUBLISH_JOB_NAME,
    SCHEDULE_NAME,
    SENSOR_NAME,
)
from tests.personatwin_dag.helpers import STAGE_ASSETS, run_partition

CHECKS = {CHECK_VALID_PEOPLE_SUITE, CHECK_VALID_EVENTS_SUITE, CHECK_RECONCILIATION, CHECK_QUARANTINE_RATE,
          CHECK_PERSONAS_MIN_K, CHECK_DATE_PRECISION, CHECK_RISK_METRICS, CHECK_RELEASE_GUARANTEES,
          CHECK_RELEASE_UTILITY, CHECK_MANIFEST, CHECK_APPROVALS, CHECK_PUBLISHED_MANIFEST}
PARTITION = "2024-01"

ASSETS_QUERY = """
{
  assetNodes {
    assetKey { path }
    isPartitioned
    partitionStats { numMaterialized numPartitions }
    assetPartitionStatuses { __typename ... on TimePartitionStatuses { ranges { status startKey endKey } } }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          blocking
          partitionStatuses {
            __typename
            ... on AssetCheckTimePartitionStatuses { ranges { status startKey endKey } }
          }
        }
      }
    }
  }
}
"""

LATEST_QUERY = """
query Latest($path: [String!]!, $partitions: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode { latestMaterializationByPartition(partitions: $partitions) { partition runId } }
  }
}
"""

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              jobs { name }
              schedules { name scheduleState { status } }
              sensors { name sensorState { status } }
            }
          }
        }
      }
    }
  }
}
"""


def covered(ranges: list[dict], key: str, status: str) -> bool:
    """Is ``key`` inside one of the ``ranges`` with ``status``? (monthly keys sort as strings)"""
    return any(r["status"] == status and r["startKey"] <= key <= r["endKey"] for r in ranges)


@pytest.mark.slow
def test_dagster_dev_lists_assets_checks_partitions_and_stops_cleanly(defs, instance, project_env, dagster_dev):
    # one partition materialized in-process on the instance whose DAGSTER_HOME the server uses
    result = run_partition(defs, instance, PARTITION)
    assert result.success
    published = defs.resolve_job_def(PUBLISH_JOB_NAME).execute_in_process(  # no review configured here: it passes
        partition_key=PARTITION, instance=instance, raise_on_error=False)
    assert published.success

    server = dagster_dev()
    assert server.url.startswith("http://127.0.0.1:")
    running = server.processes()
    assert server.proc.pid in running and len(running) >= 3, running  # dev + webserver + daemon (+ code servers)

    # the code location loaded, with the job, and the schedule and sensor present but stopped
    entries = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
    assert [e["name"] for e in entries] == ["personatwin_dag.definitions"]
    location = entries[0]["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repo,) = location["repositories"]
    assert {JOB_NAME, PUBLISH_JOB_NAME} <= {j["name"] for j in repo["jobs"]}
    assert {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]} == {SCHEDULE_NAME: "STOPPED"}
    sensors = (SENSOR_NAME, APPROVALS_SENSOR_NAME, OBSERVE_SENSOR_NAME, CALENDAR_SENSOR_NAME, DEADLINE_SENSOR_NAME)
    assert {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]} == dict.fromkeys(sensors, "STOPPED")

    # every stage asset and every check, with the partition materialized / checked
    nodes = {"/".join(n["assetKey"]["path"]): n for n in server.graphql(ASSETS_QUERY)["assetNodes"]}
    assert set(nodes) == set(STAGE_ASSETS) | {"published_release", SOURCE_DATA}
    assert nodes.pop(SOURCE_DATA)["isPartitioned"]  # observed by the observe_source sensor, never materialized
    checks = {}
    for name, node in nodes.items():
        assert node["isPartitioned"], name
        assert node["partitionStats"]["numMaterialized"] == 1, (name, node["partitionStats"])
        assert node["assetPartitionStatuses"]["__typename"] == "TimePartitionStatuses", name
        assert covered(node["assetPartitionStatuses"]["ranges"], PARTITION, "MATERIALIZED"), (name, node)
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", name
        for check in node["assetChecksOrError"]["checks"]:
            checks[check["name"]] = check
            if check["name"] == "freshness_check":  # the publication deadline: judges the latest due period
                continue
            assert covered(check["partitionStatuses"]["ranges"], PARTITION, "SUCCEEDED"), (name, check)
    assert set(checks) == CHECKS | {"freshness_check"}
    assert checks[CHECK_RELEASE_GUARANTEES]["blocking"] and checks[CHECK_PERSONAS_MIN_K]["blocking"]

    # the materialization the server shows is the run made in this test
    latest = server.graphql(LATEST_QUERY, {"path": ["release_files"], "partitions": [PARTITION]})
    assert latest["assetNodeOrError"]["latestMaterializationByPartition"] == [
        {"partition": PARTITION, "runId": result.run_id}]

    # Ctrl-C: dagster dev exits within 30 s and takes every process it started with it
    code, left = server.stop(timeout=30)
    assert code is not None, f"dagster dev still running 30 s after SIGINT:\n{server.log_tail()}"
    assert not left, f"processes of dagster dev still alive after it stopped: {sorted(left)}"
    assert "Dagster services shut down" in server.log.read_text(errors="replace"), server.log_tail()
