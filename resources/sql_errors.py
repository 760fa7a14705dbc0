"""The SQL source's connection URL and its errors: clear messages naming the setting, never the password or a value.

A URL whose driver name is exactly ``postgresql`` is read as ``postgresql+psycopg2``: SQLAlchemy 2.1 maps the bare
name to psycopg 3, which the project does not install (psycopg2 is dagster-postgres's driver too). Every message
shows the URL with its password masked (``render_as_string(hide_password=True)``). A driver's own text is shown
only where it names objects (connection failures, unknown tables, columns, operators), with the password scrubbed;
data errors (SQLSTATE class 22) quote values, so only their SQLSTATE is shown.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from personatwin.core.errors import InputError

ENV_URL = "PERSONATWIN_SOURCE_URL"
ENV_PASSWORD = "PERSONATWIN_SOURCE_PASSWORD"
MASK = "***"

# Resource settings and the environment variables that set them (personatwin_dag/environments.py).
SETTING_ENV = {
    "url": ENV_URL,
    "password": ENV_PASSWORD,
    "people": "PERSONATWIN_SOURCE_PEOPLE",
    "events": "PERSONATWIN_SOURCE_EVENTS",
    "event_date_column": "PERSONATWIN_SOURCE_DATE_COLUMN",
    "person_id_column": "PERSONATWIN_SOURCE_PERSON_COLUMN",
    "change_column": "PERSONATWIN_SOURCE_CHANGE_COLUMN",
    "column_mapping": "PERSONATWIN_SOURCE_COLUMN_MAPPING",
}

# Connection failures, recognized in the driver's text (psycopg2 gives them no SQLSTATE).
CONNECT_REASONS = (
    (re.compile(r"password authentication failed|authentication failed|no password supplied|access denied"
                r"|login failed|invalid username/password", re.I),
     "wrong credentials: the server refused the user name or password"),
    (re.compile(r'role "[^"]*" does not exist', re.I), "wrong credentials: the server has no such user"),
    (re.compile(r'database "[^"]*" does not exist|unknown database', re.I),
     "the database named in the URL does not exist on the server"),
    (re.compile(r"connection refused|could not translate host name|name or service not known|no route to host"
                r"|timeout expired|timed out|network is unreachable|could not connect|can't connect", re.I),
     "the database server cannot be reached (host, port, network or firewall)"),
)

# What a failed query means, by SQLSTATE (PostgreSQL's codes; other drivers may not give one).
SQLSTATE_REASONS = {
    "42P01": "a table or view it names does not exist",
    "42703": "a column it names does not exist",
    "42883": "an operator does not apply to the column's type (is a date column text or a number?)",
    "42804": "a column's type does not match its use (is a date column text or a number?)",
    "42601": "SQL syntax error",
    "42501": "the database user may not read it",
    "3F000": "the schema it names does not exist",
    "57014": "the statement was cancelled (statement timeout)",
}
NAMES_ONLY_CLASSES = ("42", "3F")  # SQLSTATE classes whose driver messages name objects, never values
TYPE_CODES = ("42883", "42804")  # a column's type does not fit: the caller's hint says which column must be what


def setting(name: str) -> str:
    """A resource setting as messages name it: ``events (PERSONATWIN_SOURCE_EVENTS)``."""
    env = SETTING_ENV.get(name)
    return f"{name} ({env})" if env else name


def source_url(text: str, password: str = "") -> URL:
    """The SQLAlchemy URL of ``text`` with ``password`` (if any) set, ``postgresql`` read as psycopg2; an
    unparseable URL is an InputError that does not echo it (it may hold the password)."""
    if not text.strip():
        raise InputError(f"SQL source: {setting('url')} is empty; set it to a SQLAlchemy URL such as "
                         "postgresql://user@host:5432/database")
    try:
        url = make_url(text.strip())
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise InputError(f"SQL source: {setting('url')} is not a SQLAlchemy URL (dialect+driver://user:password"
                         "@host:port/database); its text is not shown, since it may hold a password") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url.set(password=password) if password else url


def masked(url: URL) -> str:
    """The URL as messages show it: the password replaced by ***."""
    return url.render_as_string(hide_password=True)


def secrets_of(url: URL) -> tuple[str, ...]:
    """The password as it may appear in a driver's text: raw and URL-quoted."""
    pw = url.password
    if not pw:
        return ()
    text = str(pw)
    return tuple(sorted({text, quote(text, safe=""), quote_plus(text)}, key=len, reverse=True))


