"""The release key never appears in anything a run writes; rotating it changes the noise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.personatwin_dag.helpers import TEST_KEY, failure_message, run_partition


def every_file(root: Path):
    for path in root.rglob("*"):
        if path.is_file():
            yield path


def test_key_appears_in_no_file_the_run_writes(defs, instance, project_env, capfd):
    assert run_partition(defs, instance, "2024-01").success
    needle = TEST_KEY.encode()
    roots = [project_env.releases, project_env.store, project_env.home]
    scanned = 0
    for root in roots:
        for path in every_file(root):
            scanned += 1
            assert needle not in path.read_bytes(), f"the key leaked into {path}"
    assert scanned > 20  # release files, asset partitions, the instance's SQLite storage and logs
    out, err = capfd.readouterr()
    assert TEST_KEY not in out and TEST_KEY not in err
    # the run's event log (metadata, check results, messages) holds no trace of it either
    records = instance.all_logs(instance.get_runs(limit=1)[0].run_id)
    assert all(TEST_KEY not in str(r) for r in records)


def test_missing_key_stops_the_run_with_a_clear_message(defs, instance, project_env, monkeypatch):
    monkeypatch.delenv("PERSONATWIN_RELEASE_KEY")
    result = run_partition(defs, instance, "2024-01")
    assert not result.success
    assert "PERSONATWIN_RELEASE_KEY" in failure_message(result)
    assert not (project_env.releases / "2024-01").exists()


def test_rotating_the_key_changes_the_noise(defs, instance, project_env, monkeypatch):
    assert run_partition(defs, instance, "2024-01").success
    first = pd.read_parquet(project_env.releases / "2024-01" / "events.parquet")
    monkeypatch.setenv("PERSONATWIN_RELEASE_KEY", "another-release-key-fedcba9876543210")
    assert run_partition(defs, instance, "2024-01").success
    second = pd.read_parquet(project_env.releases / "2024-01" / "events.parquet")
    assert len(first) == len(second)
    assert not set(first["persona_id"].astype(str)) & set(second["persona_id"].astype(str))
    # same events per type and period, different randomized outcomes
    cols = ["event_type", "event_period"]
    assert first[cols].value_counts().sort_index().equals(second[cols].value_counts().sort_index())
    a = first.groupby(cols, observed=True)["outcome"].value_counts().sort_index()
    b = second.groupby(cols, observed=True)["outcome"].value_counts().sort_index()
    assert not a.equals(b)
