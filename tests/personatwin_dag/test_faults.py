"""Faults: a real Dagster run killed with SIGKILL in the privacy loop or in the export leaves no
partial release and a working instance, and a rerun is byte-identical to a clean run; concurrent
publishers of one partition never produce a mixed release.

The runs are `personatwin-backfill --mode in-process` child processes on a real SQLite instance.
No hook in the product code: the kill points are found by watching real signals (the run's event
log for the `release` step, the export's staging folder), the child is frozen with SIGSTOP, the
test checks it really is at the intended point, then kills it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from personatwin.publish.export import verify_manifest
from personatwin_dag.demo import write_sample
from resources.storage import ReleaseStorageResource
from tests.paths import PROJECT
from tests.personatwin_dag.helpers import (
    TEST_KEY,
    dagster_home,
    deployment_vars,
    folder_bytes,
    release_runs,
    visible,
)

PARTITION = "2024-01"
OTHER_KEY = "other-release-key-fedcba9876543210"
# LOW with a strict target makes the privacy loop escalate about nine times on 12,000 people, so the
# `release` step lasts a couple of seconds (a large target window) while the whole run stays short.
KILL_PEOPLE = 12_000
# (one release's series share is the whole target: the tests release one period)
KILL_POLICY = {"PERSONATWIN_PRIVACY_LEVEL": "low", "PERSONATWIN_TARGET_RISK": "0.003",
               "PERSONATWIN_SERIES_EXPECTED_RELEASES": "1"}
RELEASE_INPUTS = {"valid_people", "valid_events", "quarantine"}
STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
               dg.DagsterEventType.LOADED_INPUT, dg.DagsterEventType.HANDLED_OUTPUT}


# -- helpers -------------------------------------------------------------------------------------------

def make_env(root: Path, source: Path, *, releases: Path | None = None, key: str = TEST_KEY,
             policy: dict | None = None) -> SimpleNamespace:
    """Folders and environment variables of one deployment: instance, asset store, release folder."""
    root.mkdir(parents=True, exist_ok=True)
    env = SimpleNamespace(source=source, releases=releases or root / "releases", store=root / "assets",
                          home=dagster_home(root / "dagster_home"), log=root / "runs.log")
    env.vars = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONATWIN_", "DAGSTER_HOME"))}
    env.vars.update({**deployment_vars(source, env.releases, env.store, env.home, key), **(policy or KILL_POLICY)})
    return env


CHILDREN: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_child_left():
    """Children of a test that failed half-way (perhaps stopped with SIGSTOP) are killed at teardown."""
    yield
    while CHILDREN:
        proc = CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def start_run(env) -> subprocess.Popen:
    """`personatwin-backfill` for the partition, in-process, as a child process (own session)."""
    offset = env.log.stat().st_size if env.log.exists() else 0
    with open(env.log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "personatwin_dag.backfill", "--from", PARTITION,
                                 "--to", PARTITION, "--mode", "in-process"], cwd=PROJECT, env=env.vars,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_offset = offset
    CHILDREN.append(proc)
    return proc


def finish(env, proc: subprocess.Popen, timeout: float = 300) -> str:
    """Wait for a run started by start_run; its output (the test fails if it did not succeed)."""
    code = proc.wait(timeout)
    with open(env.log, "rb") as f:
        f.seek(proc.log_offset)
        log = f.read().decode(errors="replace")
    assert code == 0, log[-4000:]
    return log


def instance_of(env) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(env.home))


def step_events(instance, run_id: str, step: str) -> list:
    return [e.dagster_event for e in instance.all_logs(run_id, of_type=STEP_EVENTS)
            if e.dagster_event.step_key == step]


def assert_same_release(after: dict[str, bytes], before: dict[str, bytes]) -> None:
    """Data files and report byte-identical; the manifests differ at most in `created_at`."""
    assert set(after) == set(before)
    for name in before:
        if name != "manifest.json":
            assert after[name] == before[name], f"{name} differs"
    m_after, m_before = json.loads(after["manifest.json"]), json.loads(before["manifest.json"])
    m_after.pop("created_at"), m_before.pop("created_at")
    assert m_after == m_before


def leftovers(folder: Path, partition: str = PARTITION) -> list[str]:
    """Staging, old-copy and lock entries of a partition (files or folders, anywhere below ``folder``)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(f".{partition}*"))


