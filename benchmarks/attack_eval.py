"""Attack evaluation benchmark (issue 14): the sampled engine against stock Anonymeter, time and peak memory.

    python benchmarks/attack_eval.py                       # sampled at 100k and 1M, stock at 30k and 100k
    python benchmarks/attack_eval.py --sampled 100000 --stock 30000

Each (engine, size) runs in its own process on the synthetic criminal-justice generator (~10 events per
person) at privacy level HIGH: the data is generated, validated and prepared first (not timed), then
``anonymeter_eval.evaluate_prepared`` is timed. ``flatten`` is the evaluation release and the tables (linear in
the partition, as the release itself), ``attacks`` the three attacks. Peak memory is the process's peak RSS
after the evaluation (``rss_before_mb``: after the data was prepared). Results go to
benchmarks/results/attack_eval.json; the runs of an engine and size not repeated keep their earlier figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(n: int, engine: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.memory import reuse_freed_memory
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.measure import anonymeter_eval as ae
    from personatwin.protect.prepared import PassContext, prepare
    from personatwin.validate.validation import validate

    reuse_freed_memory()  # as the Dagster code location and create_safe_personas do
    domain = get_domain("criminal_justice")
    data = synth.generate("criminal_justice", n, seed=11)
    events = len(data.events)
    checked = validate(data.people, data.events, domain)
    del data
    prepared = prepare(checked.people, checked.events, domain)
    del checked
    before = peak_rss_mb()
    ctx = PassContext(prepared, policy_for_level("high"), ReleaseKey(os.urandom(32).hex()), "bench")
    t = time.perf_counter()
    ev = ae.evaluate_prepared(ctx, ae.AnonymeterOptions(engine=engine))
    seconds = time.perf_counter() - t
    return {"engine": engine, "people": n, "events": events, "seconds": seconds,
            "stage_seconds": ev.attack_seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
            "work": ev.work, "n_control": ev.n_control,
            "risks": {a: {"risk": ev.headline(a).risk, "ci_low": ev.headline(a).ci_low,
                          "ci_high": ev.headline(a).ci_high} for a in ae.ATTACKS}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sampled", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--stock", type=int, nargs="*", default=[30_000, 100_000])
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one[1]), args.one[0])))
        return 0
    rows = []
    for engine, sizes in (("sampled", args.sampled), ("anonymeter", args.stock)):
        for n in sizes:
            proc = subprocess.run([sys.executable, __file__, "--one", engine, str(n)], capture_output=True, text=True,
                                  check=True)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{engine:10s} {n:>9,} people: {r['seconds']:.1f} s {r['stage_seconds']}, "
                  f"peak {r['peak_rss_mb']:,.0f} MB (data {r['rss_before_mb']:,.0f} MB)", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "attack_eval.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    rerun = {(r["engine"], r["people"]) for r in rows}  # runs not repeated now stay as they were measured
    kept = [r for r in earlier.get("runs", []) if (r["engine"], r["people"]) not in rerun]
    out = {"machine": machine, "level": "high", "runs": rows + kept,
           **({"notes": earlier["notes"]} if "notes" in earlier else {})}
    path.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
