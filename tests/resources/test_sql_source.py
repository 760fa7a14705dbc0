"""The SQL source (issue 16) against a real PostgreSQL database: a partition read from SQL equals the same partition
read from the Parquet files, the period is pushed down, tables and queries with a column mapping, the sensor's
fingerprints, and each bad input a clear error naming the setting, never the password or a value."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personatwin.core.errors import DirectIdentifierError, InputError
from personatwin.validate.validation import validate
from personatwin_dag.demo import write_sample
from resources import sql_source
from resources.source import SourceResource
from resources.sql_errors import SETTING_ENV, source_url
from resources.sql_source import (
    Relation,
    SqlSourceResource,
    effective_mapping,
    key_bounds,
    period_fingerprints,
)
from tests.personatwin_dag.helpers import MONTHS, free_port
from tests.postgres import connect, execute, fresh_database
from tests.sqldata import copy_table, load_folder, read_folder, url

PASSWORD = "Pw-n0t-in-any-message"
MONTH = "2024-02"
START, END = pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The code location tests' sample source (3000 people, three months), as Parquet files."""
    folder = tmp_path_factory.mktemp("sql_sample")
    write_sample(folder, people=3000, months=MONTHS, seed=3)
    return folder


@pytest.fixture(scope="module")
def database(sample):
    """A fresh database holding the sample as tables ``people`` and ``events`` (indexed, analyzed)."""
    with fresh_database() as name:
        load_folder(name, sample)
        yield name


@pytest.fixture
def scratch():
    """An empty fresh database for one test's own tables."""
    with fresh_database() as name:
        yield name


