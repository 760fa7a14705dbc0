"""The SQL data source: people and events from tables or queries of any database with a SQLAlchemy dialect.

Same interface as the file source (``resources.source``): ``read_partition`` returns the events dated in the
period and the people they involve, through the same ``load_input`` (column mapping, identifier screening), so
validation, quarantine and reconciliation are those of files. The period is pushed down to the database:

    events: SELECT <columns> FROM <events> WHERE <date> >= :period_start AND <date> < :period_end ORDER BY ...
    people: SELECT <columns> FROM <people> WHERE <person id> IN (SELECT <person id> FROM <events> WHERE <same range>)

A table is named ``table`` or ``schema.table`` (identifiers quoted by SQLAlchemy); anything starting with
``SELECT``, ``WITH`` or ``(`` is a query, wrapped as a subquery. Rows come ordered (person id, date, then the
other columns ingest keeps), so a rerun reads the same rows in the same order; in PostgreSQL both statements
run in one read-only REPEATABLE READ transaction (one snapshot). With psycopg2 the rows travel as
``COPY (<statement>) TO STDOUT`` CSV parsed by pyarrow with the columns' database types (3x faster than
``pd.read_sql``, benchmarks/sql_source.py); other drivers, or types the fast path does not know, use
``pd.read_sql``. The URL and password come from environment variables (never from config, never in messages).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256

import dagster as dg
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL

from personatwin.core import schema
from personatwin.core.domains import Domain, get_domain
from personatwin.core.errors import DirectIdentifierError, InputError
from personatwin.ingest.files import ROW
from personatwin.ingest.tables import Ingested, load_input
from resources.source import SourceSlice
from resources.sql_errors import (
    ENV_PASSWORD,
    ENV_URL,
    connect_error,
    engine_for,
    masked,
    query_error,
    setting,
    source_url,
)

QUERY = re.compile(r"^\s*(?:select\b|with\b|\()", re.I)
ROLES = ("people", "events")

# PostgreSQL type OIDs the COPY fast path parses itself (text: 25, varchar, bpchar, name, char, uuid, citext-less).
PG_ARROW_TYPES = {
    16: "bool", 18: "string", 19: "string", 25: "string", 1042: "string", 1043: "string", 2950: "string",
    20: "int64", 21: "int64", 23: "int64", 700: "float64", 701: "float64", 1700: "float64",
    1082: "timestamp[s]", 1114: "timestamp[us]", 1184: "timestamp[us, tz=UTC]",
}
PG_DATE_TYPES = {1082, 1114, 1184}


# --- tables and queries ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Relation:
    """The people or events table or query, as configured."""

    role: str  # "people" | "events"
    text: str

    @property
    def is_query(self) -> bool:
        """Whether the setting is a query (SELECT, WITH or a parenthesized statement) rather than a table name."""
        return bool(QUERY.match(self.text))

    def query(self) -> str:
        """The query without a trailing semicolon (it becomes a subquery)."""
        return self.text.strip().rstrip(";").strip()

    def table_name(self) -> tuple[str | None, str]:
        """(schema, table) of a table setting ``table`` or ``schema.table``."""
        schema_name, _, name = self.text.strip().rpartition(".")
        return (schema_name or None), name

    def label(self) -> str:
        """How messages name it: ``events table 'events' (setting events (PERSONATWIN_SOURCE_EVENTS))``."""
        what = f"{self.role} query" if self.is_query else f"{self.role} table {self.text.strip()!r}"
        return f"{what} (setting {setting(self.role)})"

    def source(self, columns: Sequence[str]) -> sa.FromClause:
        """The FROM clause: a quoted table with its columns, or the query as a subquery."""
        cols = [sa.column(c) for c in columns]
        if self.is_query:
            return sa.text(self.query()).columns(*cols).subquery(f"personatwin_{self.role}")
        schema_name, name = self.table_name()
        return sa.table(name, *cols, schema=schema_name)


@dataclass(frozen=True)
class Layout:
    """What the preflight found: each relation's FROM clause and the source names of the columns the reads use."""

    events: sa.FromClause
    people: sa.FromClause
    date: str  # events' date column
    events_pid: str
    people_pid: str
    events_order: tuple[str, ...]
    people_order: tuple[str, ...]
    mapping: dict[str, str]  # the column mapping load_input gets (the date / person id settings included)


