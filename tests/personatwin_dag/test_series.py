"""A release series on a real Dagster instance: ledger, unchanged reruns, corrections as versions."""

from __future__ import annotations

import json

import pandas as pd

from personatwin.series.ledger import Ledger
from tests.personatwin_dag.helpers import folder_bytes, run_partition

PERIOD = "2024-02"


def ledger_of(project_env) -> Ledger:
    return Ledger(project_env.releases.parent / "internal" / "series")


def correct_one_outcome(source, period: str) -> None:
    """A correction in the source: one event of the period gets another outcome."""
    path = source / "events" / f"{period}.parquet"
    events = pd.read_parquet(path)
    outcomes = events["outcome"].astype(str)
    row = int(outcomes.index[0])
    other = next(o for o in outcomes.unique() if o != outcomes.iloc[0])
    events.loc[row, "outcome"] = other
    events.to_parquet(path, index=False)


def test_unchanged_rerun_is_byte_identical_and_a_correction_is_version_2(defs, instance, project_env):
    assert run_partition(defs, instance, PERIOD).success
    folder = project_env.releases / PERIOD
    first = folder_bytes(folder)
    manifest = json.loads(first["manifest.json"])
    assert manifest["series"]["version"] == 1 and manifest["series"]["supersedes"] is None
    assert manifest["release_id"] == f"criminal_justice/{PERIOD}/v1"
    assert "series_risk" in manifest["metrics"]
    assert manifest["metrics"]["series_risk"] <= manifest["policy"]["target_risk"]
    ledger = ledger_of(project_env)
    assert [(e.period, e.version) for e in ledger.entries()] == [(PERIOD, 1)]

    # a rerun without change: the same version, byte for byte, and no second ledger entry
    assert run_partition(defs, instance, PERIOD).success
    assert folder_bytes(folder) == first
    assert [(e.period, e.version) for e in ledger.entries()] == [(PERIOD, 1)]

    # a correction: version 2 with its differencing check; version 1 stays published beside it
    correct_one_outcome(project_env.source, PERIOD)
    assert run_partition(defs, instance, PERIOD).success
    v2 = json.loads((folder / "manifest.json").read_text())
    assert v2["series"]["version"] == 2 and v2["series"]["supersedes"] == 1
    m = v2["metrics"]
    assert m["differencing_passed"] == 1.0
    assert m["differencing_single_out"] <= v2["policy"]["target_risk"]
    assert m["differencing_risk"] <= v2["policy"]["target_risk"]
    assert "differencing_changed_people" not in m  # an input count: internal
    # either the same randomness already changed so much that the difference points at nobody, or the
    # period was redrawn with a fresh nonce (tests/personatwin/series covers both paths)
    assert v2["series"]["fresh_randomness"] == bool(m["differencing_fresh_randomness"])
    report = (folder / "privacy_report.html").read_text()
    assert "Differencing against the previous version" in report
    assert "series risk" in report.lower()
    kept = project_env.releases / "versions" / PERIOD / "v1"
    assert folder_bytes(kept) == first
    assert [(e.period, e.version) for e in ledger.entries()] == [(PERIOD, 1), (PERIOD, 2)]
    published = json.loads((project_env.releases / "ledger.json").read_text())
    assert [(e["period"], e["version"]) for e in published] == [(PERIOD, 1), (PERIOD, 2)]
    assert all("figures" not in e for e in published)

    # the corrected data rerun: version 2 again, byte for byte
    second = folder_bytes(folder)
    assert run_partition(defs, instance, PERIOD).success
    assert folder_bytes(folder) == second
    assert len(ledger.entries()) == 2


def test_dp_tables_spend_the_series_budget_and_the_release_over_the_cap_is_refused(project_env, monkeypatch):
    import dagster as dg

    from personatwin.series.budget import BudgetLedger
    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for
    from tests.personatwin_dag.helpers import failure_message

    monkeypatch.setenv("PERSONATWIN_DP_RHO", "0.05")
    monkeypatch.setenv("PERSONATWIN_DP_RHO_CAP", "0.1")  # two releases' worth
    monkeypatch.setenv("PERSONATWIN_RECIPIENTS", "state archive, research partner")
    defs = build_defs(resources_for("ci"))
    with dg.DagsterInstance.get() as instance:
        for period in ("2024-01", "2024-02"):
            assert run_partition(defs, instance, period).success, period
        folder = project_env.releases / "2024-02"
        manifest = json.loads((folder / "manifest.json").read_text())
        m = manifest["metrics"]
        assert m["dp_rho"] == 0.05 and m["dp_rho_spent_window"] == 0.1 and m["dp_rho_cap"] == 0.1
        assert m["dp_epsilon"] > 0 and "dp_events_dropped_for_bound" not in m
        assert {"dp_tables.parquet", "dp_tables.csv", "dp_tables.json"} <= set(manifest["files"])
        table = pd.read_parquet(folder / "dp_tables.parquet")
        assert set(table["attribute"]) == {"sex", "race", "all"}
        assert "DP tables (OpenDP, zCDP)" in (folder / "privacy_report.html").read_text()
        budget = BudgetLedger(project_env.releases.parent / "internal" / "series" / "dp_budget.jsonl")
        assert budget.spent("criminal_justice", "2024-02", 12) == 0.1
        published = json.loads((project_env.releases / "ledger.json").read_text())
        assert [e["recipients"] for e in published] == [["state archive", "research partner"]] * 2

        # an unchanged rerun reuses the published table and charges nothing
        before = folder_bytes(project_env.releases / "2024-01")
        assert run_partition(defs, instance, "2024-01").success
        assert folder_bytes(project_env.releases / "2024-01") == before
        assert len(budget.entries()) == 2

        result = run_partition(defs, instance, "2024-03")
        assert not result.success
        message = failure_message(result)
        assert "DP" in message and "cap" in message and "0.1" in message, message
        assert not (project_env.releases / "2024-03").exists()
        assert len(budget.entries()) == 2