def scrub(text: str, url: URL) -> str:
    """``text``'s first line, shortened, with any occurrence of the password masked."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    for secret in secrets_of(url):
        line = line.replace(secret, MASK)
    return line[:300]


def driver_error(exc: BaseException) -> BaseException:
    """The DBAPI exception inside a SQLAlchemy one (or ``exc`` itself)."""
    return getattr(exc, "orig", None) or exc


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, if its driver gives one (psycopg2: ``pgcode``; psycopg 3: ``sqlstate``)."""
    orig = driver_error(exc)
    return getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)


def connect_error(exc: BaseException, url: URL) -> InputError:
    """A failed connection as an InputError: the masked URL, the reason, the settings to check, the driver's
    first line with the password scrubbed."""
    text = str(driver_error(exc))
    reason = next((why for pattern, why in CONNECT_REASONS if pattern.search(text)), "the connection failed")
    check = setting("url") + (f" and {setting('password')}" if "credentials" in reason else "")
    detail = scrub(text, url)
    return InputError(f"SQL source {masked(url)}: cannot connect: {reason}; check {check}"
                      + (f" (driver: {type(driver_error(exc)).__name__}: {detail})" if detail else ""))


def query_error(exc: BaseException, url: URL, what: str, hint: str = "") -> InputError:
    """A failed statement on ``what`` (e.g. "events table 'events' (events (PERSONATWIN_SOURCE_EVENTS))") as an
    InputError: the SQLSTATE and its meaning; the driver's text only for classes that name objects, never values;
    ``hint`` when the error is about a column's type (or the driver gives no SQLSTATE)."""
    code = sqlstate(exc)
    orig = driver_error(exc)
    reason = SQLSTATE_REASONS.get(code or "", "")
    if not reason and code and code.startswith("22"):
        reason = "a value cannot be converted to the column's type (values are not shown)"
    detail = ""
    if code and code.startswith(NAMES_ONLY_CLASSES):
        primary = getattr(getattr(orig, "diag", None), "message_primary", None) or str(orig)
        detail = scrub(primary, url)
    parts = [f"SQL source {masked(url)}: reading the {what} failed",
             f"({type(orig).__name__}" + (f", SQLSTATE {code}" if code else "") + ")"]
    if reason:
        parts.append(f"- {reason}")
    if detail:
        parts.append(f"- database says: {detail}")
    if hint and (code is None or code in TYPE_CODES):
        parts.append(f"- {hint}")
    return InputError(" ".join(parts))


def engine_for(url: URL, connect_timeout: int = 10) -> sa.Engine:
    """An engine without a pool (one connection per read); psycopg2 sessions in UTC, with a connect timeout. An
    unknown dialect or a missing driver is an InputError naming the URL setting."""
    args: dict = {}
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg2":
        args = {"connect_timeout": int(connect_timeout), "options": "-c TimeZone=UTC",
                "application_name": "personatwin"}
    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=args)
    except sa.exc.NoSuchModuleError:
        raise InputError(f"SQL source {masked(url)}: SQLAlchemy has no dialect {url.drivername!r}; "
                         f"check {setting('url')}") from None
    except ImportError as exc:
        raise InputError(f"SQL source {masked(url)}: the database driver for {url.drivername!r} is not installed "
                         f"({exc.name or 'module'}); install it or change {setting('url')}") from None