def use(monkeypatch, dbname: str, password: str = PASSWORD, **kwargs) -> str:
    """Point PERSONATWIN_SOURCE_URL at ``dbname`` (the password in the URL; trust auth ignores it)."""
    text = kwargs.pop("text", None) or url(dbname, password, **kwargs)
    monkeypatch.setenv(SETTING_ENV["url"], text)
    monkeypatch.delenv(SETTING_ENV["password"], raising=False)
    return text


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column, index dropped, dates as datetime64[s] (Parquet stores them in ms)."""
    out = df.reset_index(drop=True).copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col].dtype):
            out[col] = out[col].astype("datetime64[s]")
    return out.sort_values(list(out.columns), kind="stable").reset_index(drop=True)


def read_error(source: SqlSourceResource, error=InputError) -> str:
    """The message of the error reading the test month; it never holds the password."""
    with pytest.raises(error) as info:
        source.read_partition(MONTH, START, END)
    message = str(info.value)
    assert PASSWORD not in message
    return message


# -- same partition as the files ---------------------------------------------------------------------------

@pytest.mark.parametrize("fast_path", [True, False], ids=["copy", "read_sql"])
def test_a_partition_read_from_sql_equals_the_parquet_partition(monkeypatch, sample, database, fast_path):
    use(monkeypatch, database)
    from_sql = SqlSourceResource(fast_path=fast_path).read_partition(MONTH, START, END)
    from_files = SourceResource(location=str(sample)).read_partition(MONTH, START, END)
    sql, files = from_sql.ingested, from_files.ingested
    for table in ("people", "events"):
        a, b = getattr(sql, table), getattr(files, table)
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(canonical(a), canonical(b))
    assert len(sql.events) == len(pd.read_parquet(sample / "events" / f"{MONTH}.parquet"))
    assert len(sql.people) < len(pd.read_parquet(sample / "people.parquet"))  # only the people involved
    assert sql.events.index.name == "row" and sql.events.index[0] == 1
    assert from_sql.undated_rows == 0 and sql.dropped_identifiers == files.dropped_identifiers
    # the same validation: same valid rows, same quarantine
    domain = SqlSourceResource().get_domain()
    checked_sql, checked_files = validate(sql.people, sql.events, domain), validate(files.people, files.events, domain)
    assert len(checked_sql.events) == len(checked_files.events) and len(checked_sql.people) == len(checked_files.people)
    assert len(checked_sql.quarantine) == len(checked_files.quarantine)
    # what the metadata shows: the URL with its password masked, the tables read
    assert all(PASSWORD not in f and ":***@" in f for f in from_sql.files)


def test_rows_come_in_one_order_whatever_the_storage_order(monkeypatch, sample, scratch):
    """Rows stored shuffled come ordered by person id, date, then every kept column: a rerun reads the same rows
    in the same order, through either reader."""
    people, events = read_folder(sample)
    conn = connect(scratch)
    try:
        copy_table(conn, "people", people.sample(frac=1.0, random_state=1))
        copy_table(conn, "events", events.sample(frac=1.0, random_state=2))
    finally:
        conn.close()
    use(monkeypatch, scratch)
    first = SqlSourceResource().read_partition(MONTH, START, END).ingested
    again = SqlSourceResource(fast_path=False).read_partition(MONTH, START, END).ingested
    pd.testing.assert_frame_equal(first.events, again.events)
    pd.testing.assert_frame_equal(first.people, again.people)
    ordered = first.events.sort_values(["person_id", "event_date"], kind="stable")
    assert (ordered.index == first.events.index).all()


def test_queries_with_other_column_names_read_like_the_tables(monkeypatch, database):
    """Queries (wrapped as subqueries) with source names mapped by the date / person id settings and a mapping."""
    use(monkeypatch, database)
    table = SqlSourceResource().read_partition(MONTH, START, END).ingested
    query = SqlSourceResource(
        events="SELECT person_id AS pid, event_type AS kind, event_date AS occurred_on, end_date, outcome, "
               "location, value FROM events WHERE outcome LIKE '%' ;",
        people="WITH p AS (SELECT * FROM people) SELECT person_id AS pid, birth_date, sex, race, zip FROM p",
        event_date_column="occurred_on", person_id_column="pid", column_mapping={"kind": "event_type"},
    ).read_partition(MONTH, START, END).ingested
    for name in ("people", "events"):
        pd.testing.assert_frame_equal(canonical(getattr(query, name)), canonical(getattr(table, name)))
    assert query.renamed == {"pid": "person_id", "kind": "event_type", "occurred_on": "event_date"}


def test_numeric_person_ids_and_a_timestamp_date_column_are_read(monkeypatch, scratch):
    """Types other than text and date that still mean the same: integer ids, a TIMESTAMP WITH TIME ZONE date."""
    execute(scratch,
            "CREATE TABLE people AS SELECT g AS person_id, DATE '1980-01-01' + g AS birth_date, "
            "CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END AS sex, 'White' AS race, '12345' AS zip "
            "FROM generate_series(1, 40) g",
            "CREATE TABLE events AS SELECT g % 40 + 1 AS person_id, 'arrest' AS event_type, "
            "TIMESTAMPTZ '2024-01-20 23:30:00+00' + g * INTERVAL '1 day' AS event_date, 'booked' AS outcome "
            "FROM generate_series(1, 60) g")
    use(monkeypatch, scratch)
    for fast in (True, False):
        part = SqlSourceResource(fast_path=fast).read_partition(MONTH, START, END)
        events = part.ingested.events
        assert len(events) == 29  # 2024-02-01 23:30 .. 2024-02-29 23:30 UTC
        assert str(events["event_date"].dtype).startswith("datetime64") and events["event_date"].dt.tz is None
        assert events["event_date"].min() == pd.Timestamp("2024-02-01 23:30")
        assert pd.api.types.is_integer_dtype(part.ingested.people["person_id"].dtype)


# -- the pushdown ------------------------------------------------------------------------------------------

def record_fetches(monkeypatch) -> list[tuple[str, int, str]]:
    """Record each statement the source runs for rows: (SQL, rows fetched, PostgreSQL's plan for it)."""
    fetched: list[tuple[str, int, str]] = []
    real_fetch = sql_source.fetch

    def recording_fetch(conn, stmt, fast=True):
        """The real fetch, recorded with the statement's SQL and plan."""
        df = real_fetch(conn, stmt, fast)
        with conn.connection.dbapi_connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql_source.compiled_sql(conn, stmt, cursor))
            plan = "\n".join(r[0] for r in cursor.fetchall())
        fetched.append((str(stmt.compile(dialect=conn.dialect)), len(df), plan))
        return df

    monkeypatch.setattr(sql_source, "fetch", recording_fetch)
    return fetched


