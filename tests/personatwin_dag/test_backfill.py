"""`personatwin-backfill`: three partitions give three releases and a rerun is byte-identical; auto
mode falls back to in-process when no server answers; a running `dagster dev` gets an asset backfill."""

from __future__ import annotations

import json
import re
import time

import dagster as dg
import pytest

from personatwin.publish.export import verify_manifest
from personatwin_dag.backfill import main
from tests.personatwin_dag.helpers import MONTHS, STAGE_ASSETS, TEST_KEY, folder_bytes, free_port, release_runs


def test_backfill_three_partitions_then_rerun_is_byte_identical(project_env, capsys):
    assert main(["--from", MONTHS[0], "--to", MONTHS[-1], "--mode", "in-process"]) == 0
    out = capsys.readouterr().out
    for key in MONTHS:
        folder = project_env.releases / key
        assert (folder / "manifest.json").exists(), out
        assert verify_manifest(folder) == []
        assert re.search(rf"^{key}  ok .* v1  series risk 0\.\d{{4}}  {re.escape(str(folder))}$", out, re.M), out
    assert re.search(r"^series risk: largest 0\.\d{4} \(2024-0\d; target 0\.05\) over 3 released period\(s\)", out,
                     re.M), out
    assert sorted(p.name for p in project_env.releases.iterdir() if p.is_dir() and not p.name.startswith(".")) == MONTHS
    with dg.DagsterInstance.get() as instance:  # the test's DAGSTER_HOME
        runs = release_runs(instance)
        assert sorted(r.tags["dagster/partition"] for r in runs) == MONTHS
        assert all(r.is_success and r.tags["personatwin/trigger"] == "personatwin-backfill" for r in runs)
        assert instance.get_materialized_partitions(dg.AssetKey("release_files")) == set(MONTHS)

    folder = project_env.releases / "2024-02"
    before, inode = folder_bytes(folder), folder.stat().st_ino
    assert main(["--from", "2024-02", "--to", "2024-02", "--mode", "in-process"]) == 0
    after = folder_bytes(folder)
    assert folder.stat().st_ino != inode  # a new folder was written and renamed into place
    with dg.DagsterInstance.get() as instance:
        assert sorted(r.tags["dagster/partition"] for r in release_runs(instance)) == sorted(MONTHS + ["2024-02"])

    assert set(after) == set(before)
    manifest_before, manifest_after = (json.loads(f.pop("manifest.json")) for f in (before, after))
    assert {"events.parquet", "personas.parquet", "privacy_report.html"} <= set(before)
    for name in before:  # every data file and the report
        assert after[name] == before[name], f"{name} differs after a rerun with the same key"
    assert manifest_after == manifest_before  # the same version, first published at the same time
    for content in after.values():
        assert TEST_KEY.encode() not in content


def test_auto_mode_without_a_server_runs_in_process(project_env, capsys):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["--from", "2024-03", "--to", "2024-03", "--url", url]) == 0
    out = capsys.readouterr().out
    assert f"no Dagster webserver at {url}: backfilling in-process" in out
    assert verify_manifest(project_env.releases / "2024-03") == []
    with dg.DagsterInstance.get() as instance:
        assert [r.tags["dagster/partition"] for r in release_runs(instance)] == ["2024-03"]


@pytest.mark.parametrize("argv, message", [
    (["--from", "2024-03", "--to", "2024-01"], "--from 2024-03 is after --to 2024-01"),
    (["--from", "2024-1", "--to", "2024-03"], "--from '2024-1' is not a release period"),
    (["--from", "2022-12", "--to", "2024-03"], "--from '2022-12' is not a release period"),
    (["--from", "2024-01", "--to", "2099-12"], "--to '2099-12' is not a release period"),
])
def test_bad_ranges_are_refused_before_anything_runs(project_env, capsys, argv, message):
    assert main(argv + ["--mode", "in-process"]) == 2
    assert message in capsys.readouterr().err
    assert not project_env.releases.exists()


def test_instance_mode_without_a_server_is_an_error(project_env, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--from", "2024-01", "--to", "2024-01", "--mode", "instance", "--url", url]) == 2
    assert f"no Dagster webserver answers at {url}/server_info" in capsys.readouterr().err
    assert not project_env.releases.exists()


BACKFILL_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status isAssetBackfill partitionNames title
      assetSelection { path }
      tags { key value }
      runs(limit: 10) { runId status tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""


@pytest.mark.slow
def test_auto_mode_with_dagster_dev_launches_an_asset_backfill(project_env, dagster_dev, capsys):
    server = dagster_dev()
    assert main(["--from", "2024-02", "--to", "2024-02", "--url", server.url]) == 0
    out = capsys.readouterr().out
    assert f"a Dagster webserver answers at {server.url}: backfilling through it" in out
    backfill_id = re.search(r"^backfill (\w+) launched", out, re.M).group(1)
    assert f"{server.url}/runs/b/{backfill_id}?tab=partitions" in out

    # the daemon of `dagster dev` runs it: one run for the partition, every stage asset
    deadline = time.monotonic() + 300
    while True:
        backfill = server.graphql(BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] not in ("REQUESTED", "CANCELING") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert backfill["status"] == "COMPLETED_SUCCESS", (backfill, server.log_tail())
    assert backfill["isAssetBackfill"] and backfill["partitionNames"] == ["2024-02"]
    assert sorted("/".join(a["path"]) for a in backfill["assetSelection"]) == sorted(STAGE_ASSETS)
    assert {"key": "personatwin/trigger", "value": "personatwin-backfill"} in backfill["tags"]
    (run,) = backfill["runs"]
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/partition", "value": "2024-02"} in run["tags"]
    assert verify_manifest(project_env.releases / "2024-02") == []
    code, left = server.stop()
    assert code is not None and not left, (code, left)
