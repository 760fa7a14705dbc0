"""Export of released tables: CSV (spreadsheet-safe), JSON and Parquet."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personatwin.core import parallel
from personatwin.core.version import __version__
from personatwin.measure.anonymeter_eval import summary_from_table
from personatwin.publish.json_records import write_json_records
from personatwin.publish.published import PublishedRelease
from personatwin.publish.report import render_internal_report, render_report
from personatwin.release.tables import ReleaseTables

FORMATS = ("csv", "json", "parquet")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_CHUNK_ROWS = 1_000_000  # rows of one CSV chunk, written on its own thread


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a quote (CSV injection)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = pd.Series(s.cat.categories.astype(str))
            bad = cats.str.startswith(FORMULA_PREFIXES)
            if bad.any():
                out[col] = s.cat.rename_categories(np.where(bad, "'" + cats, cats))
        elif pd.api.types.is_string_dtype(s) or s.dtype == object:
            text = s.astype("string")
            bad = text.str.startswith(FORMULA_PREFIXES).fillna(False)
            if bad.any():
                out[col] = text.where(~bad, "'" + text)
    return out


def _arrow_column(s: pd.Series):
    """One column as Arrow, in the CSV's text conventions: dates as ISO dates, booleans True/False."""
    import pyarrow as pa

    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        dictionary = pa.array(s.cat.categories.astype(str).to_numpy(dtype=object), type=pa.string())
        # written as is: Arrow's CSV writer prints a dictionary column's values (the same text, no 10M strings)
        return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32(), mask=codes < 0), dictionary)
    if pd.api.types.is_datetime64_any_dtype(s):
        return pa.array(s.to_numpy().astype("datetime64[D]"), type=pa.date32())
    if pd.api.types.is_bool_dtype(s):
        return pa.array(s.map({True: "True", False: "False"}).astype("string"))
    if pd.api.types.is_numeric_dtype(s):
        return pa.array(s)
    return pa.array(s.astype("string"))


def write_csv(df: pd.DataFrame, path, sha256=None) -> None:
    """CSV through Arrow's writer (about 4x pandas' on millions of events), in chunks of rows written
    side by side on the cores and joined in order (the bytes of one pass); text cells are quoted,
    missing values are empty, dates are ISO dates. ``path``: a path or a binary file; ``sha256``: a
    hash to update with the bytes, on a thread while they are written."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({str(c): _arrow_column(df[c]) for c in df.columns}) if len(df.columns) else pa.table({})
    threads = parallel.workers() if table.num_rows > CSV_CHUNK_ROWS else 1

    def text(start: int):
        sink = pa.BufferOutputStream()  # in Arrow's memory: written without the GIL
        pacsv.write_csv(table.slice(start, CSV_CHUNK_ROWS), sink, pacsv.WriteOptions(include_header=start == 0))
        return sink.getvalue()

    with (open(path, "wb") if isinstance(path, (str, os.PathLike)) else nullcontext(path)) as out, \
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="csv") as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-hash") as hasher:
        pending: deque = deque()
        hashed = None

        def put(chunk) -> None:  # chunks are immutable Arrow buffers: hashed on a thread while written here
            nonlocal hashed
            if sha256 is not None:
                hashed = hasher.submit(sha256.update, chunk)  # one worker: in order
            out.write(chunk)

        for start in range(0, max(table.num_rows, 1), CSV_CHUNK_ROWS):
            pending.append(pool.submit(text, start))
            if len(pending) > threads:  # at most threads + 1 chunks held in memory
                put(pending.popleft().result())
        while pending:
            put(pending.popleft().result())
        if hashed is not None:
            hashed.result()


class HashingFile:
    """A binary file that keeps the SHA-256 of every byte written to it (a release's files are hashed as they
    are written, not read back: GBs at scale)."""

    def __init__(self, raw) -> None:
        import hashlib

        self.raw, self.sha256, self.closed = raw, hashlib.sha256(), False

    def write(self, data) -> int:
        self.sha256.update(data)  # releases the GIL for large buffers
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.raw.tell()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def write_table(df: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write one table in one format; dates as ISO dates."""
    write_table_hashed(df, path, fmt)
    return path


def write_table_hashed(df: pd.DataFrame, path: Path, fmt: str) -> str:
    """``write_table``, returning the SHA-256 of the file written (computed while writing)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        f = HashingFile(raw)
        if fmt == "parquet":
            df.to_parquet(f, index=False)
        elif fmt == "csv":
            write_csv(neutralize_formulas(df), f.raw, sha256=f.sha256)
        else:  # written and hashed in parallel (GBs of text at scale)
            write_json_records(df, f.raw, sha256=f.sha256)
        f.flush()
        return f.hexdigest()


def export_tables(obj: Any, path, format: str | None = None) -> list[Path]:
    """Write personas (and events, when ``obj`` carries them) next to each other.

    ``safe.csv`` gives ``safe.csv`` (personas) and ``safe_events.csv``; the format follows the
    file extension unless given.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {FORMATS}")
    personas = getattr(obj, "personas", obj)
    table = personas.to_dataframe() if hasattr(personas, "to_dataframe") else pd.DataFrame(personas)
    written = [write_table(table, path, fmt)]
    events = getattr(personas, "events", None)
    if isinstance(events, pd.DataFrame):
        written.append(write_table(events, path.with_name(f"{path.stem}_events{path.suffix or '.' + fmt}"), fmt))
    return written


