"""Small helpers shared by the stage assets: partitions, partition windows, metadata."""


import time

import dagster as dg
import numpy as np
import pandas as pd

from assets.partitions import RELEASE_PARTITIONS

PARTITIONS = RELEASE_PARTITIONS


def window(context) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the partition's release period, as naive UTC timestamps."""
    tw = context.partition_time_window
    return (pd.Timestamp(tw.start).tz_convert("UTC").tz_localize(None),
            pd.Timestamp(tw.end).tz_convert("UTC").tz_localize(None))


def table_metadata(df: pd.DataFrame) -> dict:
    """Row count and column schema (names and dtypes only, never values)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(str(c), str(t)) for c, t in df.dtypes.items()])
    return {"dagster/row_count": dg.MetadataValue.int(len(df)), "dagster/column_schema": schema}


def float_metadata(figures: dict) -> dict:
    """Every figure as float metadata (so the UI plots it per partition); None/NaN left out."""
    out = {}
    for k, v in figures.items():
        if v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(f):
            out[k] = dg.MetadataValue.float(f)
    return out


def md_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A DataFrame as a markdown table (for the UI)."""
    if df.empty:
        return "_empty_"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for rec in df.itertuples(index=False):
        lines.append("| " + " | ".join(format(v, floatfmt) if isinstance(v, float) else str(v) for v in rec) + " |")
    return "\n".join(lines)


SECONDS = "seconds"  # float metadata of every stage asset: its own compute time, so a slow month shows in the UI
# the stage assets upstream of the release whose seconds the manifest's timings report, by stage name
UPSTREAM_STAGES = {"ingest": "source_events", "validate": "valid_people", "merge": "personas",
                   "noise": "protected_events", "risk_assess": "risk_assessment"}


def seconds_since(t0: float) -> dict:
    """The ``seconds`` metadata of a stage that started at ``t0`` (``time.perf_counter``)."""
    return {SECONDS: dg.MetadataValue.float(round(time.perf_counter() - t0, 3))}


def upstream_seconds(context, partition_key: str) -> dict[str, float]:
    """Seconds of each upstream stage's latest materialization of this partition (from the instance)."""
    out = {}
    for stage, asset in UPSTREAM_STAGES.items():
        found = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition_key]), limit=1)
        for record in found.records:
            mat = record.asset_materialization
            value = mat.metadata.get(SECONDS) if mat is not None else None
            if value is not None:
                out[stage] = float(value.value)
    return out
