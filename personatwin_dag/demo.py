"""The main job on the embedded sample data: the Dagster release pipeline over monthly partitions.

    python -m personatwin_dag.demo            # (scripts/demo does set-up first)

Sets up a local Dagster instance inside the project (``.dagster_home``: SQLite, telemetry off,
run queue limit), writes the sample data to ``data/sample`` (people + one events file per month),
runs the release job for each partition on that instance, and prints a table per partition.
``dagster dev`` afterwards shows the same history in the UI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""


def setup_instance(home: Path) -> None:
    """A local Dagster home (SQLite storage by default) with telemetry off and a run queue limit."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists() or cfg.read_text() != DAGSTER_YAML:
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)


def setup_key(project: Path) -> str:
    """Use $PERSONATWIN_RELEASE_KEY, else a local demo key kept in .personatwin/demo.key (exported
    to the environment so the pipeline's key resource finds it); returns a note saying which."""
    # the engine (pandas, numpy, ...) is loaded on use: importing this module (backfill, benchmarks) stays light
    from personatwin.core.keys import DEMO_KEY_FILE, KEY_ENV, demo_key

    _, note = demo_key(project)
    if not os.environ.get(KEY_ENV):
        os.environ[KEY_ENV] = (project / DEMO_KEY_FILE).read_text(encoding="utf-8").strip()
    return note


def write_sample(folder: Path, people: int, months: list[str], seed: int = 7) -> tuple[int, int]:
    """Sample criminal-justice data: people.parquet and events/<YYYY-MM>.parquet per month."""
    import pandas as pd  # loaded on use, like the engine (see setup_key)

    from personatwin.ingest import synth

    start = pd.Period(months[0], "M").start_time
    end = pd.Period(months[-1], "M").end_time.normalize()
    data = synth.generate("criminal_justice", people, start=str(start.date()), end=str(end.date()), seed=seed)
    (folder / "events").mkdir(parents=True, exist_ok=True)
    for old in (folder / "events").glob("*.parquet"):  # the sample is rewritten whole
        old.unlink()
    data.people.to_parquet(folder / "people.parquet", index=False)
    month = data.events["event_date"].dt.to_period("M").astype(str)
    for key, part in data.events.groupby(month, sort=True):  # one file per month (a handful of groups)
        target = folder / "events" / f"{key}.parquet"
        part.reset_index(drop=True).to_parquet(target, index=False)
    return len(data.people), len(data.events)


DEMO_REVIEWERS = ("demo-reviewer-1", "demo-reviewer-2")  # the demo signs off itself; people use personatwin-approve


def run_partitions(keys: list[str]) -> list[dict]:
    """Run the release job for each partition on the local instance, then its disclosure review (two demo
    reviewers approve the staged release) and the publish job; one row per partition."""
    import dagster as dg  # dagster and the code location are loaded only when the job runs

    from personatwin_dag.definitions import defs

    job, publish = defs.resolve_job_def("release_job"), defs.resolve_job_def("publish_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    rows = []
    with dg.DagsterInstance.get() as instance:
        for key in keys:
            t0 = time.perf_counter()
            result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                            run_config=quiet)
            review = "-"
            if result.success and defs.resources["governance"].reviewed:
                review = demo_review(defs.resources["governance"], key)
                result = publish.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                                    run_config=quiet)
            rows.append({"partition": key, "success": result.success, "seconds": time.perf_counter() - t0,
                         "run_id": result.run_id, "review": review})
    return rows


def demo_review(governance, period: str) -> str:
    """The demo's disclosure review of a period's latest staging: each demo reviewer approves it."""
    staged = governance.area().find(period)
    log, policy = governance.log(), governance.policy()
    review = log.review(staged.staging(), policy)
    for reviewer in DEMO_REVIEWERS:
        if reviewer in review.approvers:  # a rerun of the demo: this staging was approved by the last run
            continue
        review = log.decide(staged.staging(), reviewer, "approve", policy=policy,
                            comment="demo: approved by the demo script")
    return review.state


def release_row(releases: Path, row: dict, internal: Path | None = None) -> dict:
    """One line of the demo's table: published figures from the manifest, utility ones (information loss,
    outcome TVD) from the internal figures (never published)."""
    manifest_path = releases / row["partition"] / "manifest.json"
    if not row["success"] or not manifest_path.exists():
        return {**row, "people": "-", "personas": "-", "k": "-", "risk": "-", "series": "-", "loss": "-",
                "path": "no release"}
    met = json.loads(manifest_path.read_text())["metrics"]
    figures_path = (internal or releases.parent / "internal") / row["partition"] / "internal_figures.json"
    util = json.loads(figures_path.read_text())["metrics"] if figures_path.exists() else {}
    loss, tvd = util.get("information_loss"), util.get("tvd_outcome")
    return {**row, "people": int(met["n_people"]), "personas": int(met["n_personas"]), "k": int(met["k_anonymity"]),
            "risk": f"{met['release_risk']:.4f}",
            "series": "-" if met.get("series_risk") is None else f"{met['series_risk']:.4f}",
            "loss": "-" if loss is None else f"{loss:.1f}",
            "tvd": "-" if tvd is None else f"{tvd:.4f}", "path": str(manifest_path.parent)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the PersonaTwin release pipeline on the sample data.")
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--months", nargs="+", default=["2024-01", "2024-02", "2024-03"])
    args = ap.parse_args(argv)
    os.chdir(PROJECT_DIR)
    setup_instance(PROJECT_DIR / ".dagster_home")
    print(setup_key(PROJECT_DIR))
    sample = PROJECT_DIR / "data" / "sample"
    n_people, n_events = write_sample(sample, args.people, args.months)
    print(f"sample data: {n_people:,} people, {n_events:,} events in {sample} (one events file per month)")
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}; running release_job for {', '.join(args.months)} ...")
    t0 = time.perf_counter()
    rows = [release_row(PROJECT_DIR / "releases", r) for r in run_partitions(args.months)]
    header = f"{'partition':10s} {'status':8s} {'people':>7s} {'personas':>8s} {'k':>4s} {'risk':>7s} {'series':>7s} " \
             f"{'loss %':>6s} {'rate TVD':>8s} {'secs':>5s}  release"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['partition']:10s} {'ok' if r['success'] else 'FAILED':8s} {str(r['people']):>7s} "
              f"{str(r['personas']):>8s} {str(r['k']):>4s} {str(r['risk']):>7s} {str(r.get('series', '-')):>7s} "
              f"{str(r['loss']):>6s} "
              f"{str(r.get('tvd', '-')):>8s} {r['seconds']:5.1f}  {r['path']}")
    for r in rows:
        if r.get("review", "-") != "-":
            print(f"{r['partition']}: disclosure review {r['review']} (demo reviewers; people sign off with "
                  "personatwin-approve)")
    print(f"\n{len(rows)} partition(s) in {time.perf_counter() - t0:.1f}s. See the history in the UI: "
          f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} .venv/bin/dagster dev  (http://127.0.0.1:3000)")
    return 0 if all(r["success"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
