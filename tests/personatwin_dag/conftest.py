"""Fixtures for the code location tests: sample source data, env vars and a real Dagster instance."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from personatwin_dag.demo import DAGSTER_YAML, write_sample

MONTHS = ["2024-01", "2024-02", "2024-03"]
TEST_KEY = "test-release-key-0123456789abcdef"


@pytest.fixture(scope="session")
def sample_source(tmp_path_factory) -> Path:
    """Sample source folder (people + one events file per month), written once per session."""
    folder = tmp_path_factory.mktemp("sample_source")
    write_sample(folder, people=3000, months=MONTHS, seed=3)
    return folder


@pytest.fixture
def project_env(tmp_path, monkeypatch, sample_source) -> SimpleNamespace:
    """A private copy of the source, release and asset folders, a DAGSTER_HOME and the key, via env vars."""
    source = tmp_path / "source"
    shutil.copytree(sample_source, source)
    env = SimpleNamespace(source=source, releases=tmp_path / "releases", store=tmp_path / "assets",
                          home=tmp_path / "dagster_home")
    env.home.mkdir()
    (env.home / "dagster.yaml").write_text(DAGSTER_YAML)
    for name, value in {"PERSONATWIN_SOURCE": source, "PERSONATWIN_RELEASES": env.releases,
                        "PERSONATWIN_ASSET_STORE": env.store, "DAGSTER_HOME": env.home,
                        "PERSONATWIN_RELEASE_KEY": TEST_KEY, "PERSONATWIN_ENV": "ci"}.items():
        monkeypatch.setenv(name, str(value))
    return env


@pytest.fixture
def defs(project_env) -> dg.Definitions:
    """Definitions whose resources point into the test's folders."""
    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for

    return build_defs(resources_for("ci"))


@pytest.fixture
def instance(project_env):
    """A real Dagster instance (SQLite) in the test's DAGSTER_HOME."""
    with dg.DagsterInstance.get() as inst:
        yield inst


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def run_partition(defs: dg.Definitions, instance, key: str):
    """Run the release job for one partition on the instance; returns the execution result."""
    return defs.resolve_job_def("release_job").execute_in_process(partition_key=key, instance=instance,
                                                                  raise_on_error=False, run_config=QUIET)
