"""Export of released tables: CSV (spreadsheet-safe), JSON and Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("csv", "json", "parquet")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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


def write_table(df: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write one table in one format; dates as ISO dates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    elif fmt == "csv":
        neutralize_formulas(df).to_csv(path, index=False, date_format="%Y-%m-%d")
    elif fmt == "json":
        df.to_json(path, orient="records", date_format="iso", date_unit="s", indent=1)
    else:
        raise ValueError(f"unknown export format {fmt!r}: use one of {FORMATS}")
    return path


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
