"""Backfill a range of release periods: through a running Dagster instance when there is one,
in-process when there is none.

    personatwin-backfill --from 2024-01 --to 2024-12 [--mode auto|instance|in-process] [--url URL]

instance    an asset backfill launched through the webserver's GraphQL API (`launchPartitionBackfill`):
            one run per partition, started by the daemon (`dagster dev` or `dagster-daemon run`)
            as the run queue allows (`run_queue.max_concurrent_runs` in dagster.yaml).
in-process  the release job runs here, one partition after the other, on the instance of
            $DAGSTER_HOME (the project's `.dagster_home` when unset); exit code 1 if any failed.
auto        (default) instance when a webserver answers at --url, else in-process.

In-process runs are tagged with this process (host, pid, start time). A run whose process was
killed (SIGKILL, power loss) stays "started" in the instance for ever, since nothing is left to
report its end: the next in-process backfill on the same host marks such runs failed, saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from personatwin.core.errors import MissingKeyError
from personatwin.core.processes import process_alive, process_start
from personatwin_dag.constants import ENV_NAME, JOB_NAME
from personatwin_dag.demo import setup_instance, setup_key

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_URL = "http://127.0.0.1:3000"
TAGS = {"personatwin/trigger": "personatwin-backfill"}
HOST_TAG, PID_TAG, PID_START_TAG = "personatwin/host", "personatwin/pid", "personatwin/pid-start"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

ASSET_NODES = "{ assetNodes { assetKey { path } jobNames } }"


class BackfillError(Exception):
    """Something the user can fix: an unknown period, an empty range, a server that refused."""


def partition_range(first: str, last: str) -> list[str]:
    """The partition keys from `first` to `last` inclusive, checked against the release partitions."""
    from assets.partitions import RELEASE_PARTITIONS  # imports dagster: the CLI loads it only when needed

    keys = RELEASE_PARTITIONS.get_partition_keys()
    for flag, key in (("--from", first), ("--to", last)):
        if key not in keys:
            raise BackfillError(f"{flag} {key!r} is not a release period: periods are {keys[0]} ... {keys[-1]} "
                                "(complete periods only, in the partition key format)")
    i, j = keys.index(first), keys.index(last)
    if i > j:
        raise BackfillError(f"--from {first} is after --to {last}")
    return keys[i:j + 1]


# -- through a running instance ---------------------------------------------------------------------------

def server_answers(url: str, timeout: float = 3.0) -> bool:
    """True when a Dagster webserver answers `GET <url>/server_info`."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/server_info", timeout=timeout) as resp:
            return "dagster_webserver_version" in json.load(resp)
    except (OSError, ValueError):
        return False


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """POST a GraphQL query to the webserver; its `data`, or BackfillError with the server's errors."""
    request = urllib.request.Request(f"{url.rstrip('/')}/graphql", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        raise BackfillError(
            f"{url}/graphql answered HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None
    except OSError as exc:
        raise BackfillError(f"{url}/graphql: {exc}") from None
    if body.get("errors"):
        raise BackfillError("GraphQL errors: " + "; ".join(e.get("message", "?") for e in body["errors"]))
    return body["data"]


def stage_asset_keys(url: str) -> list[list[str]]:
    """Asset key paths of every asset of the release job, as the server knows them (no local resources needed)."""
    nodes = graphql(url, ASSET_NODES)["assetNodes"]
    keys = sorted(n["assetKey"]["path"] for n in nodes if JOB_NAME in n["jobNames"])
    if not keys:
        raise BackfillError(f"the webserver at {url} has no {JOB_NAME}: is it serving this project's workspace.yaml?")
    return keys


def launch_backfill(url: str, keys: list[str]) -> str:
    """Launch an asset backfill of the stage assets over `keys`; returns the backfill id."""
    params = {"partitionNames": keys, "assetSelection": [{"path": p} for p in stage_asset_keys(url)],
              "title": f"personatwin-backfill {keys[0]} to {keys[-1]}",
              "tags": [{"key": k, "value": v} for k, v in TAGS.items()]}
    result = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"the webserver refused the backfill ({result['__typename']}): {result.get('message', '')}")
    return result["backfillId"]


def run_on_instance(url: str, keys: list[str]) -> int:
    backfill_id = launch_backfill(url, keys)
    base = url.rstrip("/")
    print(f"backfill {backfill_id} launched on {base}: {len(keys)} partition(s), {keys[0]} to {keys[-1]}, "
          "one run per partition, started by the daemon as the run queue allows")
    print(f"watch it: {base}/runs/b/{backfill_id}?tab=partitions")
    return 0


# -- in this process --------------------------------------------------------------------------------------

def failure_reason(result) -> str:
    """Step and root cause (first line) of the first step failure of an execute_in_process result."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause:
                error = error.cause
            return f"{event.step_key}: {error.message.strip().splitlines()[0]}"
    return "run failed"


def process_tags() -> dict[str, str]:
    """Tags naming the process that runs a partition in-process."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), PID_START_TAG: process_start(os.getpid()) or ""}


def mark_dead_runs_failed(instance) -> list[str]:
    """Mark failed the unfinished in-process backfill runs of this host whose process is gone;
    one line per run marked."""
    import dagster as dg  # CLI path: dagster loaded only when needed

    host = socket.gethostname()
    unfinished = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    lines = []
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=JOB_NAME, statuses=unfinished,
                                                       tags={**TAGS, HOST_TAG: host})):
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or process_alive(int(pid), run.tags.get(PID_START_TAG, "")):
            continue
        message = (f"the personatwin-backfill process that ran this run (pid {pid} on {host}) no longer exists: "
                   "it was killed or crashed before the run ended, so the run is marked failed")
        instance.report_run_failed(run, message=message)
        lines.append(f"run {run.run_id} ({run.tags.get('dagster/partition', '?')}) marked failed: its process "
                     f"(pid {pid}) no longer exists")
    return lines


