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
    kept = {path.parent.name for path, _ in io_manager._LOADED}
    assert kept == {"shared", "reader"}  # "reader" as written: no step of the run read it
    assert pd.read_parquet(tmp_path / "reader" / "all.parquet")["n"].tolist() == [5]
    io_manager._LOADED.clear()


def test_a_stored_table_is_handed_to_the_next_steps_only_when_reading_it_back_gives_the_same(tmp_path):
    """An in-process run hands what a step stored to the steps reading it (no Parquet read), but only a table
    the round trip leaves unchanged: a second-precision date column (read back as milliseconds), object
    columns or a non-default index are read from the store, as another process would see them."""
    import dagster as dg

    from resources import io_manager

    same = pd.DataFrame({"c": pd.Categorical(["b", "a"], categories=["z", "b", "a"]), "n": [1, 2],
                         "s": pd.array(["x", None], dtype="str"), "d": pd.to_datetime(["2024-01-01", None])})
    seconds = same.assign(d=same["d"].astype("datetime64[s]"))
    indexed = same.set_index(pd.Index([5, 6]))
    seen = {}

    @dg.asset
    def kept() -> pd.DataFrame:
        return same

    @dg.asset
    def coarse() -> pd.DataFrame:
        return seconds

    @dg.asset
    def renumbered() -> pd.DataFrame:
        return indexed

    @dg.asset
    def reader(kept: pd.DataFrame, coarse: pd.DataFrame, renumbered: pd.DataFrame) -> None:
        seen.update(kept=kept, coarse=coarse, renumbered=renumbered)

    io_manager._LOADED.clear()
    result = dg.materialize([kept, coarse, renumbered, reader],
                            resources={"io_manager": io_manager.PartitionedParquetIOManager(base_dir=str(tmp_path))})
    assert result.success
    assert seen["kept"] is same  # handed over
    pd.testing.assert_frame_equal(seen["kept"], pd.read_parquet(tmp_path / "kept" / "all.parquet"))
    assert seen["coarse"] is not seconds and seen["coarse"]["d"].dtype == "datetime64[ms]"  # read back
    assert seen["renumbered"].index.tolist() == [0, 1]  # read back: the store keeps no index
    io_manager._LOADED.clear()
