"""Scale-out benchmark (issue 18 item 4): one protection pass single-process vs sharded, time per stage, peak memory.

    python benchmarks/scale_out.py --sizes 1000000 3000000
    python benchmarks/scale_out.py --sizes 100000 --modes single sharded-1

Each (size, mode) runs in its own process, on ``synth.generate("criminal_justice", n, seed=7)`` (about 10 events
per person) at privacy level HIGH with the default buckets (20,000 people each). Modes:

* ``single``: the single-process engine (``protect``: merge, noise, risk, utility in this process);
* ``sharded-1``: the same pass with the noise stage shard by shard in this process (``InProcess`` runner: one
  worker; 2 shards);
* ``sharded-2``: the noise stage on a local Dask distributed cluster of 2 worker processes (one thread each).

Per run: seconds per stage (prepare, merge, noise, risk, utility; the sharded noise also per phase and per shard),
peak RSS of the coordinator (this process) and of each Dask worker (``resource.getrusage`` run on the workers at
the end), the released events' digest and the figures' digest (every mode must give the same bytes). Results go
to benchmarks/results/scale_out.json. Sizes a mode cannot hold in memory are not run (the README says which).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
MODES = ("single", "sharded-1", "sharded-2")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_peak_mb() -> float:
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(n: int, mode: str) -> dict:
    """One protection pass at n people in one mode; returns seconds per stage, peak memory and digests."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import pandas as pd

    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.memory import reuse_freed_memory
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.protect.prepared import PassContext, prepare
    from personatwin.release.one_pass import protect
    from personatwin.scale.runners import DaskRunner, InProcess

    reuse_freed_memory()
    out: dict = {"people": n, "mode": mode, "seconds": {}}
    t = time.perf_counter()
    s = synth.generate("criminal_justice", n, seed=7)
    out["seconds"]["generate"] = time.perf_counter() - t
    out["events"] = len(s.events)
    t = time.perf_counter()
    data = prepare(s.people, s.events, get_domain("criminal_justice"))
    del s
    out["seconds"]["prepare"] = time.perf_counter() - t
    runner = None
    if mode == "sharded-1":
        runner = InProcess()
    elif mode == "sharded-2":
        t = time.perf_counter()
        runner = DaskRunner(n_workers=2)
        out["seconds"]["cluster_start"] = time.perf_counter() - t
    ctx = PassContext(data, policy_for_level("high"), ReleaseKey("scale-out-benchmark-key-000000001"), "2024-01",
                      runner=runner)
    out["buckets"] = ctx.n_buckets
    t = time.perf_counter()
    result = protect(ctx)
    out["seconds"]["pass"] = time.perf_counter() - t
    out["seconds"].update({k: round(v, 3) for k, v in result.timings.items()})
    if runner is not None:
        out["shards"] = runner.log.as_metadata()
    if isinstance(runner, DaskRunner):
        out["worker_peak_rss_mb"] = sorted(runner.client.run(_worker_peak_mb).values())
        runner.close()
    out["coordinator_peak_rss_mb"] = peak_rss_mb()
    out["events_digest"] = hashlib.sha256(pd.util.hash_pandas_object(result.events, index=False).values
                                          .tobytes()).hexdigest()[:16]
    figures = {k: v for k, v in result.figures().items() if isinstance(v, (int, float))}
    out["figures_digest"] = hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()[:16]
    out["release_risk"] = result.risk.release_risk
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--child", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(int(args.child[0]), args.child[1])))
        return
    runs = []
    for n in args.sizes:
        for mode in args.modes:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", str(n), mode], capture_output=True, text=True)
            if proc.returncode != 0:
                runs.append({"people": n, "mode": mode, "failed": proc.stderr.strip().splitlines()[-3:]})
            else:
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            runs[-1]["wall_seconds"] = round(time.perf_counter() - t, 1)
            print(json.dumps(runs[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": {"python": platform.python_version(), "cpu": platform.machine(),
                           "cores": __import__("os").cpu_count()},
               "date": time.strftime("%Y-%m-%d"), "runs": runs}
    path = RESULTS / "scale_out.json"
    if path.exists():  # keep other sizes' runs from earlier invocations
        old = json.loads(path.read_text())
        keep = [r for r in old.get("runs", []) if (r["people"], r["mode"]) not in {(x["people"], x["mode"])
                                                                                     for x in runs}]
        payload["runs"] = sorted(keep + runs, key=lambda r: (r["people"], MODES.index(r["mode"])))
    path.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
