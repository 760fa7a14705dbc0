"""Sharded releases in the pipeline (issue 18): with ``PERSONATWIN_SHARDS=dask`` the noise and release steps run
their event-level stages on a two-worker Dask cluster, record each shard's timings as metadata, and publish the
same files as the one-process run."""

from __future__ import annotations

import hashlib
import json
import shutil

import dagster as dg
import pytest

from personatwin.protect import buckets
from personatwin_dag.definitions import build_defs
from personatwin_dag.environments import resources_for
from tests.personatwin_dag.helpers import failure_message, run_partition

pytest.importorskip("distributed")


def _published(folder) -> dict:
    """Every published file's digest, the manifest without its timings."""
    out = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
           if p.is_file() and p.name != "manifest.json"}
    manifest = json.loads((folder / "manifest.json").read_text())
    for volatile in ("timings", "created_at"):
        manifest.pop(volatile, None)
    return {**out, "manifest": manifest}


def test_a_dask_sharded_release_publishes_the_same_files(project_env, instance, monkeypatch):
    monkeypatch.setattr(buckets, "BUCKET_PEOPLE", 60)  # several buckets of draws in the sample's month
    monkeypatch.setenv("PERSONATWIN_ENV", "ci")
    assert run_partition(build_defs(resources_for("ci")), instance, "2024-01").success
    single = _published(project_env.releases / "2024-01")
    shutil.rmtree(project_env.releases)
    shutil.rmtree(project_env.store)
    for ledger in (project_env.releases.parent / "internal",):
        shutil.rmtree(ledger, ignore_errors=True)

    monkeypatch.setenv("PERSONATWIN_SHARDS", "dask")
    monkeypatch.setenv("PERSONATWIN_DASK_WORKERS", "2")
    result = run_partition(build_defs(resources_for("ci")), instance, "2024-01")
    assert result.success, failure_message(result)
    assert _published(project_env.releases / "2024-01") == single
    for asset in ("protected_events", "release"):
        meta = instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata
        shards = meta["shards"].value
        assert shards["runner"] == "DaskRunner" and shards["workers"] == 2
        per_shard = shards["phases"]["draw"]["per_shard"]
        assert len(per_shard) >= 2 and all(v >= 0 for v in per_shard.values())


def test_an_unknown_shard_mode_fails_the_step_by_name(project_env, instance, monkeypatch):
    monkeypatch.setenv("PERSONATWIN_SHARDS", "spark")
    result = run_partition(build_defs(resources_for("ci")), instance, "2024-01")
    assert not result.success and "PERSONATWIN_SHARDS" in failure_message(result)


def test_a_remote_scheduler_without_tls_fails_the_step_before_any_row_leaves(project_env, instance, monkeypatch):
    monkeypatch.setenv("PERSONATWIN_SHARDS", "dask")
    monkeypatch.setenv("PERSONATWIN_DASK_SCHEDULER", "tcp://10.20.30.40:8786")
    result = run_partition(build_defs(resources_for("ci")), instance, "2024-01")
    assert not result.success and "tls://" in failure_message(result)
