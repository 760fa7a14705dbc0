"""Helpers and constants of the code location tests: deployments, runs, release folders and `dagster dev`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from personatwin_dag.demo import DAGSTER_YAML
from tests.paths import PROJECT

MONTHS = ["2024-01", "2024-02", "2024-03"]
TEST_KEY = "test-release-key-0123456789abcdef"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
STAGE_ASSETS = ["source_people", "source_events", "valid_people", "valid_events", "quarantine", "personas",
                "protected_events", "risk_assessment", "release", "release_files"]


# -- deployments and runs ------------------------------------------------------------------------------------

def dagster_home(home: Path) -> Path:
    """Create ``home`` as a DAGSTER_HOME with the project's dagster.yaml (SQLite storage); returns it."""
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return home


def deployment_vars(source: Path, releases: Path, store: Path, home: Path, key: str = TEST_KEY) -> dict[str, str]:
    """The environment variables of one `ci` deployment: source, release and asset folders, DAGSTER_HOME, key."""
    return {"PERSONATWIN_SOURCE": str(source), "PERSONATWIN_RELEASES": str(releases),
            "PERSONATWIN_ASSET_STORE": str(store), "DAGSTER_HOME": str(home), "PERSONATWIN_RELEASE_KEY": key,
            "PERSONATWIN_ENV": "ci", "PERSONATWIN_APPROVALS_REQUIRED": "0"}  # review: test_governance.py


def run_partition(defs: dg.Definitions, instance, key: str):
    """Run the release job for one partition on the instance; returns the execution result."""
    return defs.resolve_job_def("release_job").execute_in_process(partition_key=key, instance=instance,
                                                                  raise_on_error=False, run_config=QUIET)


def failure_message(result) -> str:
    """The error message of the first step failure of an execution result."""
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.error.message


def release_runs(instance) -> list[dg.DagsterRun]:
    """The runs of the release job on the instance, newest first."""
    return list(instance.get_runs(filters=dg.RunsFilter(job_name="release_job")))


# -- release folders -----------------------------------------------------------------------------------------

def folder_bytes(folder: Path) -> dict[str, bytes]:
    """The contents of every file directly in ``folder``, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def visible(folder: Path) -> list[str]:
    """The sorted names in ``folder`` that are not hidden (no leading dot)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# -- `dagster dev` on loopback, for the server tests ---------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_sigint() -> None:
    """Restore the default SIGINT handler (a `preexec_fn`): `dagster dev` must stop on SIGINT."""
    # started from a non-interactive shell, SIGINT is inherited as ignored and `dagster dev` then
    # ignores SIGINT and SIGTERM (DESIGN §10): restore the default before exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def live_pids_in_group(pgid: int) -> set[int]:
    """Processes (not zombies) whose process group is ``pgid``, from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            pids.add(int(entry.name))
    return pids


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """POST a query to a webserver's /graphql; its data (fails the test on GraphQL errors)."""
    request = urllib.request.Request(f"{url}/graphql", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode())
    with urllib.request.urlopen(request, timeout=60) as resp:
        body = json.load(resp)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def wait_for_webserver(url: str, alive, timeout: float, logs) -> float:
    """Seconds until a Dagster webserver at ``url`` answers GET /server_info; ``alive()`` fails the test when its
    process died; on timeout the test fails with ``logs()``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        alive()
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
                if "dagster_webserver_version" in json.load(resp):
                    return time.monotonic() - t0
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    pytest.fail(f"no answer from /server_info within {timeout:.0f}s: {logs()}")


class DagsterDev:
    """`dagster dev -h 127.0.0.1` from the project root, in its own process group, with the test's environment."""

    def __init__(self, log: Path, env: dict[str, str] | None = None):
        """Start the server, logging to ``log``, with ``env`` (default: this process's DAGSTER_HOME, PERSONATWIN_*)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.ready_seconds: float | None = None
        exe = Path(sys.executable).with_name("dagster")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd + ["dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"],
                                         cwd=PROJECT, env=dict(os.environ) if env is None else env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=default_sigint, start_new_session=True)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Seconds until GET /server_info answers; fails with the log if it never does."""
        def alive() -> None:
            if self.proc.poll() is not None:
                pytest.fail(f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}")

        return wait_for_webserver(self.url, alive, timeout, lambda: f"dagster dev:\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """POST a query to /graphql; its data (fails the test on GraphQL errors)."""
        return graphql(self.url, query, variables)

    def processes(self) -> set[int]:
        """Live processes of the server's process group (dagster dev, webserver, daemon, code servers, runs)."""
        return live_pids_in_group(self.proc.pid)

    def stop(self, timeout: float = 30.0, grace: float = 10.0) -> tuple[int | None, set[int]]:
        """SIGINT to `dagster dev` only, as Ctrl-C: its exit code (None on timeout) and its group's processes left."""
        # it must stop its own children; its code server exits about a second after it, so the group gets
        # ``grace`` seconds: anything left longer is an orphan
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
        if self.processes():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(10)
