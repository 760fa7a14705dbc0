"""Dagster overhead for one partition: the release job vs the same engine calls without Dagster.

    python benchmarks/dagster_overhead.py --people 20000 --levels medium high

Both runs read the same sample partition (2024-02), after one warm-up run each (imports, the
Great Expectations import and the first GX context are paid once per process, not per partition).
Overhead = median job wall time - median engine wall time; the target (DESIGN §8) is <= 2 s.
The engine run makes the same release call as the ``release`` asset: at high it includes the
Anonymeter evaluation (seconds, and the same in both), at medium there is none.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
RESULTS = Path(__file__).with_name("results")
PARTITION = "2024-02"


def engine_once(source: Path, out: Path) -> float:
    """ingest -> validate -> privacy loop -> release folder, as the assets do, without Dagster."""
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    import pandas as pd

    from assets.step_cache import CACHE
    from personatwin.core.keys import ReleaseKey
    from personatwin.protect.prepared import PassContext
    from personatwin.publish.export import write_release_folder
    from personatwin.release.release import make_release_from_prepared
    from personatwin.validate.validation import validate
    from personatwin_dag.environments import resources_for

    t0 = time.perf_counter()
    res = resources_for("ci")
    src = res["source"]
    start, end = pd.Timestamp(f"{PARTITION}-01"), pd.Timestamp(f"{PARTITION}-01") + pd.offsets.MonthBegin(1)
    ing = src.read_partition(PARTITION, start, end).ingested
    checked = validate(ing.people, ing.events, src.get_domain(), as_of=end - pd.Timedelta(seconds=1))
    data = CACHE.prepared(checked.people, checked.events, src.get_domain())
    pol = res["policy"].policy()
    result = make_release_from_prepared(PassContext(data, pol, ReleaseKey.from_env(), PARTITION),
                                        max_iterations=res["policy"].max_iterations,
                                        anonymeter=pol.anonymeter_max_risk is not None)
    write_release_folder(result.tables(), out, partition=PARTITION)
    return time.perf_counter() - t0


def job_once(defs, instance) -> float:
    t0 = time.perf_counter()
    result = defs.resolve_job_def("release_job").execute_in_process(
        partition_key=PARTITION, instance=instance, raise_on_error=True,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    assert result.success
    return time.perf_counter() - t0


def measure(level: str, people: int, repeats: int, tmp: Path) -> dict:
    """Median job and engine wall times for one privacy level, each after a warm-up run."""
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    import dagster as dg

    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for

    os.environ["PERSONATWIN_PRIVACY_LEVEL"] = level
    (tmp / "home").mkdir(exist_ok=True)
    os.environ.update({"PERSONATWIN_SOURCE": str(tmp / "source"),
                       "PERSONATWIN_RELEASES": str(tmp / f"releases-{level}"),
                       "PERSONATWIN_ASSET_STORE": str(tmp / f"assets-{level}"), "DAGSTER_HOME": str(tmp / "home"),
                       "PERSONATWIN_ENV": "ci"})
    defs = build_defs(resources_for("ci"))
    with dg.DagsterInstance.get() as instance:
        job_once(defs, instance)  # warm-up
        engine_once(tmp / "source", tmp / f"engine_out-{level}")
        jobs, engines = [], []
        for i in range(repeats):  # alternate, so a change in machine load hits both alike
            jobs.append(job_once(defs, instance))
            engines.append(engine_once(tmp / "source", tmp / f"engine_out-{level}{i}"))
    return {"level": level, "job_seconds": jobs, "engine_seconds": engines,
            "job_median": statistics.median(jobs), "engine_median": statistics.median(engines),
            "overhead_seconds": statistics.median(jobs) - statistics.median(engines)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--levels", nargs="+", default=["medium", "high"])
    args = ap.parse_args()
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    from personatwin_dag.demo import DAGSTER_YAML, write_sample

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_sample(tmp / "source", args.people, ["2024-01", "2024-02", "2024-03"])
        (tmp / "home").mkdir()
        (tmp / "home" / "dagster.yaml").write_text(DAGSTER_YAML)
        # A fixed benchmark key: the timing must not depend on whether a random key's release happens
        # to miss a utility gate (a refused run ends early). These releases are thrown away.
        os.environ.setdefault("PERSONATWIN_RELEASE_KEY", hashlib.sha256(b"personatwin-dagster-overhead").hexdigest())
        rows = [measure(level, args.people, args.repeats, tmp) for level in args.levels]
    out = {"people_in_sample": args.people, "partition": PARTITION, "repeats": args.repeats, "levels": rows,
           "overhead_seconds_max": max(r["overhead_seconds"] for r in rows)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dagster_overhead.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
