"""Partitions that cannot be released fail with a message naming the cause, never a traceback."""

from __future__ import annotations

import pandas as pd

from tests.personatwin_dag.helpers import failure_message, run_partition


def test_period_without_events_file(defs, instance, project_env):
    (project_env.source / "events" / "2024-02.parquet").unlink()
    result = run_partition(defs, instance, "2024-02")
    assert not result.success
    message = failure_message(result)
    assert "no events file for period 2024-02" in message and "Traceback" not in message
    assert not (project_env.releases / "2024-02").exists()


def test_period_with_fewer_than_k_people(defs, instance, project_env):
    path = project_env.source / "events" / "2024-02.parquet"
    events = pd.read_parquet(path)
    few = events[events["person_id"].isin(events["person_id"].drop_duplicates().head(4))]
    few.to_parquet(path, index=False)
    result = run_partition(defs, instance, "2024-02")
    assert not result.success
    message = failure_message(result)
    assert "fewer than k=10" in message and "nothing is released" in message
    assert not (project_env.releases / "2024-02").exists()


def test_identifier_column_in_source_stops_ingest(defs, instance, project_env):
    path = project_env.source / "people.parquet"
    people = pd.read_parquet(path)
    people["contact"] = [f"person{i}@example.org" for i in range(len(people))]
    people.to_parquet(path, index=False)
    result = run_partition(defs, instance, "2024-01")
    assert not result.success
    message = failure_message(result)
    assert "contact" in message and "@example.org" not in message
    assert not (project_env.releases / "2024-01").exists()