def test_the_period_is_pushed_down_and_only_its_rows_are_fetched(monkeypatch, database, sample):
    use(monkeypatch, database)
    fetched = record_fetches(monkeypatch)
    SqlSourceResource().read_partition(MONTH, START, END)
    (events_sql, n_events, events_plan), (people_sql, n_people, people_plan) = fetched
    assert "WHERE events.event_date >= %(period_start)s AND events.event_date < %(period_end)s" in events_sql
    assert "WHERE people.person_id IN (SELECT events.person_id" in people_sql and "period_start" in people_sql
    for plan in (events_plan, people_plan):  # the range is evaluated by the database
        assert "event_date >= '2024-02-01" in plan and "event_date < '2024-03-01" in plan, plan
    month_events = pd.read_parquet(sample / "events" / f"{MONTH}.parquet")
    assert n_events == len(month_events)  # the other months never left the database
    assert n_people == month_events["person_id"].nunique()


@pytest.mark.slow
def test_a_month_of_a_million_events_loaded_by_copy(monkeypatch, tmp_path):
    """>= 1M generated events loaded by COPY: a month read from SQL equals the month read from Parquet, through
    the date index, fetching only that month's rows."""
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    _, n_events = write_sample(tmp_path, people=105_000, months=months, seed=5)
    assert n_events >= 1_000_000
    start, end = pd.Timestamp("2024-07-01"), pd.Timestamp("2024-08-01")
    with fresh_database() as db:
        load_folder(db, tmp_path)
        use(monkeypatch, db)
        fetched = record_fetches(monkeypatch)
        from_sql = SqlSourceResource().read_partition("2024-07", start, end).ingested
    from_files = SourceResource(location=str(tmp_path)).read_partition("2024-07", start, end).ingested
    for table in ("people", "events"):
        pd.testing.assert_frame_equal(canonical(getattr(from_sql, table)), canonical(getattr(from_files, table)))
    (_, n_month, plan), _ = fetched
    assert n_month == len(from_files.events) < n_events / 8
    assert "Index Cond: ((event_date >= '2024-07-01" in plan, plan


# -- bad inputs: a clear error naming the setting, never the password ----------------------------------------

def test_unset_url_names_the_variable(monkeypatch):
    monkeypatch.delenv(SETTING_ENV["url"], raising=False)
    message = read_error(SqlSourceResource())
    assert "PERSONATWIN_SOURCE_URL" in message and "is not set" in message


@pytest.mark.parametrize("text", [f"postgresql://u:{PASSWORD}@host:notaport/db", f"not a url {PASSWORD}"])
def test_a_url_that_does_not_parse_is_not_echoed(monkeypatch, text):
    use(monkeypatch, "x", text=text)
    message = read_error(SqlSourceResource())
    assert "PERSONATWIN_SOURCE_URL" in message and "not a SQLAlchemy URL" in message


def test_an_unreachable_server(monkeypatch):
    use(monkeypatch, "personatwin", port=free_port())  # nothing listens there
    message = read_error(SqlSourceResource())
    assert "cannot be reached" in message and "PERSONATWIN_SOURCE_URL" in message
    assert ":***@127.0.0.1" in message


class FakeAuthServer:
    """Speaks just enough of the PostgreSQL protocol to ask for a password and refuse it (SQLSTATE 28P01): the
    test server trusts every local connection, so a real wrong password cannot be refused there."""

    def __init__(self):
        """Listen on a free loopback port and answer in a background thread."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.passwords: list[bytes] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        """Answer connections until the socket is closed."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.refuse(conn)
                except (OSError, struct.error):
                    pass

    @staticmethod
    def read_exact(conn: socket.socket, n: int) -> bytes:
        """Exactly ``n`` bytes from the client."""
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def refuse(self, conn: socket.socket) -> None:
        """SSL/GSS requests: 'N'; the startup message: ask for a cleartext password; then FATAL 28P01."""
        while True:
            length, code = struct.unpack("!ii", self.read_exact(conn, 8))
            self.read_exact(conn, length - 8)
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                conn.sendall(b"N")
                continue
            break
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))
        kind, length = struct.unpack("!ci", self.read_exact(conn, 5))
        self.passwords.append(self.read_exact(conn, length - 4))
        fields = b"".join(k + v + b"\0" for k, v in ((b"S", b"FATAL"), (b"V", b"FATAL"), (b"C", b"28P01"),
                                                     (b"M", b'password authentication failed for user "alice"')))
        body = fields + b"\0"
        conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)

    def close(self) -> None:
        """Stop listening (the serving thread ends)."""
        self.sock.close()


