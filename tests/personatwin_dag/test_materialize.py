"""End to end on a real Dagster instance: one partition released; a bad partition blocked alone."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from personatwin.publish.export import verify_manifest
from tests.personatwin_dag.helpers import STAGE_ASSETS, run_partition


def check_records(instance, asset: str, name: str, partition: str):
    from dagster._core.event_api import PartitionKeyFilter

    key = dg.AssetCheckKey(dg.AssetKey(asset), name)
    return instance.event_log_storage.get_asset_check_execution_history(
        key, limit=10, partition_filter=PartitionKeyFilter(key=partition))


def test_one_partition_end_to_end(defs, instance, project_env):
    result = run_partition(defs, instance, "2024-02")
    assert result.success

    # every stage asset is materialized for the partition, in the instance
    for asset in STAGE_ASSETS:
        assert "2024-02" in instance.get_materialized_partitions(dg.AssetKey(asset)), asset

    # the release folder exists, its manifest matches its files, and it never holds the key
    folder = project_env.releases / "2024-02"
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["metrics"]["release_risk"] <= manifest["policy"]["target_risk"]
    assert manifest["metrics"]["k_anonymity"] >= manifest["policy"]["k"]
    events = pd.read_parquet(folder / "events.parquet")
    assert (events["event_date"].dt.day == 1).all()  # month precision at the HIGH preset
    for f in folder.iterdir():
        assert b"test-release-key" not in f.read_bytes(), f.name

    # float metadata of the release, as the UI plots it per partition
    event = instance.get_latest_materialization_event(dg.AssetKey("release"))
    meta = event.asset_materialization.metadata
    for name in ("release_risk", "population_average_risk", "external_linkage_risk", "k_anonymity",
                 "l_diversity_distinct", "information_loss", "tvd_outcome"):
        assert isinstance(meta[name], dg.FloatMetadataValue), name
    assert meta["release_risk"].value == pytest.approx(manifest["metrics"]["release_risk"], abs=1e-6)  # rounded
    assert "| iteration |" in meta["iterations_table"].value
    # where the time went (issue 14, item 4): every stage's seconds in the UI and in the manifest
    timings = manifest["timings"]
    for stage in ("ingest", "validate", "merge", "noise", "risk_assess", "prepare", "pass_1", "release", "export"):
        assert isinstance(timings[stage], float) and timings[stage] >= 0, stage
    if manifest["policy"]["anonymeter_max_risk"] is not None:  # high: the attack evaluation runs
        assert timings["attack_evaluation"] > 0
    for stage in ("ingest", "validate", "pass_1", "release"):
        assert meta[f"seconds_{stage}"].value == pytest.approx(timings[stage], abs=1e-3), stage
    for asset in ("source_events", "valid_people", "personas", "protected_events", "risk_assessment", "release",
                  "release_files"):
        asset_meta = instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata
        assert isinstance(asset_meta["seconds"], dg.FloatMetadataValue), asset
    risk_meta = instance.get_latest_materialization_event(dg.AssetKey("risk_assessment")).asset_materialization.metadata
    assert isinstance(risk_meta["external_linkage_risk"], dg.FloatMetadataValue)

    # check results recorded per partition, with GX results as metadata
    for asset, name in [("valid_people", "valid_people_suite"), ("valid_events", "valid_events_suite"),
                        ("quarantine", "rows_reconcile"), ("personas", "personas_at_least_k"),
                        ("protected_events", "no_date_finer_than_precision"), ("release", "release_guarantees"),
                        ("release", "release_utility_gates"), ("release_files", "manifest_matches_files")]:
        records = check_records(instance, asset, name, "2024-02")
        assert records, f"{asset}:{name} has no result for 2024-02"
        evaluation = records[0].event.dagster_event.event_specific_data
        assert evaluation.passed, f"{asset}:{name} failed: {evaluation.description}"
    gx = (check_records(instance, "valid_events", "valid_events_suite", "2024-02")[0]
          .event.dagster_event.event_specific_data)
    assert gx.metadata["success_percent"].value == 100.0
    assert "expect_column_values_to_be_in_set" in gx.metadata["results"].value


def test_bad_partition_is_blocked_and_neighbours_release(defs, instance, project_env):
    # break 2024-02 at the source: a tenth of its events get an outcome outside the vocabulary
    path = project_env.source / "events" / "2024-02.parquet"
    events = pd.read_parquet(path)
    bad_rows = events.index[::10]
    events.loc[bad_rows, "outcome"] = "not-an-outcome"
    events.to_parquet(path, index=False)

    results = {key: run_partition(defs, instance, key) for key in ("2024-01", "2024-02", "2024-03")}
    assert results["2024-01"].success and results["2024-03"].success
    assert not results["2024-02"].success

    # no release and no export for the bad partition; the neighbours have both
    assert not (project_env.releases / "2024-02").exists()
    assert (project_env.releases / "2024-01" / "manifest.json").exists()
    assert (project_env.releases / "2024-03" / "manifest.json").exists()
    for asset in ("personas", "release", "release_files"):
        assert "2024-02" not in instance.get_materialized_partitions(dg.AssetKey(asset)), asset
    assert {"2024-01", "2024-03"} <= instance.get_materialized_partitions(dg.AssetKey("release_files"))

    # the failed blocking check names the rule and the source rows
    record = check_records(instance, "valid_events", "quarantine_rate_within_limit", "2024-02")[0]
    evaluation = record.event.dagster_event.event_specific_data
    assert not evaluation.passed
    assert "outcome not valid for event_type" in evaluation.description
    first_rows = [int(r) + 1 for r in bad_rows[:3]]  # source rows are 1-based
    assert all(str(r) in evaluation.description for r in first_rows), evaluation.description
    # and the run's failure says which check stopped it
    failure = [e for e in results["2024-02"].all_events if e.is_step_failure]
    assert failure and "quarantine_rate_within_limit" in str(failure[0].step_failure_data.error.message)