# --- release folders ---------------------------------------------------------------------------

def sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)  # releases the GIL: files hash in parallel (sha256_all)
    return h.hexdigest()


def sha256_all(paths) -> dict[Path, str]:
    """SHA-256 of each file, several files at a time (a release's data files are GBs at scale)."""
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1))) as pool:
        return dict(zip(paths, pool.map(sha256, paths)))


def versions() -> dict[str, str]:
    import platform

    import pyarrow

    return {"personatwin": __version__, "pandas": pd.__version__, "numpy": np.__version__,
            "pyarrow": pyarrow.__version__, "python": platform.python_version()}


def write_release_folder(release: ReleaseTables, folder, *, partition: str = "",
                         created_at: str | None = None) -> dict:
    """Write a release folder: released tables as Parquet, CSV and JSON, the published HTML report and
    ``manifest.json`` (checksums, row counts, policy, risk figures, PRAM, versions; never the key, never
    an original-data figure: see ``personatwin.publish.published``)."""
    import datetime
    import json
    import time

    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    released = release.released()
    files = [folder / f"{name}.{fmt}" for name in released for fmt in FORMATS]
    # the data files are written side by side (Arrow's CSV and Parquet writers and the JSON writer release the
    # GIL: 10M events in about 60% of the sequential time on 2 cores) while the report is rendered here
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="export") as pool:
        written = {path: pool.submit(write_table_hashed, released[path.stem], path, path.suffix[1:])
                   for path in sorted(files, key=lambda p: -len(released[p.stem]))}  # the largest first
        published = PublishedRelease.from_tables(release)
        report = folder / "privacy_report.html"
        report.write_text(render_report(published, partition=partition), encoding="utf-8")
        digests = {path: future.result() for path, future in written.items()}
    files.append(report)
    digests[report] = sha256(report)
    manifest = {
        "partition": partition,
        **published.manifest_fields(),
        "files": {f.name: {"sha256": digests[f], "bytes": f.stat().st_size,
                           **({"rows": int(len(released[f.stem]))} if f.stem in released else {})} for f in files},
        "versions": versions(),
        "created_at": created_at or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if release.timings:  # seconds per stage; export = data files and report, up to this manifest
        manifest["timings"] = {k: round(float(v), 3) for k, v in
                               {"export": time.perf_counter() - t0, **release.timings}.items()}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return manifest


INTERNAL_REPORT = "internal_report.html"
INTERNAL_FIGURES = "internal_figures.json"


def write_internal_folder(release: ReleaseTables, folder, *, partition: str = "") -> dict:
    """Write the internal (never published) side of a release: ``internal_report.html`` (original vs
    release, small cells suppressed) and ``internal_figures.json`` (every figure, input reconciliation,
    suppressed events, declared analyses on original data and release). Keep it outside the release folder
    and its root."""
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INTERNAL_REPORT).write_text(render_internal_report(release, partition=partition), encoding="utf-8")
    figures = {
        "partition": partition,
        "metrics": {k: (None if pd.isna(v) or not np.isfinite(float(v)) else float(v))  # strict JSON: no inf
                    for k, v in sorted(release.metrics.items())},
        "suppressed_events": int(release.suppressed_events),
        "input_counts": {k: int(v) for k, v in release.counts.items()},
        "key_fingerprint": release.key_fingerprint,
        "research": _json_records(release.research),
    }
    (folder / INTERNAL_FIGURES).write_text(json.dumps(figures, indent=1, sort_keys=True), encoding="utf-8")
    return figures


def _json_records(table: pd.DataFrame | None) -> list[dict]:
    """A table as strict-JSON records: missing and non-finite numbers as null, numpy scalars as Python ones."""
    if table is None or table.empty:
        return []
    out = []
    for rec in table.to_dict("records"):
        row: dict[str, object] = {}
        for k, v in rec.items():
            if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
                row[k] = None
            elif isinstance(v, (np.bool_, bool)):
                row[k] = bool(v)
            elif isinstance(v, (np.integer, np.floating)):
                row[k] = v.item()
            else:
                row[k] = v
        out.append(row)
    return out


def anonymeter_section(table: pd.DataFrame | None) -> dict | None:
    """The manifest's ``anonymeter`` section: headline risks with confidence intervals, the gate and every
    evaluator's rates; None when the release was not evaluated."""
    if table is None or table.empty:
        return None
    return summary_from_table(table)


def verify_manifest(folder) -> list[str]:
    """Problems found comparing ``manifest.json`` with the files next to it (empty list: all match)."""
    import json

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    problems = []
    present = [folder / name for name in manifest["files"] if (folder / name).exists()]
    digests = sha256_all(present)
    for name, info in manifest["files"].items():
        path = folder / name
        if path not in digests:
            problems.append(f"{name}: listed in the manifest but missing")
        elif digests[path] != info["sha256"]:
            problems.append(f"{name}: checksum differs from the manifest")
    extra = {p.name for p in folder.iterdir()} - set(manifest["files"]) - {"manifest.json"}
    problems += [f"{name}: present but not in the manifest" for name in sorted(extra)]
    return problems