@pytest.mark.parametrize("where", ["url", "password variable"])
def test_wrong_password(monkeypatch, where):
    server = FakeAuthServer()
    try:
        if where == "url":
            use(monkeypatch, "db", user="alice", port=server.port)
        else:
            use(monkeypatch, "db", password="", user="alice", port=server.port)
            monkeypatch.setenv(SETTING_ENV["password"], PASSWORD)
        message = read_error(SqlSourceResource())
    finally:
        server.close()
    assert server.passwords and PASSWORD.encode() in server.passwords[0]  # the password was sent, and refused
    assert "wrong credentials" in message and "PERSONATWIN_SOURCE_PASSWORD" in message
    assert "PERSONATWIN_SOURCE_URL" in message and "alice:***@" in message


def test_unknown_user_and_unknown_database(monkeypatch, database):
    use(monkeypatch, database, user="no_such_role_personatwin")
    assert "no such user" in read_error(SqlSourceResource())
    use(monkeypatch, database + "_missing")
    assert "database named in the URL does not exist" in read_error(SqlSourceResource())


def test_a_missing_table(monkeypatch, database):
    use(monkeypatch, database)
    message = read_error(SqlSourceResource(events="public.no_such_events"))
    assert "events table 'public.no_such_events'" in message and "does not exist" in message
    assert "PERSONATWIN_SOURCE_EVENTS" in message
    message = read_error(SqlSourceResource(people="SELECT * FROM no_such_people"))
    assert "people query" in message and "42P01" in message and "PERSONATWIN_SOURCE_PEOPLE" in message


def test_missing_columns(monkeypatch, database):
    use(monkeypatch, database)
    message = read_error(SqlSourceResource(events="SELECT person_id, event_type, event_date FROM events"))
    assert "required column(s) ['outcome']" in message and "events query" in message
    message = read_error(SqlSourceResource(event_date_column="occurred_on"))
    assert "'occurred_on'" in message and "events table 'events'" in message
    message = read_error(SqlSourceResource(change_column="updated_at"))
    assert "'updated_at'" in message and "PERSONATWIN_SOURCE_CHANGE_COLUMN" in message
    message = read_error(SqlSourceResource(events="SELECT person_id, no_such_column FROM events"))
    assert "42703" in message and "no_such_column" in message


def test_a_date_column_that_is_not_a_date(monkeypatch, database, scratch):
    use(monkeypatch, database)
    as_text = "SELECT person_id, event_type, event_date::text AS event_date, outcome FROM events"
    for fast in (True, False):
        message = read_error(SqlSourceResource(events=as_text, fast_path=fast))
        assert "'event_date'" in message and "DATE or TIMESTAMP" in message and "42883" in message
        assert "PERSONATWIN_SOURCE_DATE_COLUMN" in message
    execute(scratch, "CREATE TABLE people (person_id text)",
            "CREATE TABLE events (person_id text, event_type text, event_date text, outcome text)",
            "INSERT INTO events VALUES ('p1', 'arrest', 'secret-value-2024-02-03', 'booked')")
    use(monkeypatch, scratch)
    message = read_error(SqlSourceResource())
    assert "column 'event_date' of the events table 'events'" in message and "TEXT" in message
    assert "CAST(event_date AS DATE)" in message


def test_a_value_that_does_not_convert_is_not_shown(monkeypatch, scratch):
    execute(scratch, "CREATE TABLE people (person_id text)",
            "CREATE TABLE raw (person_id text, event_type text, day text, outcome text)",
            "INSERT INTO raw VALUES ('p1', 'arrest', 'secret-value-XYZ', 'booked')")
    use(monkeypatch, scratch)
    source = SqlSourceResource(events="SELECT person_id, event_type, CAST(day AS date) AS event_date, outcome FROM raw")
    message = read_error(source)
    assert "secret-value-XYZ" not in message and "22007" in message and "values are not shown" in message


def test_identifier_columns_are_dropped_or_stop_the_read_before_any_row(monkeypatch, database):
    use(monkeypatch, database)
    declared = SqlSourceResource(people="SELECT person_id, 'x' AS full_name, birth_date, sex, race, zip FROM people")
    assert declared.read_partition(MONTH, START, END).ingested.dropped_identifiers == ("full_name",)
    fetched = []
    monkeypatch.setattr(sql_source, "fetch", lambda *args: fetched.append(args))
    source = SqlSourceResource(people="SELECT person_id, '555-0100' AS mobile, birth_date, sex, race, zip FROM people")
    message = read_error(source, DirectIdentifierError)
    assert "mobile" in message and "555-0100" not in message and not fetched