def effective_mapping(mapping: Mapping[str, str], date_column: str, person_id_column: str) -> dict[str, str]:
    """The column mapping with the date and person id settings added when they name other columns."""
    out = dict(mapping)
    for source, target in ((date_column, schema.EVENT_DATE), (person_id_column, schema.PERSON_ID)):
        if source != target and target not in out.values():
            out[source] = target
    return out


def source_names(columns: Sequence[str], kept: Sequence[str], renamed: Mapping[str, str]) -> dict[str, str]:
    """{kept column: source column it was read from} for one table, from load_input's renames."""
    keep = set(kept)
    return {renamed.get(c, c): c for c in columns if renamed.get(c, c) in keep}


def ordering(names: Mapping[str, str], first: Sequence[str], kept: Sequence[str]) -> tuple[str, ...]:
    """Source columns to order by: ``first`` (contract names), then the other kept columns in their order."""
    lead = [names[c] for c in first if c in names]
    return tuple(dict.fromkeys(lead + [names[c] for c in kept if c in names]))


def period_range(column: sa.ColumnElement, start: pd.Timestamp, end: pd.Timestamp) -> sa.ColumnElement:
    """``column >= :period_start AND column < :period_end`` (bound parameters, the window's naive UTC times)."""
    lo = sa.bindparam("period_start", pd.Timestamp(start).to_pydatetime(), type_=sa.DateTime())
    hi = sa.bindparam("period_end", pd.Timestamp(end).to_pydatetime(), type_=sa.DateTime())
    return sa.and_(column >= lo, column < hi)


def events_statement(layout: Layout, start: pd.Timestamp, end: pd.Timestamp) -> sa.Select:
    """The period's events, ordered."""
    src = layout.events
    return (sa.select(*src.c).where(period_range(src.c[layout.date], start, end))
            .order_by(*[src.c[c] for c in layout.events_order]))


def people_statement(layout: Layout, start: pd.Timestamp, end: pd.Timestamp) -> sa.Select:
    """Only the people the period's events involve (a semi-join on the same range), ordered."""
    ev, pp = layout.events, layout.people
    involved = sa.select(ev.c[layout.events_pid]).where(period_range(ev.c[layout.date], start, end))
    return (sa.select(*pp.c).where(pp.c[layout.people_pid].in_(involved))
            .order_by(*[pp.c[c] for c in layout.people_order]))


def undated_statement(layout: Layout) -> sa.Select:
    """How many events have no date (they belong to no period)."""
    src = layout.events
    return sa.select(sa.func.count()).select_from(src).where(src.c[layout.date].is_(None))


def day_counts_statement(layout: Layout, change_column: str = "") -> sa.Select:
    """Rows per day of the events' date, with the latest value of the change column (if any) per day."""
    src = layout.events
    day = sa.cast(src.c[layout.date], sa.Date).label("day")
    changed = sa.func.max(src.c[change_column]) if change_column else sa.null()
    return (sa.select(day, sa.func.count().label("rows"), changed.label("changed"))
            .where(src.c[layout.date].is_not(None)).group_by(day))


# --- reading --------------------------------------------------------------------------------------------------

def db_errors(conn: sa.Connection) -> tuple[type[BaseException], ...]:
    """Exceptions a statement may raise: SQLAlchemy's, and the raw driver's (the COPY fast path)."""
    dbapi = getattr(conn.dialect, "loaded_dbapi", None)
    return (sa.exc.SQLAlchemyError,) + ((dbapi.Error,) if dbapi is not None and hasattr(dbapi, "Error") else ())


