"""Small helpers shared by the stage assets: partition windows, metadata, prepared data."""


import dagster as dg
import numpy as np
import pandas as pd

from personatwin.domains import Domain
from personatwin.protect import PreparedData, prepare
from personatwin_dag.partitions import RELEASE_PARTITIONS

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


_PREPARED: list = []  # (people, events, domain name, prepared) of the last call in this process


def prepared(people: pd.DataFrame, events: pd.DataFrame, domain: Domain) -> PreparedData:
    """The engine's canonical coded form of the validated tables.

    Merge, noise, risk and release all start from it; the IO manager hands every step of a run the
    same stored tables, so the last result is reused when called again with those very objects."""
    if _PREPARED and _PREPARED[0][0] is people and _PREPARED[0][1] is events and _PREPARED[0][2] == domain.name:
        return _PREPARED[0][3]
    data = prepare(people.drop(columns=["row"], errors="ignore"), events.drop(columns=["row"], errors="ignore"), domain)
    _PREPARED[:] = [(people, events, domain.name, data)]
    return data
