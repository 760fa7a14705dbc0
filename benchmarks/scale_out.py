"""Scale-out benchmark (issue 18 item 4): one protection pass single-process vs sharded, time per stage, peak memory.

    python benchmarks/scale_out.py --sizes 1000000 3000000
    python benchmarks/scale_out.py --sizes 10000000 --parts-dir /tmp/parts     # out of core; parts kept for reruns
    python benchmarks/scale_out.py --sizes 100000 --modes single sharded-1

Each (size, mode) runs in its own process, on ``synth.generate("criminal_justice", n, seed=7)`` (about 10 events
per person) at privacy level HIGH with the default buckets (20,000 people each). Modes:

* ``single``: the single-process engine (merge, noise, risk, utility in this process), then its events table
  written to Parquet as the export writes it;
* ``sharded-1``: the same pass on shards (``personatwin.scale.release.sharded_pass``: the coordinator holds
  people-level arrays only; each shard sorts, writes its rows and answers the attacks; the events file is merged
  from the shards' rows) in this process (``InProcess`` runner: one worker, shards in sequence; a shard per
  ``--shard-people`` people, at least 2; out of core when the data are: the shards' events and every phase's
  results memory-mapped from files);
* ``sharded-2t``: the same in this process with the shards' phases on 2 threads (``InProcess(threads=2)``);
* ``sharded-2``: the same on a local Dask distributed cluster of 2 worker processes (one thread each).

Per run: seconds per stage (prepare, merge, noise, risk, utility, write; the sharded stages also per phase and
per shard),
the coordinator's (this process's) peak RSS and peak anonymous memory, overall and per stage (``RssAnon`` sampled
every 50 ms: with memory-mapped events, RSS also counts the files' pages in the page cache, which the kernel drops
under pressure; anonymous memory is what must fit), the peak RSS of each Dask worker (``resource.getrusage`` run on
the workers at the end), the released events' digest and the figures' digest (every mode must give the same
bytes: the events digest is taken over the written Parquet file, read back batch by batch). Results go to
benchmarks/results/scale_out.json.

Sizes of ``--parts-from`` people and more (default 5M) are generated once, before the runs, in parts of 1M people
(seeds 7, 8, ...; person ids prefixed by the part) written as Parquet files, and each run reads them part by part
(``prepare_parts`` with ``spill``: the events memory-mapped from .npy files): the raw strings of 100M events (about
8 GB as a frame, 19 GB while generated) never sit in one process, nor do the events' arrays in its anonymous memory.
Their data differ from ``generate(n, seed=7)``'s, so their rows compare with each other only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
MODES = ("single", "sharded-1", "sharded-2t", "sharded-2")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class AnonPeak:
    """Peak anonymous memory of this process (RssAnon sampled every 50 ms): with memory-mapped events, peak RSS
    also counts the file's pages in the page cache, which the kernel drops under pressure; this is what must fit."""

    def __init__(self) -> None:
        import threading

        self.peak = self.overall = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mb() -> float:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.now_mb())

    def lap(self) -> float:
        """The peak since the last lap (the high water of the heap: freed memory stays with the process)."""
        peak, self.peak = max(self.peak, self.now_mb()), 0
        self.overall = max(self.overall, peak)
        return round(peak, 1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.overall, self.peak, self.now_mb())


def _worker_peak_mb() -> float:
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024.0


PART_PEOPLE = 1_000_000


def write_parts(n: int, folder: Path) -> int:
    """The synthetic population of n people as Parquet parts of ``PART_PEOPLE`` (people-i, events-i); events."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from personatwin.core.schema import PERSON_ID
    from personatwin.ingest import synth

    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, lo in enumerate(range(0, n, PART_PEOPLE)):
        s = synth.generate("criminal_justice", min(PART_PEOPLE, n - lo), seed=7 + i)
        for frame, name in ((s.people, "people"), (s.events, "events")):
            frame[PERSON_ID] = f"Q{i:04d}" + frame[PERSON_ID]
            frame.to_parquet(folder / f"{name}-{i:04d}.parquet", index=False)
        total += len(s.events)
    return total


class _Kept:
    """A parts folder kept between invocations (``--parts-dir``): the runs' interface of TemporaryDirectory."""

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, str(path)

    def cleanup(self) -> None:
        for spill in self.path.glob("spill-*"):
            __import__("shutil").rmtree(spill)


def read_parts(folder: Path):
    """(people, events) of each part in order, one part in memory at a time."""
    import pandas as pd

    for path in sorted(folder.glob("people-*.parquet")):
        yield pd.read_parquet(path), pd.read_parquet(path.with_name(path.name.replace("people-", "events-")))


def file_digest(path: Path) -> str:
    """Digest of an events Parquet file's rows (pandas' row hashes, batch by batch: no whole frame in memory)."""
    import pandas as pd
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1_000_000):
        h.update(pd.util.hash_pandas_object(batch.to_pandas(), index=False).values.tobytes())
    return h.hexdigest()[:16]


