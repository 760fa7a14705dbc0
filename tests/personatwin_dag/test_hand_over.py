"""The asset store's in-process hand-over (issue 14) changes no published byte: a run whose steps read every
input back from the stored Parquet releases exactly what a run handing tables over in memory releases."""

from __future__ import annotations

import json

import dagster as dg

from resources import io_manager
from tests.personatwin_dag.helpers import dagster_home, deployment_vars, folder_bytes, run_partition

PERIOD = "2024-02"


def without_run_facts(manifest: bytes) -> dict:
    """A manifest without what differs between two runs of the same release: when it ran and how long."""
    m = json.loads(manifest)
    m.pop("created_at"), m.pop("timings", None)
    return m


def test_handed_over_and_read_back_inputs_release_the_same_bytes(defs, instance, project_env, tmp_path,
                                                                 monkeypatch):
    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for

    io_manager._LOADED.clear()
    assert run_partition(defs, instance, PERIOD).success
    handed = folder_bytes(project_env.releases / PERIOD)

    # a second deployment over the same source, whose steps read every stored input back
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, value in deployment_vars(project_env.source, plain / "releases", plain / "assets",
                                       dagster_home(plain / "home")).items():
        monkeypatch.setenv(name, value)
    handed_over = []
    monkeypatch.setattr(io_manager, "_hand_over", lambda path, obj: handed_over.append(path))
    io_manager._LOADED.clear()
    with dg.DagsterInstance.get() as other:
        assert run_partition(build_defs(resources_for("ci")), other, PERIOD).success
    assert handed_over  # the stores' writes went through the disabled hand-over
    read_back = folder_bytes(plain / "releases" / PERIOD)

    assert set(read_back) == set(handed)
    for name in handed:
        if name == "manifest.json":
            assert without_run_facts(read_back[name]) == without_run_facts(handed[name])
        else:
            assert read_back[name] == handed[name], f"{name} differs"