def run_in_process(keys: list[str]) -> int:
    """Run the release job for each partition on the local instance; 1 if any partition failed."""
    # CLI path: dagster and the code location (which imports it) are loaded only for in-process runs
    import dagster as dg

    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for

    if not os.environ.get("DAGSTER_HOME"):
        setup_instance(PROJECT_DIR / ".dagster_home")
    if (os.environ.get(ENV_NAME) or "local").lower() == "local":
        print(setup_key(PROJECT_DIR))  # the demo's local key unless $PERSONATWIN_RELEASE_KEY is set
    resources = resources_for()  # read the environment now, not when definitions were first imported
    try:
        resources["release_key"].key()
    except MissingKeyError as exc:
        raise BackfillError(str(exc)) from None
    job = build_defs(resources).resolve_job_def(JOB_NAME)
    storage = resources["release_storage"]
    failed = 0
    print(f"running {JOB_NAME} in-process for {len(keys)} partition(s) on the instance in {os.environ['DAGSTER_HOME']}")
    with dg.DagsterInstance.get() as instance:
        for line in mark_dead_runs_failed(instance):
            print(line)
        tags = {**TAGS, **process_tags()}
        for key in keys:
            t0 = time.perf_counter()
            result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                            run_config=QUIET, tags=tags)
            seconds = time.perf_counter() - t0
            if result.success and resources["governance"].reviewed:  # staged: published after its approvals
                staged = resources["governance"].area().find(key)
                print(f"{key}  staged  {seconds:5.1f}s  waiting for disclosure review ({staged.staging_id}; "
                      f"personatwin-approve {key} --approver NAME)")
            elif result.success:
                print(f"{key}  ok      {seconds:5.1f}s  {series_line(storage, key)}  {storage.partition_location(key)}")
            else:
                failed += 1
                print(f"{key}  FAILED  {seconds:5.1f}s  no release: {failure_reason(result)} (run {result.run_id})")
    print(f"{len(keys) - failed} of {len(keys)} partition(s) "
          + ("staged for disclosure review" if resources["governance"].reviewed else "released"))
    print(series_summary(storage, keys))
    return 1 if failed else 0


def published_manifest(storage, key: str) -> dict | None:
    """The manifest of a partition's current release, read back from the release storage (None: none)."""
    from resources import fs  # dagster-free, but the CLI keeps its imports lazy

    path = fs.join(storage.partition_location(key), "manifest.json")
    if fs.is_url(path) or not fs.exists(path):
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def series_line(storage, key: str) -> str:
    """Version and series risk of a released partition, from its manifest."""
    m = published_manifest(storage, key)
    if not m:
        return ""
    s, metrics = m.get("series") or {}, m.get("metrics") or {}
    risk = metrics.get("series_risk")
    return (f"v{s.get('version', '?')}" + (f" (corrects v{s['supersedes']})" if s.get("supersedes") else "")
            + (f"  series risk {risk:.4f}" if risk is not None else ""))


def series_summary(storage, keys: list[str]) -> str:
    """The series risk at the end of a backfill: the largest over its periods, against the target."""
    figures = [(k, m["metrics"].get("series_risk"), m["policy"].get("target_risk"))
               for k in keys if (m := published_manifest(storage, k)) and m["metrics"].get("series_risk") is not None]
    if not figures:
        return "series risk: no released period of this range reports one"
    key, risk, target = max(figures, key=lambda f: f[1])
    return (f"series risk: largest {risk:.4f} ({key}; target {target}) over {len(figures)} released period(s); "
            f"last {figures[-1][0]} {figures[-1][1]:.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="personatwin-backfill", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--from", dest="first", required=True, metavar="PERIOD", help="first partition, e.g. 2024-01")
    ap.add_argument("--to", dest="last", required=True, metavar="PERIOD", help="last partition (inclusive)")
    ap.add_argument("--mode", choices=("auto", "instance", "in-process"), default="auto")
    ap.add_argument("--url", default=DEFAULT_URL, help=f"Dagster webserver (default {DEFAULT_URL})")
    args = ap.parse_args(argv)
    try:
        keys = partition_range(args.first, args.last)
        mode = args.mode
        if mode == "auto":
            mode = "instance" if server_answers(args.url) else "in-process"
            print(f"{'a Dagster webserver answers' if mode == 'instance' else 'no Dagster webserver'} at {args.url}: "
                  f"backfilling {'through it' if mode == 'instance' else 'in-process'}")
        if mode == "instance":
            if not server_answers(args.url):
                raise BackfillError(f"no Dagster webserver answers at {args.url}/server_info: start one with "
                                    "`dagster dev -w workspace.yaml`, or use --mode in-process")
            return run_on_instance(args.url, keys)
        return run_in_process(keys)
    except BackfillError as exc:
        print(f"personatwin-backfill: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