def run_one(n: int, mode: str, parts: Path | None = None, shard_people: int = 1_000_000) -> dict:
    """One protection pass at n people in one mode; returns seconds per stage, peak memory and digests."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.memory import reuse_freed_memory
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.measure.assess import StageClock
    from personatwin.protect.prepared import PassContext, prepare, prepare_parts
    from personatwin.protect.stages import merge_stage
    from personatwin.release.one_pass import noise_of, protection_of
    from personatwin.scale.release import sharded_pass
    from personatwin.scale.runners import DaskRunner, InProcess

    reuse_freed_memory()
    anon = AnonPeak()
    out: dict = {"people": n, "mode": mode, "seconds": {}}
    runner = None
    if mode == "sharded-2":  # started first: a worker forked from a large process would report its peak as its own
        t = time.perf_counter()
        runner = DaskRunner(n_workers=2)
        out["seconds"]["cluster_start"] = time.perf_counter() - t
    work = Path(tempfile.mkdtemp(prefix=f"scale-out-{mode}-", dir=parts))  # spill, shard rows, events file
    if parts is None:
        t = time.perf_counter()
        s = synth.generate("criminal_justice", n, seed=7)
        out["seconds"]["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        data = prepare(s.people, s.events, get_domain("criminal_justice"))
        del s
    else:
        t = time.perf_counter()
        # out of core: the events memory-mapped from files (kept until the process ends)
        data = prepare_parts(read_parts(parts), get_domain("criminal_justice"), spill=work / "data")
        out["parts"] = len(list(parts.glob("people-*.parquet")))
    out["events"] = data.n_events
    out["seconds"]["prepare"] = time.perf_counter() - t
    out["prepared_peak_rss_mb"] = peak_rss_mb()
    if mode in ("sharded-1", "sharded-2t"):  # out of core when the data are: shards' events and states on disk
        runner = InProcess(spill=work / "shards" if parts is not None else None, threads=2 if mode == "sharded-2t"
                           else 1)
    ctx = PassContext(data, policy_for_level("high"), ReleaseKey("scale-out-benchmark-key-000000001"), "2024-01")
    out["buckets"] = ctx.n_buckets
    events_path = work / "events.parquet"
    t = time.perf_counter()
    out["stage_peak_anon_mb"] = {"prepare": anon.lap()}
    clock = StageClock()  # the pass stage by stage, to read each stage's memory high water
    merged = merge_stage(ctx)
    clock.lap("merge")
    out["stage_peak_anon_mb"]["merge"] = anon.lap()
    if runner is None:
        noised = noise_of(ctx, merged)
        clock.lap("noise")
        out["stage_peak_anon_mb"]["noise"] = anon.lap()
        result = protection_of(ctx, merged, noised, clock)
        out["stage_peak_anon_mb"]["risk + utility"] = anon.lap()
        del noised
        result.events.to_parquet(events_path, index=False)  # as the export writes it
        clock.lap("write")
        out["stage_peak_anon_mb"]["write"] = anon.lap()
        timings, figures_of, risk_of = clock.laps, result.figures(), result.risk.release_risk
        del result
    else:
        n_shards = max(2, -(-n // shard_people))
        out["shards_n"] = n_shards
        lean = sharded_pass(ctx, merged, work / "rows", runner, n_shards=n_shards, events_path=events_path,
                            on_stage=lambda name: out["stage_peak_anon_mb"].__setitem__(name, anon.lap()))
        timings = {"merge": clock.laps["merge"], **lean.timings}
        figures_of, risk_of = lean.figures(), lean.risk.release_risk
    out["seconds"]["pass"] = time.perf_counter() - t
    out["seconds"].update({k: round(v, 3) for k, v in timings.items()})
    if runner is not None:
        out["shards"] = runner.log.as_metadata()
    if isinstance(runner, DaskRunner):
        out["worker_peak_rss_mb"] = sorted(runner.client.run(_worker_peak_mb).values())
    if runner is not None:
        runner.close()
    out["coordinator_peak_rss_mb"] = peak_rss_mb()
    out["coordinator_peak_anon_mb"] = round(anon.stop(), 1)
    out["events_file_mb"] = round(events_path.stat().st_size / 2**20, 1)
    out["events_digest"] = file_digest(events_path)
    figures = {k: v for k, v in figures_of.items() if isinstance(v, (int, float))}
    out["figures_digest"] = hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()[:16]
    out["release_risk"] = risk_of
    shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--parts-from", type=int, default=5_000_000, help="people from which data are read in parts")
    ap.add_argument("--parts-dir", type=Path, help="keep the parts here (per size) and reuse them in later runs")
    ap.add_argument("--shard-people", type=int, default=1_000_000, help="people per shard of the sharded modes")
    ap.add_argument("--child", nargs=3, metavar=("N", "MODE", "PARTS"), help=argparse.SUPPRESS)
    ap.add_argument("--write", nargs=2, metavar=("N", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write:
        print(write_parts(int(args.write[0]), Path(args.write[1])))
        return
    if args.child:
        parts = Path(args.child[2]) if args.child[2] else None
        print(json.dumps(run_one(int(args.child[0]), args.child[1], parts, args.shard_people)))
        return
    runs = []
    for n in args.sizes:
        tmp = tempfile.TemporaryDirectory(prefix="scale-out-parts-") if n >= args.parts_from else None
        written: dict = {}
        if tmp is not None and args.parts_dir is not None:  # parts written by an earlier invocation, kept
            tmp.cleanup()
            tmp = _Kept(args.parts_dir / str(n))
            if not tmp.path.exists():
                write_parts(n, tmp.path)
        elif tmp is not None:
            t = time.perf_counter()
            # in its own process: the generator's memory is not held beside the runs
            proc = subprocess.run([sys.executable, __file__, "--write", str(n), tmp.name], capture_output=True,
                                  text=True, check=True)
            written = {"parts_events": int(proc.stdout.split()[-1]), "parts_written_seconds":
                       round(time.perf_counter() - t, 1)}
        for mode in args.modes:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", str(n), mode, tmp.name if tmp else "",
                                   "--shard-people", str(args.shard_people)], capture_output=True, text=True)
            if proc.returncode != 0:
                runs.append({"people": n, "mode": mode, "failed": proc.stderr.strip().splitlines()[-3:]})
            else:
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            runs[-1]["wall_seconds"] = round(time.perf_counter() - t, 1)
            runs[-1].update(written)
            print(json.dumps(runs[-1]), flush=True)
        if tmp is not None:
            tmp.cleanup()
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
