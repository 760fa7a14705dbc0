"""The Dagster release step runs the Anonymeter evaluation at HIGH: its figures reach the partition's
metadata, manifest and privacy report (issue #6, attacks)."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from personatwin.measure import anonymeter_eval as ae
from personatwin.publish.export import verify_manifest
from tests.helpers import needs_anonymeter
from tests.personatwin_dag.helpers import run_partition


@needs_anonymeter
def test_partition_release_carries_anonymeter_figures(defs, instance, project_env):
    result = run_partition(defs, instance, "2024-01")
    assert result.success
    folder = project_env.releases / "2024-01"
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    section = manifest["anonymeter"]
    assert section["max_risk"] == manifest["policy"]["anonymeter_max_risk"] == 0.05
    assert section["passed"] is True
    for attack in ae.ATTACKS:
        head = section["risks"][attack]
        assert 0.0 <= head["ci_low"] <= head["risk"] <= head["ci_high"] <= 1.0
        assert not ae.exceeds(head["risk"], head["ci_low"], 0.05)
        assert manifest["metrics"][f"anonymeter_{attack}_risk"] == pytest.approx(head["risk"], abs=1e-6)  # rounded
    html = (folder / "privacy_report.html").read_text()
    assert 'id="attacks"' in html and "Independent attack evaluation (Anonymeter)" in html
    meta = instance.get_latest_materialization_event(dg.AssetKey("release")).asset_materialization.metadata
    for attack in ae.ATTACKS:
        assert isinstance(meta[f"anonymeter_{attack}_risk"], dg.FloatMetadataValue)
        assert isinstance(meta[f"anonymeter_{attack}_ci_high"], dg.FloatMetadataValue)
    assert "| attack |" in meta["anonymeter"].value