def test_no_events_in_the_period(monkeypatch, database):
    use(monkeypatch, database)
    with pytest.raises(InputError, match="no events dated in period 2030-01"):
        SqlSourceResource().read_partition("2030-01", pd.Timestamp("2030-01-01"), pd.Timestamp("2030-02-01"))


# -- settings and fingerprints -------------------------------------------------------------------------------

def test_plain_postgresql_urls_use_psycopg2_and_the_password_variable_wins():
    assert source_url("postgresql://u@h/db").drivername == "postgresql+psycopg2"
    assert source_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert source_url("mysql+pymysql://u@h/db").drivername == "mysql+pymysql"
    assert source_url("postgresql://u:old@h/db", "new").password == "new"
    assert source_url("postgresql://u:p%40ss@h/db").password == "p@ss"


def test_tables_and_queries_are_told_apart():
    assert Relation("events", "public.events").table_name() == ("public", "events")
    assert not Relation("events", "events").is_query
    assert all(Relation("events", q).is_query for q in ("select 1", "  WITH x AS (SELECT 1) SELECT * FROM x",
                                                        "(SELECT 1)"))
    assert effective_mapping({}, "occurred_on", "person_id") == {"occurred_on": "event_date"}
    assert effective_mapping({"d": "event_date"}, "occurred_on", "pid") == {"d": "event_date", "pid": "person_id"}


def test_period_fingerprints_follow_counts_changes_and_complete_periods():
    keys = ["2024-01", "2024-02", "2024-03"]
    starts = pd.to_datetime(keys)
    days = pd.DataFrame({"day": pd.to_datetime(["2023-12-31", "2024-01-05", "2024-01-09", "2024-02-01",
                                                "2024-04-02"]).date,
                         "rows": np.array([7, 2, 3, 5, 9]), "changed": [None] * 5})
    fp = period_fingerprints(days, keys, starts, pd.Timestamp("2024-04-01"))
    assert set(fp) == {"2024-01", "2024-02"}  # before the first period, or in one not complete: left out
    assert fp["2024-01"].startswith("5-") and fp["2024-02"].startswith("5-")
    moved = days.assign(day=pd.to_datetime(["2023-12-31", "2024-01-06", "2024-01-09", "2024-02-01",
                                            "2024-04-02"]).date)
    assert period_fingerprints(moved, keys, starts, pd.Timestamp("2024-04-01"))["2024-01"] != fp["2024-01"]
    touched = days.assign(changed=[None, None, "2024-05-01 10:00:00", None, None])
    again = period_fingerprints(touched, keys, starts, pd.Timestamp("2024-04-01"))
    assert again["2024-01"] != fp["2024-01"] and again["2024-02"] == fp["2024-02"]
    assert period_fingerprints(days.iloc[:0], keys, starts, pd.Timestamp("2024-04-01")) == {}


def test_partition_keys_give_their_periods_bounds():
    keys, starts, end = key_bounds(["2024-01", "2024-02", "2024-03"])
    assert keys == ["2024-01", "2024-02", "2024-03"] and end == pd.Timestamp("2024-04-01")
    assert key_bounds(["2024-01", "2024-04", "2024-07"])[2] == pd.Timestamp("2024-10-01")
    assert key_bounds(["2024-03-04", "2024-03-11", "2024-03-18"])[2] == pd.Timestamp("2024-03-25")
    assert key_bounds(["2024-01", "2024-02"]) == (["2024-01"], pd.DatetimeIndex(["2024-01-01"]),
                                                  pd.Timestamp("2024-02-01"))


def test_period_versions_change_with_the_periods_rows(monkeypatch, scratch, sample):
    load_folder(scratch, sample)
    use(monkeypatch, scratch)
    source = SqlSourceResource()
    keys = [f"2023-{m:02d}" for m in range(1, 13)] + MONTHS + ["2024-04"]
    before = source.period_versions(keys)
    assert sorted(before) == MONTHS and all(v.startswith("rows:") for v in before.values())
    execute(scratch, "DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE event_date < DATE '2024-02-01' "
                     "LIMIT 1)")
    after = source.period_versions(keys)
    assert after["2024-01"] != before["2024-01"] and after["2024-02"] == before["2024-02"]
