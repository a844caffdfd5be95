"""Where to connect: resolve the DSN, open connections with errors a user can act on.

Order: an explicit DSN, ``PGBULK_DSN``, ``DATABASE_URL``, then libpq's own ``PG*``
variables; with none of them, the caller uses pgbulk's embedded server. Passwords
never reach a log or an error message: DSNs are shown through :func:`redact`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgbulk.errors import ConnectionFailed, PgbulkError

_LIBPQ_VARS = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")


def resolve(dsn: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The DSN to use, or None for the embedded server. ``""`` means libpq's PG* variables."""
    for candidate in (dsn, environ.get("PGBULK_DSN"), environ.get("DATABASE_URL")):
        if candidate:
            check(candidate)
            return candidate
    if any(environ.get(v) for v in _LIBPQ_VARS):
        return ""
    return None


def check(dsn: str) -> dict[str, str]:
    """Parse a DSN (key=value or URI) or raise a PgbulkError saying it does not parse."""
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError as e:
        raise PgbulkError(
            f"the DSN does not parse: {str(e).splitlines()[0]}; "
            "give key=value pairs or a postgresql:// URI"
        ) from None


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and reports."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    params.pop("password", None)
    return make_conninfo(**params) if params else "<libpq environment>"  # type: ignore[arg-type]


#: Connection retries of a load, and the first wait: 0.5, 1, 2, 4, 8, 8 s (about 23 s).
RETRIES = 6
BACKOFF_SECONDS = 0.5


def backoff(attempt: int, backoff_seconds: float = BACKOFF_SECONDS) -> float:
    """Seconds to wait before the ``attempt``-th retry (1-based): doubling, at most 8."""
    return min(8.0, backoff_seconds * 2.0 ** (attempt - 1))


def connect(
    dsn: str,
    *,
    autocommit: bool = False,
    application_name: str = "pgbulk",
    retries: int = 0,
    on_retry: Callable[[str, float], None] | None = None,
) -> psycopg.Connection:
    """A connection, or ConnectionFailed naming the server (never the password) and the cause.

    ``retries``: for a server this run has already reached, which may be restarting. A
    failure no server answered (refused, closed, no socket), or answered that it is
    starting up or shutting down, is tried again after :func:`backoff`, ``on_retry(reason,
    delay)`` told first; a refusal for a reason (a password, a database that does not
    exist) is not.
    """
    attempt = 0
    while True:
        try:
            return psycopg.connect(
                dsn, autocommit=autocommit, application_name=application_name, connect_timeout=10
            )
        except psycopg.OperationalError as e:
            reason = " ".join(str(e).split())
            attempt += 1
            if attempt > retries or not _restarting(reason):
                raise ConnectionFailed(
                    f"cannot connect to PostgreSQL ({redact(dsn)}): {reason}"
                ) from None
            delay = backoff(attempt)
            if on_retry is not None:
                on_retry(reason, delay)
            time.sleep(delay)
        except psycopg.ProgrammingError as e:
            raise PgbulkError(f"the DSN does not parse: {str(e).splitlines()[0]}") from None


def _restarting(reason: str) -> bool:
    """Whether a failed connection looks like a server going down or coming up. libpq
    gives no SQLSTATE for a failed connection: a server's refusal is a FATAL message."""
    return "FATAL" not in reason or "the database system is" in reason


def worker_connection(
    dsn: str, application_name: str, settings: Mapping[str, str]
) -> psycopg.Connection:
    """A worker's connection: autocommit, with its session settings applied.

    Autocommit, so that the only transactions are the units' own (``conn.transaction()``):
    a stray read, such as the ledger check after a reconnect, would otherwise open an
    implicit transaction that turns the next unit's into a savepoint, never committed.
    Raises psycopg's OperationalError as it is: the workers retry on it.
    """
    conn = psycopg.connect(
        dsn, application_name=application_name, connect_timeout=10, autocommit=True
    )
    for key, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, false)", (key, value))
    return conn


def scalar(conn: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> Any:
    """The first column of the first row of a query that always returns one."""
    row = conn.execute(query.encode(), params).fetchone()
    if row is None:
        raise PgbulkError(f"the server returned no row for: {query}")
    return row[0]


def with_dbname(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def after_connection_failure(
    conn: psycopg.Connection | None,
    error: psycopg.OperationalError,
    attempt: int,
    *,
    max_retries: int,
    backoff_seconds: float,
    stopping: bool,
    what: str,
) -> tuple[str, float]:
    """A worker's connection failed for the ``attempt``-th time: close it, and say why and
    how long to wait before the next try (0.5, 1, 2, 4, 8, 8 s with the defaults). After
    the last retry, or when the load is stopping, raise PgbulkError naming ``what``."""
    with contextlib.suppress(Exception):
        if conn is not None:
            conn.close()
    reason = " ".join(str(error).split()) or type(error).__name__
    if attempt > max_retries or stopping:
        raise PgbulkError(f"{what}: the connection failed {attempt} times, last: {reason}")
    return reason, backoff(attempt, backoff_seconds)