def wait_until(what: str, condition, proc: subprocess.Popen, env, timeout: float = 240, poll: float = 0.005):
    """Poll ``condition()`` until it returns something truthy; fail if the run ends or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}:\n{env.log.read_text()[-3000:]}")
        time.sleep(poll)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


def sqlite_files_are_intact(home: Path) -> None:
    dbs = sorted(home.rglob("*.db"))
    assert dbs
    for db in dbs:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", db


def assert_instance_sound_after_kill(env, run_id: str, step: str) -> None:
    """The killed run is recorded, unfinished, with the step started and not ended; storage is intact."""
    sqlite_files_are_intact(env.home)
    with instance_of(env) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED), run.status
        kinds = [e.event_type for e in step_events(instance, run_id, step)]
        assert dg.DagsterEventType.STEP_START in kinds
        assert not {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE} & set(kinds), kinds
        assert not instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)


def assert_rerun_is_clean(env, clean: dict[str, bytes], killed_run: str) -> None:
    """A rerun on the same instance completes, marks the dead run failed, and releases the clean bytes."""
    log = finish(env, start_run(env))
    assert f"run {killed_run} ({PARTITION}) marked failed" in log, log
    assert f"{PARTITION}  ok" in log, log
    folder = env.releases / PARTITION
    assert verify_manifest(folder) == []
    assert_same_release(folder_bytes(folder), clean)
    assert visible(env.releases) == [PARTITION, "index.html", "ledger.json"]
    assert leftovers(env.releases) == [] and leftovers(env.store) == []
    sqlite_files_are_intact(env.home)
    with instance_of(env) as instance:
        killed = instance.get_run_by_id(killed_run)
        assert killed.status == dg.DagsterRunStatus.FAILURE
        (failure,) = instance.all_logs(killed_run, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "no longer exists" in failure.dagster_event.message
        last = release_runs(instance)[0]  # newest first: the rerun
        assert last.run_id != killed_run and last.status == dg.DagsterRunStatus.SUCCESS


# -- a clean release on a real instance, shared by the kill tests --------------------------------------------

@pytest.fixture(scope="module")
def kill_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kill_source")
    write_sample(folder, people=KILL_PEOPLE, months=[PARTITION], seed=3)
    return folder


@pytest.fixture(scope="module")
def released(tmp_path_factory, kill_source):
    """A deployment whose partition was released once by a clean run; its release bytes."""
    env = make_env(tmp_path_factory.mktemp("kill_env"), kill_source)
    finish(env, start_run(env))
    env.clean = folder_bytes(env.releases / PARTITION)
    return env


def start_and_find_run(env, instance) -> tuple[subprocess.Popen, str]:
    known = {r.run_id for r in release_runs(instance)}
    proc = start_run(env)
    run_id = wait_until("the run was created", lambda: next((r.run_id for r in release_runs(instance)
                                                            if r.run_id not in known), None), proc, env, poll=0.05)
    return proc, run_id


def test_kill_during_privacy_loop_leaves_previous_release_and_a_sound_instance(released):
    env = released
    before = folder_bytes(env.releases / PARTITION)
    with instance_of(env) as instance:
        proc, run_id = start_and_find_run(env, instance)

        def in_loop():
            events = step_events(instance, run_id, "release")
            loaded = {e.event_specific_data.input_name for e in events
                      if e.event_type == dg.DagsterEventType.LOADED_INPUT}
            return loaded >= RELEASE_INPUTS

        # the step has started and loaded its inputs: the privacy loop is what runs next
        wait_until("the release step loaded its inputs", in_loop, proc, env)
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGSTOP)
        kinds = [e.event_type for e in step_events(instance, run_id, "release")]
    assert dg.DagsterEventType.STEP_START in kinds
    assert dg.DagsterEventType.HANDLED_OUTPUT not in kinds and dg.DagsterEventType.STEP_SUCCESS not in kinds, \
        f"the release step ended before the kill ({kinds}): enlarge KILL_PEOPLE"
    assert not [p for p in env.releases.iterdir() if p.name.startswith(f".{PARTITION}.tmp-")]  # export not begun
    kill(proc)

    # the previous release is untouched and nothing else is visible
    assert visible(env.releases) == [PARTITION, "index.html", "ledger.json"]
    assert folder_bytes(env.releases / PARTITION) == before
    assert verify_manifest(env.releases / PARTITION) == []
    assert_instance_sound_after_kill(env, run_id, "release")
    assert_rerun_is_clean(env, env.clean, run_id)


def test_kill_during_export_leaves_previous_release_and_a_sound_instance(released):
    env = released
    before = folder_bytes(env.releases / PARTITION)

    def writing():
        for stage in env.releases.glob(f".{PARTITION}.tmp-*"):
            try:
                if any(stage.iterdir()):
                    return stage
            except FileNotFoundError:
                pass
        return None

    with instance_of(env) as instance:
        proc, run_id = start_and_find_run(env, instance)
        stage = wait_until("the export began writing its staging folder", writing, proc, env, poll=0.002)
        os.kill(proc.pid, signal.SIGSTOP)
        written = sorted(p.name for p in stage.iterdir())  # the export is half-way: no manifest yet
        kinds = [e.event_type for e in step_events(instance, run_id, "release_files")]
    assert written and "manifest.json" not in written, written
    assert dg.DagsterEventType.STEP_START in kinds and dg.DagsterEventType.STEP_SUCCESS not in kinds, kinds
    kill(proc)

    assert stage.exists()  # the dead writer's partial folder, hidden ...
    if Path("/proc/locks").exists():  # its lock file stays, but the kernel released the lock
        assert flock_owners(env.releases / f".{PARTITION}.lock") == (set(), set())
    assert visible(env.releases) == [PARTITION, "index.html", "ledger.json"]  # ... and nothing partial is visible
    assert folder_bytes(env.releases / PARTITION) == before
    assert verify_manifest(env.releases / PARTITION) == []
    assert_instance_sound_after_kill(env, run_id, "release_files")
    assert_rerun_is_clean(env, env.clean, run_id)  # also removes the dead writer's staging folder and lock


# -- concurrent publishers -----------------------------------------------------------------------------------

PUBLISHER = textwrap.dedent("""
    import hashlib, json, os, sys, time
    sys.path.insert(0, {project!r})
    from resources.storage import ReleaseStorageResource

    name, root, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    storage = ReleaseStorageResource(location=root)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    for i in range(rounds):
        with storage.staged("2024-01") as folder:
            files = {{}}
            for part in ("personas.parquet", "personas.csv", "events.parquet", "events.csv", "privacy_report.html"):
                data = (f"{{name}} {{i}} {{part}} " * 2000).encode()
                (folder / part).write_bytes(data)
                files[part] = {{"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
                time.sleep(0.0005)
            (folder / "manifest.json").write_text(json.dumps({{"writer": name, "round": i, "files": files}}))
    print("published", rounds, flush=True)
""")


def start_together(procs: list[subprocess.Popen], go: Path) -> None:
    """Wait until every child has imported everything and says so, then let them all go at once."""
    for p in procs:
        line = p.stdout.readline()
        assert line.strip() == "ready", p.stderr.read()[-3000:]
    go.touch()


def test_concurrent_publishers_never_mix_a_release(tmp_path):
    """Two processes publish one partition 30 times each, at the same moment, with distinct content,
    while this process reads the release under the storage's lock and lock-free: every read is one
    complete release, the folder never disappears, and nothing is left behind."""
    root, go, rounds = tmp_path / "releases", tmp_path / "go", 30
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISHER.format(project=str(PROJECT)), name, str(root),
                               str(rounds), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("A", "B")]
    CHILDREN.extend(procs)
    storage = ReleaseStorageResource(location=str(root))
    target = root / PARTITION
    locked_reads, seen, ever_published = 0, set(), False
    try:
        start_together(procs, go)
        while any(p.poll() is None for p in procs):
            if ever_published:
                assert target.is_dir(), "the release folder vanished while being replaced"
            with storage.reading(PARTITION) as folder:
                if (folder / "manifest.json").exists():
                    ever_published = True
                    manifest = json.loads((folder / "manifest.json").read_text())
                    assert verify_manifest(folder) == [], manifest
                    tags = {tuple(p.read_bytes().split(b" ", 2)[:2]) for p in folder.iterdir()
                            if p.name != "manifest.json"}
                    assert tags == {(manifest["writer"].encode(), str(manifest["round"]).encode())}
                    seen.add(manifest["writer"])
                    locked_reads += 1
            time.sleep(0.002)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0 and out.strip() == f"published {rounds}", err[-3000:]
    assert locked_reads > 0
    manifest = json.loads((target / "manifest.json").read_text())
    assert verify_manifest(target) == [] and manifest["round"] == rounds - 1
    assert visible(root) == [PARTITION] and leftovers(root) == []


IO_WRITER = textwrap.dedent("""
    import os, sys, time
    from types import SimpleNamespace
    sys.path.insert(0, {project!r})
    import dagster as dg
    import pandas as pd
    from resources.io_manager import PartitionedParquetIOManager

    name, base, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    io = PartitionedParquetIOManager(base_dir=base)
    ctx = SimpleNamespace(asset_key=dg.AssetKey("release"), has_asset_partitions=True, asset_partition_key="2024-01")
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    for i in range(rounds):
        tag = f"{{name}}-{{i}}"
        io.handle_output(ctx, {{t: pd.DataFrame({{"tag": [tag] * 500}})
                               for t in ("personas", "events", "metrics", "pram")}})
        tables = io.load_input(ctx)
        assert len({{df["tag"].iloc[0] for df in tables.values()}}) == 1 and len(tables) == 4, tables
    print("wrote", rounds, flush=True)
""")


def test_concurrent_asset_store_writes_of_one_partition_never_mix(tmp_path):
    """Two processes store a dict output (a folder of tables) for one asset partition 30 times each and
    read it back: no write fails, every read is one complete version, nothing is left behind."""
    base, go, rounds = tmp_path / "assets", tmp_path / "go", 30
    procs = [subprocess.Popen([sys.executable, "-c", IO_WRITER.format(project=str(PROJECT)), name, str(base),
                               str(rounds), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("A", "B")]
    CHILDREN.extend(procs)
    start_together(procs, go)
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == f"wrote {rounds}", err[-3000:]
    assert sorted(p.name for p in (base / "release").iterdir()) == [PARTITION]
    assert leftovers(base) == []


def flock_owners(lock: Path) -> tuple[set[int], set[int]]:
    """Processes holding and processes waiting for the flock on ``lock`` (from /proc/locks)."""
    try:
        inode = lock.stat().st_ino
    except FileNotFoundError:
        return set(), set()
    holders, waiters = set(), set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        waiting = fields[1] == "->"
        fields = fields[2:] if waiting else fields[1:]
        if fields[0] == "FLOCK" and int(fields[4].rsplit(":", 1)[1]) == inode:
            (waiters if waiting else holders).add(int(fields[3]))
    return holders, waiters


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks (Linux) to watch the lock")
def test_two_dagster_runs_of_one_partition_at_once_publish_one_whole_release(tmp_path, sample_source):
    """Two deployments (own instance, asset store and key) release the same partition of one series (one
    release folder, one ledger) at once. The first to export is frozen half-way through writing its
    release, holding the series ledger's lock; the second runs on until it waits for that lock; then the
    first goes on. The first publishes whole; the second, whose other data would reuse the release id
    version 1, publishes nothing and says why (a rerun makes it version 2); the folder is exactly the
    first run's release."""
    releases = tmp_path / "releases"
    lock = releases / f".{PARTITION}.lock"
    ledger_lock = tmp_path / "internal" / "series" / ".ledger.lock"
    policy = {"PERSONATWIN_PRIVACY_LEVEL": "low"}
    envs = [make_env(tmp_path / name, sample_source, releases=releases, key=key, policy=policy)
            for name, key in (("a", TEST_KEY), ("b", OTHER_KEY))]
    procs = [start_run(env) for env in envs]
    pids = [p.pid for p in procs]
    try:
        def first_writing():
            holders = flock_owners(lock)[0] & set(pids)
            stages = list(releases.glob(f".{PARTITION}.tmp-*")) if holders else []
            return holders.pop() if stages and any(stages[0].iterdir()) else None

        first = wait_until("a run writing its release", first_writing, procs[0], envs[0], poll=0.002)
        os.kill(first, signal.SIGSTOP)
        i = pids.index(first)
        stage = next(releases.glob(f".{PARTITION}.tmp-*"))
        assert "manifest.json" not in {p.name for p in stage.iterdir()}  # frozen half-way through its export
        second = pids[1 - i]
        wait_until("the other run waiting for the series ledger's lock",
                   lambda: second in flock_owners(ledger_lock)[1], procs[1 - i], envs[1 - i], poll=0.05)
        assert len(list(releases.glob(f".{PARTITION}.tmp-*"))) == 1  # it has not touched the first's staging
        os.kill(first, signal.SIGCONT)
        finish(envs[i], procs[i])
        assert procs[1 - i].wait(300) == 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()

    with instance_of(envs[i]) as instance:
        (run,) = release_runs(instance)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(dg.AssetKey("release_files"))
        published = event.asset_materialization.metadata["files"].value
        checks = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        assert checks and all(e.dagster_event.event_specific_data.passed for e in checks)
    with instance_of(envs[1 - i]) as instance:
        (run,) = release_runs(instance)
        assert run.status == dg.DagsterRunStatus.FAILURE
        failure = next(e for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE))
        assert "published meanwhile with other data" in failure.dagster_event.step_failure_data.error.message

    folder = releases / PARTITION
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {name: info["sha256"][:16] for name, info in manifest["files"].items()}
    assert files == published  # every file comes from the run that published
    assert manifest["series"]["version"] == 1
    assert visible(releases) == [PARTITION, "index.html", "ledger.json"] and leftovers(releases) == []
    for env in envs:
        assert leftovers(env.store) == []
