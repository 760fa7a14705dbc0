"""Fixtures for the code location tests: sample source data, env vars and a real Dagster instance."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from personatwin_dag.demo import write_sample
from tests.personatwin_dag.helpers import MONTHS, DagsterDev, dagster_home, deployment_vars


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
                          home=dagster_home(tmp_path / "dagster_home"))
    for name, value in deployment_vars(env.source, env.releases, env.store, env.home).items():
        monkeypatch.setenv(name, value)
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


@pytest.fixture
def dagster_dev(project_env, tmp_path):
    """Start `dagster dev` servers for the test's environment: ``server = dagster_dev()`` (ready to query);
    anything still running at teardown is killed."""
    servers: list[DagsterDev] = []

    def start() -> DagsterDev:
        server = DagsterDev(tmp_path / f"dagster_dev_{len(servers)}.log")
        servers.append(server)
        server.ready_seconds = server.wait_ready()
        return server

    yield start
    for server in servers:
        server.kill()
