"""A fresh PostgreSQL database per test on the machine's server (127.0.0.1:5432, trust auth), dropped after."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"


def connect(dbname: str = "postgres"):
    """A psycopg2 connection (autocommit) to ``dbname``; skips the test when no server answers."""
    import psycopg2

    try:
        conn = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=dbname, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {HOST}:{PORT} ({str(exc).strip()[:120]})")
    conn.autocommit = True
    return conn


@contextmanager
def fresh_database(prefix: str = "personatwin_test") -> Iterator[str]:
    """Create a database with a unique name, yield its name, drop it (with any connection left) after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = connect()
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def database_text(dbname: str) -> str:
    """Every row of every table of the database, as PostgreSQL's text COPY writes it (for leak scans)."""
    conn = connect(dbname)
    out = io.StringIO()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
            tables = cur.fetchall()
            for schema, table in tables:
                out.write(f"-- {schema}.{table}\n")
                cur.copy_expert(f'COPY "{schema}"."{table}" TO STDOUT', out)
    finally:
        conn.close()
    return out.getvalue()


def execute(dbname: str, *statements: str) -> None:
    """Run statements on ``dbname`` (autocommit)."""
    conn = connect(dbname)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()
