"""Scale benchmark of the engine: time and peak memory per stage at several sizes.

    python benchmarks/engine_scale.py --sizes 10000 100000 1000000 --repeat 3

Each size runs in its own process (so peak memory is that size's alone) on the synthetic
criminal-justice generator (~10 events per person) at privacy level HIGH. Results go to
benchmarks/results/engine_scale.json and .md; the scaling exponent is the least-squares slope of
log(time) on log(people) across the sizes. With ``--repeat N`` every size runs N times (each in a
fresh process) and the table shows the median per stage, total and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("generate", "ingest", "validate", "prepare", "merge", "noise", "risk", "adjust", "export")
RESULTS = Path(__file__).with_name("results")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(n: int, level: str) -> dict:
    """Run every stage once at n people; returns seconds and peak RSS (MB) after each stage."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    # the engine is imported only in this measuring child process (the parent's memory stays out of the figures)
    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.memory import reuse_freed_memory
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.ingest.tables import load_input
    from personatwin.protect.prepared import PassContext, prepare
    from personatwin.publish.export import write_table
    from personatwin.release.auto_adjust import auto_adjust
    from personatwin.validate.validation import validate

    out: dict = {"people": n, "seconds": {}, "peak_rss_mb": {}}
    out["malloc_tuned"] = reuse_freed_memory()  # as create_safe_personas and the Dagster code location do

    def stage(name, t0):
        out["seconds"][name] = out["seconds"].get(name, 0.0) + time.perf_counter() - t0
        out["peak_rss_mb"][name] = peak_rss_mb()

    domain = get_domain("criminal_justice")
    t = time.perf_counter()
    data = synth.generate("criminal_justice", n, seed=11)
    stage("generate", t)
    out["events"] = len(data.events)
    t = time.perf_counter()
    ing = load_input(people=data.people, events=data.events, domain=domain)
    stage("ingest", t)
    del data
    t = time.perf_counter()
    checked = validate(ing.people, ing.events, domain)
    stage("validate", t)
    del ing
    t = time.perf_counter()
    prepared = prepare(checked.people, checked.events, domain)
    stage("prepare", t)
    del checked
    key = ReleaseKey(os.urandom(32).hex())
    t = time.perf_counter()
    chosen, history = auto_adjust(PassContext(prepared, policy_for_level(level), key, "bench"))
    loop = time.perf_counter() - t
    # per-stage time of the chosen pass, plus the whole loop (all iterations) as "adjust"
    for name, secs in chosen.timings.items():
        mapped = {"utility": "risk"}.get(name, name)
        out["seconds"][mapped] = out["seconds"].get(mapped, 0.0) + secs
    out["seconds"]["adjust"] = loop
    out["peak_rss_mb"]["adjust"] = peak_rss_mb()
    out["iterations"] = len(history)
    out["release_risk"] = chosen.risk.release_risk
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("parquet", "csv"):
            write_table(chosen.personas, Path(tmp) / f"personas.{fmt}", fmt)
            write_table(chosen.events, Path(tmp) / f"events.{fmt}", fmt)
    stage("export", t)
    out["total_seconds"] = sum(out["seconds"][s] for s in ("ingest", "validate", "prepare", "adjust", "export"))
    return out


def median_run(runs: list[dict]) -> dict:
    """One row from repeated runs of a size: the median of every stage, total and peak."""
    import statistics

    row = dict(runs[0])
    row["seconds"] = {s: statistics.median(r["seconds"][s] for r in runs) for s in runs[0]["seconds"]}
    row["peak_rss_mb"] = {s: statistics.median(r["peak_rss_mb"][s] for r in runs) for s in runs[0]["peak_rss_mb"]}
    row["total_seconds"] = statistics.median(r["total_seconds"] for r in runs)
    row["repeats"] = len(runs)
    row["total_seconds_each"] = [r["total_seconds"] for r in runs]
    row["iterations_each"] = [r["iterations"] for r in runs]
    return row


def slope(xs, ys) -> float:
    import numpy as np

    lx, ly = np.log(np.asarray(xs, float)), np.log(np.maximum(np.asarray(ys, float), 1e-4))
    return float(np.polyfit(lx, ly, 1)[0]) if len(xs) >= 2 else float("nan")


def markdown(rows: list[dict], machine: str) -> str:
    lines = [f"Engine scale benchmark ({machine}); seconds per stage (peak RSS MB after the stage); "
             "`adjust` is the whole privacy loop, merge/noise/risk the released pass inside it.", "",
             "| people | events | " + " | ".join(STAGES)
             + " | engine total | runs (each total, s) | iterations | peak RSS |",
             "|---" * (len(STAGES) + 6) + "|"]
    for r in rows:
        cells = [f"{r['seconds'].get(s, float('nan')):.2f}" for s in STAGES]
        lines.append(f"| {r['people']:,} | {r['events']:,} | " + " | ".join(cells) +
                     f" | {r['total_seconds']:.1f} | {r.get('repeats', 1)} ("
                     + ", ".join(f"{t:.1f}" for t in r.get("total_seconds_each", [r["total_seconds"]])) + ")"
                     f" | {r['iterations']} | {max(r['peak_rss_mb'].values()):,.0f} MB |")
    if len(rows) >= 2:
        ex = {s: slope([r["people"] for r in rows], [r["seconds"].get(s, 0) for r in rows]) for s in STAGES}
        lines.append("| scaling exponent | | " + " | ".join(f"{ex[s]:.2f}" for s in STAGES) + " | | | | |")
    lines.append("")
    lines.append("Engine total = ingest + validate + prepare + adjust + export (generation excluded); "
                 "each cell is the median over the runs.")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--level", default="high")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size; the table shows medians")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.level)))
        return 0
    rows = []
    for n in args.sizes:
        runs = []
        for _ in range(args.repeat):
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--level", args.level],
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{n:,} people: {runs[-1]['total_seconds']:.1f}s engine, "
                  f"peak {max(runs[-1]['peak_rss_mb'].values()):,.0f} MB", flush=True)
        rows.append(median_run(runs))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine_scale.json").write_text(json.dumps({"machine": machine, "level": args.level, "runs": rows},
                                                          indent=1))
    md = markdown(rows, machine)
    (RESULTS / "engine_scale.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
