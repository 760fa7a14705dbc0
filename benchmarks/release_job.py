"""The default release path at scale: the Dagster ``release_job`` for one partition at privacy level high.

    python benchmarks/release_job.py --sizes 100000 1000000

What a user runs: every stage asset (ingest, validate, merge, noise, risk assessment, the privacy loop with
the attack evaluation at high, research validation, series checks, export) for one monthly partition of
generated criminal-justice data (~10 events per person, all dated in the month), on a fresh SQLite Dagster
instance. Each size runs in its own process, so its peak memory (RSS of the whole in-process run) is its
own. Per-stage seconds come from the release's manifest (``timings``, issue 14). The rest of the job's wall
time is split into the asset store's writes and reads (Parquet of every intermediate table, timed in the IO
manager), the checks run inside the steps (GX suites, manifest hashes), and Dagster's own overhead: the
job's wall time minus the durations of its steps (events, run storage, step orchestration). Results go to
benchmarks/results/release_job.json and .md, with scaling exponents (log-log slope) per stage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
PARTITION = "2024-02"
STAGE_ASSETS = ("source_events", "valid_people", "personas", "protected_events", "risk_assessment", "release",
                "release_files")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(n: int, level: str, tmp: Path) -> dict:
    """Generate one month of n people, run the release job for it once, and read back where the time went."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    t = time.perf_counter()
    from personatwin.ingest import synth

    data = synth.generate("criminal_justice", n, start=f"{PARTITION}-01", end=f"{PARTITION}-28", seed=11)
    source = tmp / "source"
    (source / "events").mkdir(parents=True)
    data.people.to_parquet(source / "people.parquet", index=False)
    data.events.to_parquet(source / "events" / f"{PARTITION}.parquet", index=False)
    n_events = len(data.events)
    del data
    generate = time.perf_counter() - t
    rss_before = peak_rss_mb()

    import dagster as dg

    from personatwin_dag.definitions import build_defs
    from personatwin_dag.demo import DAGSTER_YAML
    from personatwin_dag.environments import resources_for

    (tmp / "home").mkdir()
    (tmp / "home" / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ.update({"PERSONATWIN_PRIVACY_LEVEL": level, "PERSONATWIN_SOURCE": str(source),
                       "PERSONATWIN_RELEASES": str(tmp / "releases"), "PERSONATWIN_INTERNAL": str(tmp / "internal"),
                       "PERSONATWIN_SERIES": str(tmp / "series"), "PERSONATWIN_ASSET_STORE": str(tmp / "assets"),
                       "DAGSTER_HOME": str(tmp / "home"), "PERSONATWIN_ENV": "ci"})
    # a fixed benchmark key: the timing must not depend on whether a random key's release misses a gate
    os.environ.setdefault("PERSONATWIN_RELEASE_KEY", hashlib.sha256(b"personatwin-release-job-bench").hexdigest())
    defs = build_defs(resources_for("ci"))
    with dg.DagsterInstance.get() as instance:
        t = time.perf_counter()
        result = defs.resolve_job_def("release_job").execute_in_process(
            partition_key=PARTITION, instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
        job = time.perf_counter() - t
        from resources.io_manager import STORE_SECONDS

        steps = sum(e.dagster_event.event_specific_data.duration_ms / 1000.0
                    for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS))
        own = {}
        for asset in STAGE_ASSETS:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            meta = event.asset_materialization.metadata if event is not None else {}
            if "seconds" in meta:
                own[asset] = float(meta["seconds"].value)
    manifest_path = tmp / "releases" / PARTITION / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return {"people": n, "events": n_events, "level": level, "success": bool(result.success),
            "generate_seconds": generate, "job_seconds": job, "asset_seconds": own,
            "dagster_overhead_seconds": job - sum(own.values()),
            # the job's wall time apart: stage compute (``asset_seconds``), the asset store's writes and reads,
            # the checks run in the steps, and Dagster itself (job minus its steps' durations)
            "store_write_seconds": STORE_SECONDS["write"], "store_read_seconds": STORE_SECONDS["read"],
            "checks_and_step_seconds": steps - sum(own.values()) - STORE_SECONDS["write"] - STORE_SECONDS["read"],
            "dagster_framework_seconds": job - steps, "timings": manifest.get("timings", {}),
            "k": manifest.get("policy", {}).get("k"), "iterations": len(manifest.get("history", [])),
            "rss_before_job_mb": rss_before, "peak_rss_mb": peak_rss_mb()}


def exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


def table(rows: list[dict]) -> str:
    stages = sorted({s for r in rows for s in r["timings"] if not s.startswith("pass_")}
                    | ({"loop passes"} if any(k.startswith("pass_") for r in rows for k in r["timings"]) else set()))

    def stage(r: dict, s: str) -> float:
        t = r["timings"]
        return sum(v for k, v in t.items() if k.startswith("pass_")) if s == "loop passes" else t.get(s, float("nan"))

    head = ["people", "events", "job (s)", "Dagster framework (s)", "store write (s)", "store read (s)",
            "checks (s)", *stages, "peak RSS (MB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([f"{r['people']:,}", f"{r['events']:,}", f"{r['job_seconds']:.1f}",
                                        f"{r['dagster_framework_seconds']:.2f}", f"{r['store_write_seconds']:.2f}",
                                        f"{r['store_read_seconds']:.2f}", f"{r['checks_and_step_seconds']:.2f}",
                                        *(f"{stage(r, s):.2f}" for s in stages), f"{r['peak_rss_mb']:,.0f}"]) + " |")
    if len(rows) > 1:
        xs = [r["people"] for r in rows]
        exps = [exponent(xs, [stage(r, s) for r in rows]) for s in stages]
        job_exp = exponent(xs, [r["job_seconds"] for r in rows])
        lines.append("| scaling exponent | | " + (f"{job_exp:.2f}" if job_exp is not None else "") + " | | | | | "
                     + " | ".join(f"{e:.2f}" if e is not None else "" for e in exps) + " | |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--level", default="high")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_one(args.child, args.level, Path(tmp))))
        return 0
    rows = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--level", args.level],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1], indent=1), flush=True)
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "partition": PARTITION, "level": args.level, "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "release_job.json").write_text(json.dumps(out, indent=1))
    md = (f"Release job benchmark ({out['machine']}): one partition through the Dagster `release_job` at "
          f"{args.level}, seconds per stage from the manifest's timings.\n\n" + table(rows) + "\n")
    (RESULTS / "release_job.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
