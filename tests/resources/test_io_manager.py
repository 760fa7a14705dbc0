"""The intermediate-table Parquet writer of the asset store: what is read back is what was written."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from resources.io_manager import write_parquet


def test_intermediate_parquet_round_trips_types_and_category_order(tmp_path):
    """Categories keep their order (dictionary pages), strings, nullable ints, floats and dates their values."""
    df = pd.DataFrame({
        "person_id": pd.array(["b", "a", None, "c"], dtype="string"),
        "event_type": pd.Categorical(["hearing", "arrest", "hearing", None], categories=["hearing", "arrest"]),
        "age": pd.array([30, None, 41, 7], dtype="Int64"),
        "value": [1.5, np.nan, 2.0, 0.0],
        "event_date": pd.to_datetime(["2024-02-01", None, "2024-02-03", "2024-02-04"]),
    })
    write_parquet(df, tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert list(back["event_type"].cat.categories) == ["hearing", "arrest"]
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["person_id"].dtype == df["person_id"].dtype and back["age"].dtype == df["age"].dtype
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    codecs = {meta.column(i).path_in_schema: meta.column(i).compression for i in range(meta.num_columns)}
    assert set(codecs.values()) <= {"LZ4", "LZ4_RAW"}
    empty = df.iloc[:0]
    write_parquet(empty, tmp_path / "e.parquet")
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 0


def test_an_asset_read_once_is_not_kept_after_its_read(tmp_path):
    """Tables read by several steps stay in the process's cache; one marked read-once (the source tables,
    the release) does not: it would only hold its memory for the rest of the run."""
    import dagster as dg

    from resources import io_manager

    @dg.asset(metadata={io_manager.READ_ONCE: True})
    def once() -> pd.DataFrame:
        return pd.DataFrame({"a": [1, 2, 3]})

    @dg.asset
    def shared() -> pd.DataFrame:
        return pd.DataFrame({"b": [4, 5]})

    @dg.asset
    def reader(once: pd.DataFrame, shared: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"n": [len(once) + len(shared)]})

    io_manager._LOADED.clear()
    result = dg.materialize([once, shared, reader],
                            resources={"io_manager": io_manager.PartitionedParquetIOManager(base_dir=str(tmp_path))})
    assert result.success
    kept = {path.name for path, _ in io_manager._LOADED}
    assert kept == {"all"} and len(io_manager._LOADED) == 1  # only "shared" (stored as <asset>/all)
    assert next(iter(io_manager._LOADED))[0].parent.name == "shared"
    assert pd.read_parquet(tmp_path / "reader" / "all.parquet")["n"].tolist() == [5]
    io_manager._LOADED.clear()