def is_psycopg2(conn: sa.Connection) -> bool:
    """Whether the connection is PostgreSQL through psycopg2 (the COPY fast path)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"


@contextmanager
def connected(url: URL, timeout: int) -> Iterator[sa.Connection]:
    """A connection (PostgreSQL: one read-only REPEATABLE READ transaction); a failure to connect is an InputError."""
    engine = engine_for(url, timeout)
    try:
        conn = engine.connect()
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise connect_error(exc, url) from None
    try:
        yield conn
    finally:
        conn.close()
        engine.dispose()


def arrow_schema(description: Sequence) -> dict[str, str] | None:
    """{column: pyarrow type name} from a psycopg2 cursor description; None if a type is not one the fast path
    parses (then the generic reader is used)."""
    types = {}
    for col in description:
        kind = PG_ARROW_TYPES.get(col.type_code)
        if kind is None:
            return None
        types[col.name] = kind
    return types


def compiled_sql(conn: sa.Connection, stmt: sa.Select, cursor) -> str:
    """The statement as SQL text with its parameters bound by the driver (psycopg2 ``mogrify`` quotes them)."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return cursor.mogrify(str(compiled), compiled.params).decode("utf-8")


def parse_copy_csv(data: bytes, names: Sequence[str], types: Mapping[str, str]) -> pd.DataFrame:
    """A ``COPY ... (FORMAT csv, HEADER)`` output as a frame with the database's types: an unquoted empty field is
    NULL, a quoted one an empty string; dates become ``datetime64[s]``, timestamps with a zone naive UTC."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    kinds = {name: pa.type_for_alias(types[name]) if "tz=" not in types[name] else pa.timestamp("us", tz="UTC")
             for name in names}
    table = pcsv.read_csv(io.BytesIO(data),
                          read_options=pcsv.ReadOptions(column_names=list(names), skip_rows=1),
                          convert_options=pcsv.ConvertOptions(column_types=kinds, null_values=[""],
                                                              strings_can_be_null=True,
                                                              quoted_strings_can_be_null=False,
                                                              true_values=["t"], false_values=["f"]))
    df = table.to_pandas()
    for name in names:
        if getattr(df[name].dtype, "tz", None) is not None:
            df[name] = df[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


def copy_frame(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame | None:
    """The statement's rows through ``COPY (...) TO STDOUT`` (psycopg2), in the connection's transaction; None when
    a column type or a value is beyond the fast path (the caller falls back to ``pd.read_sql``)."""
    import pyarrow as pa

    cursor = conn.connection.dbapi_connection.cursor()
    try:
        sql = compiled_sql(conn, stmt, cursor)
        cursor.execute(f"SELECT * FROM ({sql}) AS personatwin_probe LIMIT 0")
        names = [c.name for c in cursor.description]
        types = arrow_schema(cursor.description)
        if types is None or len(set(names)) != len(names):
            return None
        buffer = io.BytesIO()
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", buffer)
    finally:
        cursor.close()
    try:
        return parse_copy_csv(buffer.getvalue(), names, types)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. a date 'infinity' or before year 1
        return None


def normalize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Database values as the file source types them: date objects to ``datetime64[s]``, datetimes to naive UTC,
    decimals to float (one vectorized conversion per column)."""
    out = {}
    for name in df.columns:
        s = df[name]
        if s.dtype == object:
            kind = pd.api.types.infer_dtype(s, skipna=True)
            if kind == "date":
                s = pd.Series(s.to_numpy(dtype="datetime64[s]"), index=s.index, name=name)
            elif kind == "datetime":
                s = pd.to_datetime(s, utc=True).dt.tz_localize(None)
            elif kind == "decimal":
                s = s.astype("float64")
        elif getattr(s.dtype, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        out[name] = s
    return pd.DataFrame(out, index=df.index)


def fetch(conn: sa.Connection, stmt: sa.Select, fast: bool = True) -> pd.DataFrame:
    """The statement's rows as a frame indexed by ``row`` (1-based position in the ordered result)."""
    df = copy_frame(conn, stmt) if fast and is_psycopg2(conn) else None
    if df is None:
        try:
            df = normalize_frame(pd.read_sql(stmt, conn))
        except pd.errors.DatabaseError as exc:  # pandas wraps the driver's error: the caller classifies that one
            raise (exc.__cause__ or exc) from None
    df.index = pd.RangeIndex(1, len(df) + 1, name=ROW)
    return df


# --- the sensor's fingerprints ------------------------------------------------------------------------------

def period_fingerprints(days: pd.DataFrame, keys: Sequence[str], starts: Sequence[pd.Timestamp],
                        last_end: pd.Timestamp) -> dict[str, str]:
    """{partition key: fingerprint} from rows per day (columns ``day``, ``rows``, ``changed``): the period's row
    count and a hash of its per-day counts and latest change values, e.g. ``103729-1f0c2a9be41d``. Days before the
    first partition or from ``last_end`` on (a period not yet complete) are left out."""
    if days.empty or not len(keys):
        return {}
    day = pd.to_datetime(days["day"]).to_numpy(dtype="datetime64[s]")
    bounds = np.asarray(pd.DatetimeIndex(starts).to_numpy(dtype="datetime64[s]"))
    pos = np.searchsorted(bounds, day, side="right") - 1
    ok = (pos >= 0) & (day < np.datetime64(pd.Timestamp(last_end).to_datetime64(), "s"))
    if not ok.any():
        return {}
    part = pd.DataFrame({"period": np.asarray(keys, dtype=object)[pos[ok]], "day": day[ok],
                         "rows": days["rows"].to_numpy()[ok].astype(np.int64),
                         "changed": days["changed"].astype("string").fillna("").to_numpy()[ok]})
    part = part.sort_values(["period", "day"], kind="stable")
    line = (part["day"].dt.strftime("%Y-%m-%d") + "," + part["rows"].astype(str) + "," + part["changed"])
    text = line.groupby(part["period"], sort=True).agg("\n".join)
    total = part.groupby("period", sort=True)["rows"].sum()
    return {str(p): f"{int(total[p])}-{sha256(t.encode()).hexdigest()[:12]}" for p, t in text.items()}


def key_bounds(periods: Sequence[str]) -> tuple[list[str], pd.DatetimeIndex, pd.Timestamp]:
    """Consecutive partition keys (``2024-03``, ``2024-03-04``) as (keys, start times, end of the last period): the
    last end from the keys' frequency (months, quarters, weeks, days, as pandas infers it); with too few keys to
    tell, the last period is left out (its end is unknown)."""
    keys = [str(p) for p in periods]
    if not keys:
        return [], pd.DatetimeIndex([]), pd.Timestamp.min
    starts = pd.DatetimeIndex(pd.to_datetime(keys, format="ISO8601"))
    freq = pd.DatetimeIndex(starts, freq="infer").freq if len(starts) >= 3 else None
    if freq is None:
        return keys[:-1], starts[:-1], starts[-1]
    return keys, starts, starts[-1] + freq


# --- the resource ---------------------------------------------------------------------------------------------

class SqlSourceResource(dg.ConfigurableResource):
    """People and events in a SQL database (SQLAlchemy URL from ``url_env``, password optionally apart in
    ``password_env``: names of environment variables, so neither secret enters config, the UI or a message)."""

    url_env: str = ENV_URL
    password_env: str = ENV_PASSWORD
    people: str = "people"  # table, schema.table, or a SELECT query
    events: str = "events"
    domain: str = "criminal_justice"
    column_mapping: dict[str, str] = {}
    event_date_column: str = "event_date"  # source name (or map one to event_date in column_mapping)
    person_id_column: str = "person_id"
    change_column: str = ""  # optional last-modified column of the events: the sensor sees updated rows
    fast_path: bool = True  # PostgreSQL/psycopg2: COPY ... TO STDOUT instead of pd.read_sql
    connect_timeout: int = 10

    def get_domain(self) -> Domain:
        """The domain of the source data."""
        return get_domain(self.domain)

    def url(self) -> URL:
        """The database URL from the environment (password from ``password_env`` if set there)."""
        text = os.environ.get(self.url_env, "")
        if not text.strip():
            raise InputError(f"SQL source: {setting('url')} is not set; set {self.url_env} to a SQLAlchemy URL "
                             "such as postgresql://user@host:5432/database")
        return source_url(text, os.environ.get(self.password_env, ""))

    def relations(self) -> dict[str, Relation]:
        """The people and events relations as configured."""
        return {"people": Relation("people", self.people), "events": Relation("events", self.events)}

    def describe(self) -> tuple[str, ...]:
        """What is read, for metadata and logs: masked URL and each relation (queries by their hash)."""
        url = masked(self.url())
        out = []
        for rel in self.relations().values():
            what = f"query sha256:{sha256(rel.query().encode()).hexdigest()[:12]}" if rel.is_query else \
                f"table {rel.text.strip()}"
            out.append(f"{url} {rel.role}: {what}")
        return tuple(out)

    def _columns(self, conn: sa.Connection, rel: Relation, url: URL) -> list[tuple[str, sa.types.TypeEngine | None]]:
        """The relation's columns (and, for a table, their types), without reading a row."""
        try:
            if rel.is_query:
                probe = sa.select(sa.literal_column("*")).select_from(
                    sa.text(rel.query()).columns().subquery(f"personatwin_{rel.role}")).limit(0)
                return [(str(k), None) for k in conn.execute(probe).keys()]
            schema_name, name = rel.table_name()
            inspector = sa.inspect(conn)
            if not inspector.has_table(name, schema=schema_name):
                where = f" in schema {schema_name!r}" if schema_name else ""
                query = " (a query must start with SELECT, WITH or a parenthesis)" if " " in name.strip() else ""
                raise InputError(f"SQL source {masked(url)}: the {rel.label()} does not exist{where} (names are "
                                 f"case-sensitive as stored; PostgreSQL stores unquoted names in lower case){query}")
            return [(str(c["name"]), c["type"]) for c in inspector.get_columns(name, schema=schema_name)]
        except db_errors(conn) as exc:
            raise query_error(exc, url, rel.label()) from None

    def _mapped(self, columns: Mapping[str, list[str]], mapping: dict[str, str], url: URL) -> Ingested:
        """load_input on the columns alone (no rows): the mapping, identifier names and required columns checked
        before anything is read, with the relations named in messages."""
        empty = {role: pd.DataFrame({c: pd.Series(dtype="string") for c in cols}) for role, cols in columns.items()}
        rels = self.relations()
        try:
            return load_input(people=empty["people"], events=empty["events"], domain=self.get_domain(),
                              column_mapping=mapping or None)
        except DirectIdentifierError as exc:
            raise DirectIdentifierError(exc.findings, f"SQL source {masked(url)}: {exc}") from None
        except InputError as exc:
            text = str(exc)
            for role, rel in rels.items():
                text = text.replace(f"{role} (DataFrame)", rel.label())
            raise InputError(f"SQL source {masked(url)}: {text}") from None

    def _check_named(self, columns: Mapping[str, list[str]], mapping: Mapping[str, str], url: URL) -> None:
        """The date and person id columns named by a setting or the mapping exist in the tables that need them (a
        default name is left to ingest, which also recognizes its spellings)."""
        rels = self.relations()
        needs = ((schema.EVENT_DATE, "event_date_column", ("events",)),
                 (schema.PERSON_ID, "person_id_column", ("events", "people")))
        for target, name, roles in needs:
            source = next((s for s, t in mapping.items() if t == target), target)
            if source == target:
                continue
            for role in roles:
                if source.lower() not in {c.lower() for c in columns[role]}:
                    raise InputError(f"SQL source {masked(url)}: the {rels[role].label()} has no column {source!r} "
                                     f"(named by {setting(name)} or {setting('column_mapping')}); its columns: "
                                     f"{', '.join(columns[role])}")

    def _layout(self, conn: sa.Connection, url: URL) -> Layout:
        """Columns of both relations, checked and mapped as ingest will (no row read)."""
        rels = self.relations()
        typed = {role: self._columns(conn, rel, url) for role, rel in rels.items()}
        columns = {role: [name for name, _ in cols] for role, cols in typed.items()}
        mapping = effective_mapping(self.column_mapping, self.event_date_column, self.person_id_column)
        self._check_named(columns, mapping, url)
        ing = self._mapped(columns, mapping, url)
        people = source_names(columns["people"], list(ing.people.columns), ing.renamed)
        events = source_names(columns["events"], list(ing.events.columns), ing.renamed)
        date = events[schema.EVENT_DATE]
        kind = dict(typed["events"]).get(date)
        if kind is not None and not isinstance(kind, (sa.Date, sa.DateTime, sa.types.NullType)):
            raise InputError(f"SQL source {masked(url)}: column {date!r} of the {rels['events'].label()} is "
                             f"{kind} in the database, not a DATE or TIMESTAMP, so the release period cannot be "
                             f"selected by date ({setting('event_date_column')}); read it through an events query "
                             f"that converts it (SELECT ..., CAST({date} AS DATE) AS {date} FROM ...)")
        if self.change_column and self.change_column not in columns["events"]:
            raise InputError(f"SQL source {masked(url)}: the {rels['events'].label()} has no column "
                             f"{self.change_column!r} ({setting('change_column')})")
        return Layout(events=rels["events"].source(columns["events"]),
                      people=rels["people"].source(columns["people"]), date=date,
                      events_pid=events[schema.PERSON_ID], people_pid=people[schema.PERSON_ID],
                      events_order=ordering(events, [schema.PERSON_ID, schema.EVENT_DATE], list(ing.events.columns)),
                      people_order=ordering(people, [schema.PERSON_ID], list(ing.people.columns)), mapping=mapping)

    def _date_hint(self, layout: Layout) -> str:
        """What a failed events read may mean: the date column must be a DATE or TIMESTAMP column."""
        return (f"the period is selected with WHERE {layout.date} >= :period_start AND {layout.date} < :period_end: "
                f"{layout.date!r} ({setting('event_date_column')}) must be a DATE or TIMESTAMP column")

    def read_partition(self, partition_key: str, start: pd.Timestamp, end: pd.Timestamp) -> SourceSlice:
        """The events dated in [start, end) and the people they involve, read with the range pushed down, through
        ingest (``load_input``) like the file source."""
        url = self.url()
        rels = self.relations()
        with connected(url, self.connect_timeout) as conn:
            layout = self._layout(conn, url)
            errors = db_errors(conn)
            try:
                events = fetch(conn, events_statement(layout, start, end), self.fast_path)
            except errors as exc:
                raise query_error(exc, url, rels["events"].label(), self._date_hint(layout)) from None
            if len(events) and not pd.api.types.is_datetime64_any_dtype(events[layout.date].dtype):
                raise InputError(f"SQL source {masked(url)}: column {layout.date!r} of the {rels['events'].label()} "
                                 f"holds {events[layout.date].dtype} values, not dates; {self._date_hint(layout)}")
            if not len(events):
                raise InputError(f"SQL source {masked(url)}: the {rels['events'].label()} has no events dated in "
                                 f"period {partition_key} ({start.date()} to {end.date()}): nothing to release")
            try:
                people = fetch(conn, people_statement(layout, start, end), self.fast_path)
                undated = int(conn.execute(undated_statement(layout)).scalar_one())
            except errors as exc:
                raise query_error(exc, url, rels["people"].label()) from None
        try:
            ingested = load_input(people=people, events=events, domain=self.get_domain(),
                                  column_mapping=layout.mapping or None)
        except InputError as exc:
            raise InputError(f"SQL source {masked(url)}: {exc}") from None
        return SourceSlice(ingested, self.describe(), undated)

    def period_versions(self, periods: list[str]) -> dict[str, str]:
        """The data version of each period (of ``periods``, consecutive partition keys; those with events): its
        fingerprint (row count, rows per day, latest change column value), as the file source gives its files'
        modification times."""
        keys, starts, last_end = key_bounds(periods)
        return {p: f"rows:{v}" for p, v in period_fingerprints(self.day_counts(), keys, starts, last_end).items()}

    def day_counts(self) -> pd.DataFrame:
        """Events per day of their date (``day``, ``rows``, ``changed``: the latest change column value or NULL):
        one aggregate over the events, what the sensor fingerprints periods with."""
        url = self.url()
        with connected(url, self.connect_timeout) as conn:
            layout = self._layout(conn, url)
            try:
                result = conn.execute(day_counts_statement(layout, self.change_column))
                days = pd.DataFrame.from_records(result.fetchall(), columns=["day", "rows", "changed"])
            except db_errors(conn) as exc:
                raise query_error(exc, url, self.relations()["events"].label(), self._date_hint(layout)) from None
        return days
