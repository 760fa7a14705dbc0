"""People and events in PostgreSQL for the SQL source tests: a source folder's Parquet files loaded by COPY."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from tests.postgres import HOST, PORT, USER, connect

SQL_TYPES = {"datetime64": "date", "float": "double precision", "int": "bigint"}


def sql_type(dtype) -> str:
    """The PostgreSQL column type for a pandas dtype: dates, floats, integers, else text."""
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return SQL_TYPES["datetime64"]
    if pd.api.types.is_float_dtype(dtype):
        return SQL_TYPES["float"]
    if pd.api.types.is_integer_dtype(dtype):
        return SQL_TYPES["int"]
    return "text"


def copy_table(conn, table: str, df: pd.DataFrame, types: dict[str, str] | None = None) -> None:
    """Create ``table`` (column types from the dtypes unless given) and load ``df`` into it with COPY ... CSV."""
    types = {c: (types or {}).get(c, sql_type(df[c].dtype)) for c in df.columns}
    columns = ", ".join(f'"{c}" {t}' for c, t in types.items())
    buffer = io.StringIO()
    df.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    buffer.seek(0)
    with conn.cursor() as cur:
        cur.execute(f'CREATE TABLE "{table}" ({columns})')
        cur.copy_expert(f'COPY "{table}" FROM STDIN WITH (FORMAT csv, HEADER)', buffer)


def read_folder(source: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People and all events of a source folder (people.parquet, events/<period>.parquet)."""
    people = pd.read_parquet(source / "people.parquet")
    events = pd.concat([pd.read_parquet(p) for p in sorted((source / "events").glob("*.parquet"))],
                       ignore_index=True)
    return people, events


def load_folder(dbname: str, source: Path, index: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load a source folder into tables ``people`` and ``events`` of ``dbname`` (an index on the events' date and
    the people's id, then ANALYZE); returns the frames loaded."""
    people, events = read_folder(source)
    conn = connect(dbname)
    try:
        copy_table(conn, "people", people)
        copy_table(conn, "events", events)
        with conn.cursor() as cur:
            if index:
                cur.execute("CREATE INDEX ON events (event_date)")
                cur.execute("CREATE INDEX ON people (person_id)")
            cur.execute("ANALYZE")
    finally:
        conn.close()
    return people, events


def url(dbname: str, password: str = "", port: int = PORT, user: str = USER) -> str:
    """A plain ``postgresql://`` URL (the source reads it as psycopg2) to ``dbname`` on the test server."""
    secret = f":{password}" if password else ""
    return f"postgresql://{user}{secret}@{HOST}:{port}/{dbname}"
