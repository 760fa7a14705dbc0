"""SQL source benchmark (issue 16): read time per partition from PostgreSQL vs the Parquet file source.

    python benchmarks/sql_source.py                      # 100k people, ~1M events over the 12 months of 2024
    python benchmarks/sql_source.py --people 100000 1000000

For each size the synthetic criminal-justice generator writes people.parquet + events/<YYYY-MM>.parquet (as the
demo's sample), and the same rows are loaded by COPY into a fresh PostgreSQL database on 127.0.0.1:5432 (user
postgres, trust auth, default settings; events in date order, as a live system appends them; indexes on
events.event_date and people.person_id, then VACUUM ANALYZE), dropped after. Then each reader runs in its own
process and reads every month through its resource's ``read_partition`` (what the ingest asset calls: the slice,
then ``load_input``): ``parquet`` (SourceResource), ``sql_copy`` (SqlSourceResource, COPY TO STDOUT parsed by
pyarrow, the default with psycopg2) and ``sql_read_sql`` (``fast_path=False``: rows through SQLAlchemy and
``pd.read_sql``, as with any other driver). Per month: seconds, of which ``read`` (file read / database fetch) and
the rest ingest, rows of events and people; the medians leave out the first month (one-off imports). Peak memory
is the reader process's peak RSS (``rss_before_mb``: after imports). Results go to
benchmarks/results/sql_source.json; sizes not run again keep their earlier figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
READERS = ("parquet", "sql_copy", "sql_read_sql")
ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB: VmHWM, which starts afresh at exec (``ru_maxrss`` keeps
    the parent's peak across fork and exec, and the parent holds the generated data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def pg_type(dtype) -> str:
    """The PostgreSQL column type of a pandas dtype (dates, floats, integers, else text)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    return "bigint" if pd.api.types.is_integer_dtype(dtype) else "text"


def copy_in(conn, table: str, df) -> None:
    """CREATE TABLE from the frame's dtypes and COPY its rows in as CSV."""
    buffer = io.StringIO()
    df.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    buffer.seek(0)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {pg_type(t)}' for c, t in df.dtypes.items())})")
        cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER)", buffer)


def load_database(dbname: str, folder: Path) -> dict:
    """Load the folder's people and events into ``dbname`` by COPY, index and analyze; seconds of each step."""
    import pandas as pd
    import psycopg2

    people = pd.read_parquet(folder / "people.parquet")
    events = pd.concat([pd.read_parquet(folder / "events" / f"{m}.parquet") for m in MONTHS], ignore_index=True)
    events = events.sort_values("event_date", kind="stable")  # stored as they happened, as a live system appends
    conn = psycopg2.connect(**{**ADMIN, "dbname": dbname})
    conn.autocommit = True
    try:
        t0 = time.perf_counter()
        copy_in(conn, "people", people)
        copy_in(conn, "events", events)
        t1 = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("CREATE INDEX ON events (event_date)")
            cur.execute("CREATE INDEX ON people (person_id)")
            cur.execute("VACUUM ANALYZE")
        t2 = time.perf_counter()
    finally:
        conn.close()
    return {"copy_seconds": round(t1 - t0, 2), "index_vacuum_analyze_seconds": round(t2 - t1, 2),
            "people": len(people), "events": len(events)}


def admin(statement: str) -> None:
    """One statement on the server's ``postgres`` database (autocommit)."""
    import psycopg2

    conn = psycopg2.connect(**ADMIN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def read_months(reader: str, folder: str, dbname: str) -> dict:
    """Read every month with one reader (in this process); seconds, read seconds and rows per month, peak RSS."""
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from resources import source, sql_source
    from resources.source import SourceResource
    from resources.sql_source import SqlSourceResource

    spent = {"read": 0.0}

    def timed(fn):
        """``fn``, adding its wall time to ``spent["read"]``."""
        def wrapper(*args, **kwargs):
            """The wrapped call, timed."""
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["read"] += time.perf_counter() - t
        return wrapper

    if reader == "parquet":
        source.SourceResource._read = timed(source.SourceResource._read)
        res = SourceResource(location=folder)
    else:
        sql_source.fetch = timed(sql_source.fetch)
        os.environ["PERSONATWIN_SOURCE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
        res = SqlSourceResource(fast_path=reader == "sql_copy")
    before = peak_rss_mb()
    rows = []
    for month in MONTHS:
        start = pd.Timestamp(f"{month}-01")
        spent["read"] = 0.0
        t = time.perf_counter()
        part = res.read_partition(month, start, start + pd.offsets.MonthBegin(1))
        seconds = time.perf_counter() - t
        rows.append({"month": month, "seconds": round(seconds, 3), "read_seconds": round(spent["read"], 3),
                     "events": len(part.ingested.events), "people": len(part.ingested.people)})
    steady = [r["seconds"] for r in rows[1:]]  # the first month also pays one-off imports and regex compiles
    return {"reader": reader, "months": rows, "median_seconds": round(statistics.median(steady), 3),
            "median_read_seconds": round(statistics.median(r["read_seconds"] for r in rows[1:]), 3),
            "first_month_seconds": rows[0]["seconds"], "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def run_size(people: int) -> dict:
    """Generate, load and read one size with every reader; the database is dropped after."""
    sys.path.insert(0, str(ROOT))
    from personatwin_dag.demo import write_sample

    dbname = f"personatwin_bench_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        _, n_events = write_sample(folder, people=people, months=MONTHS, seed=11)
        generated = time.perf_counter() - t
        admin(f"CREATE DATABASE {dbname}")
        try:
            load = load_database(dbname, folder)
            readers = []
            for reader in READERS:
                proc = subprocess.run([sys.executable, __file__, "--one", reader, str(folder), dbname],
                                      capture_output=True, text=True, check=True)
                readers.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        finally:
            admin(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    return {"people": people, "events": n_events, "generate_seconds": round(generated, 2), **load,
            "readers": readers}


def main() -> int:
    """Run the sizes asked for (or one reader in this process, ``--one``) and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="*", default=[100_000])
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(read_months(*args.one)))
        return 0
    runs = []
    for n in args.people:
        run = run_size(n)
        runs.append(run)
        print(f"{n:,} people, {run['events']:,} events: COPY {run['copy_seconds']} s, "
              f"index+vacuum+analyze {run['index_vacuum_analyze_seconds']} s", flush=True)
        for r in run["readers"]:
            print(f"  {r['reader']:13s} median {r['median_seconds']:.3f} s per month "
                  f"(read {r['median_read_seconds']:.3f} s), first {r['first_month_seconds']:.2f} s, "
                  f"peak {r['peak_rss_mb']:,.0f} MB (after imports {r['rss_before_mb']:,.0f} MB)", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "sql_source.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    again = {r["people"] for r in runs}  # sizes not run again stay as they were measured
    kept = [r for r in earlier.get("runs", []) if r["people"] not in again]
    server = "PostgreSQL 15 on the same machine (127.0.0.1), default settings"
    path.write_text(json.dumps({"machine": machine, "server": server,
                                "runs": sorted(runs + kept, key=lambda r: r["people"])}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
