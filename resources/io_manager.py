"""Asset storage: Parquet per asset and partition; a dict of tables is a folder of Parquet files.

Writes go to a temporary name and are renamed into place, so a rerun replaces a partition whole
and a reader never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd


class PartitionedParquetIOManager(dg.ConfigurableIOManager):
    """``<base_dir>/<asset>/<partition>.parquet`` or ``<base_dir>/<asset>/<partition>/<table>.parquet``."""

    base_dir: str

    def _path(self, context) -> Path:
        key = context.asset_partition_key if context.has_asset_partitions else "all"
        return Path(self.base_dir).joinpath(*context.asset_key.path) / key

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
        if isinstance(obj, pd.DataFrame):
            obj.to_parquet(tmp, index=False)
            os.replace(tmp, path.with_suffix(".parquet"))
            shutil.rmtree(path, ignore_errors=True)
        elif isinstance(obj, dict):
            tmp.mkdir()
            for name, df in obj.items():
                df.to_parquet(tmp / f"{name}.parquet", index=False)
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex}")
            if path.exists():
                os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
            path.with_suffix(".parquet").unlink(missing_ok=True)
        else:
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a DataFrame or dict of DataFrames, "
                            f"got {type(obj).__name__}")

    def load_input(self, context: dg.InputContext):
        path = self._path(context)
        if path.with_suffix(".parquet").exists():
            return pd.read_parquet(path.with_suffix(".parquet"))
        if path.is_dir():
            return {p.stem: pd.read_parquet(p) for p in sorted(path.glob("*.parquet"))}
        raise FileNotFoundError(f"{context.asset_key.to_user_string()} has no stored partition "
                                f"{path.name!r}: materialize it first")
