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


# -- `dagster dev` on loopback, for the server tests -------------------------------------------------------

PROJECT_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_sigint() -> None:
    # started from a non-interactive shell, SIGINT is inherited as ignored and `dagster dev` then
    # ignores SIGINT and SIGTERM (DESIGN §10): restore the default before exec.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def live_pids_in_group(pgid: int) -> set[int]:
    """Processes (not zombies) whose process group is ``pgid``, from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            pids.add(int(entry.name))
    return pids


class DagsterDev:
    """`dagster dev -h 127.0.0.1` from the project root in its own process group, with this process's
    environment (DAGSTER_HOME and PERSONATWIN_* of the test)."""

    def __init__(self, log: Path):
        import os
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.ready_seconds: float | None = None
        exe = Path(sys.executable).with_name("dagster")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd + ["dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"],
                                         cwd=PROJECT_DIR, env=dict(os.environ), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=_default_sigint, start_new_session=True)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Seconds until GET /server_info answers; fails with the log if it never does."""
        import json
        import time
        import urllib.request

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                pytest.fail(f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as resp:
                    if "dagster_webserver_version" in json.load(resp):
                        return time.monotonic() - t0
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        pytest.fail(f"dagster dev did not answer /server_info within {timeout:.0f}s:\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """POST a query to /graphql; its data (fails the test on GraphQL errors)."""
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.url}/graphql", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode())
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = json.load(resp)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def processes(self) -> set[int]:
        """Live processes of the server's process group (dagster dev, webserver, daemon, code servers, runs)."""
        return live_pids_in_group(self.proc.pid)

    def stop(self, timeout: float = 30.0, grace: float = 10.0) -> tuple[int | None, set[int]]:
        """SIGINT to `dagster dev` only (it must stop its own children, as on Ctrl-C): its exit code (None if
        it was still running after ``timeout``) and the processes of its group still alive ``grace`` seconds
        later (its code server exits about a second after it; anything left longer is an orphan)."""
        import signal
        import subprocess
        import time

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, self.processes()
        deadline = time.monotonic() + grace
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        return code, self.processes()

    def kill(self) -> None:
        """Last resort at teardown: SIGKILL whatever is left of the server's process group."""
        import os
        import signal

        if self.processes():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(10)


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
