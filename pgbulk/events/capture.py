"""Install, remove and inspect change capture: the outbox and the row triggers.

``install`` creates the outbox (once per database) and the ``pgbulk_capture`` triggers
on the tables of the dataset loaded in one schema (as its ledger records it), or on the
tables named; ``uninstall`` drops the schema's triggers and, on request, the outbox.
Both are idempotent. The SQL lives in ``pgbulk/sql/events/``.

Bulk loads never fire the triggers: the loader refuses to resume into tables that have
triggers, a fresh load recreates the tables bare, and ``install`` refuses a schema
whose load is not complete. So capture starts with the first change after the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

import psycopg
from psycopg import sql

from pgbulk import dsn as dsns
from pgbulk import ledger
from pgbulk.errors import EventsError

TRIGGER_NAME = "pgbulk_capture"
OUTBOX = "pgbulk.outbox"
#: How many distinct parking reasons ``status`` lists.
PARKED_ERRORS_SHOWN = 10


def _sql(name: str, table: sql.Identifier | None = None) -> sql.SQL | sql.Composed:
    text = (resources.files("pgbulk") / "sql" / "events" / name).read_text(encoding="utf-8")
    if table is None:
        return sql.SQL(text)
    return sql.SQL(text).format(table=table)


@dataclass(frozen=True)
class CaptureStatus:
    """What ``pgbulk events status`` shows for one target schema."""

    schema: str
    triggers: dict[str, bool]
    outbox: bool
    pending: int = 0
    delivered: int = 0
    parked: int = 0
    oldest_pending: datetime | None = None
    #: (error text, number of parked events with it), most frequent first.
    parked_errors: list[tuple[str, int]] = field(default_factory=list)

    @property
    def installed(self) -> bool:
        return self.outbox and bool(self.triggers) and all(self.triggers.values())

    def summary(self) -> str:
        on = [t for t, yes in self.triggers.items() if yes]
        capture = ("installed on " + ", ".join(on) if on else "not installed") + (
            "" if self.outbox else " (no outbox)"
        )
        lines = [
            f"pgbulk events: schema {self.schema}: capture {capture}",
            f"  pending   {self.pending:>12,}"
            + (
                f"  (oldest from {self.oldest_pending:%Y-%m-%d %H:%M:%S %Z})"
                if self.oldest_pending
                else ""
            ),
            f"  delivered {self.delivered:>12,}",
            f"  parked    {self.parked:>12,}",
        ]
        if self.parked_errors:
            lines.append("  parked because (count, last error):")
            lines.extend(f"  {count:>10,}  {error}" for error, count in self.parked_errors)
            lines.append("  fix the cause, then `pgbulk events requeue` sends them again")
        return "\n".join(lines)


def install(
    dsn: str,
    schema_name: str = "public",
    *,
    tables: Sequence[str] | None = None,
    allow_incomplete: bool = False,
) -> list[str]:
    """Create the outbox (if missing) and the capture triggers; return the tables captured.

    ``tables`` defaults to those of the dataset the schema's ledger records.
    """
    with dsns.connect(dsn) as conn:
        record = ledger.read(conn, schema_name)
        if tables is None:
            if record is None:
                raise EventsError(
                    f"no pgbulk dataset is recorded in schema {schema_name}: load one first "
                    "(pgbulk load), or name the tables to capture with --table"
                )
            tables = record.dataset().table_names
        _require_tables(conn, schema_name, tables)
        if not allow_incomplete and record is not None and record.state != "complete":
            raise EventsError(
                f"the pgbulk load into schema {schema_name} is {record.state}, not complete: "
                "triggers would fire for every row it still loads. Finish it first "
                "(pgbulk resume / pgbulk finalize), then install"
            )
        conn.execute(_sql("outbox.sql"))
        for table in tables:
            conn.execute(_sql("triggers.sql", sql.Identifier(schema_name, table)))
    return list(tables)


def uninstall(
    dsn: str, schema_name: str = "public", *, drop_outbox: bool = False, force: bool = False
) -> int:
    """Drop the schema's capture triggers; with ``drop_outbox`` also the outbox.

    Dropping the outbox loses its undelivered events, so it is refused while any are
    pending unless ``force``. Returns how many pending events were dropped.
    """
    with dsns.connect(dsn) as conn:
        for table in _triggered_tables(conn, schema_name):
            conn.execute(_sql("drop_triggers.sql", sql.Identifier(schema_name, table)))
        if not drop_outbox:
            return 0
        pending = _count_pending(conn) if _outbox_exists(conn) else 0
        if pending and not force:
            raise EventsError(
                f"the outbox still holds {pending:,} undelivered events: run `pgbulk relay` "
                "until they are delivered, or add --force to drop them anyway"
            )
        elsewhere = _schemas_with_triggers(conn)
        if elsewhere:
            raise EventsError(
                f"capture is still installed in schema(s) {', '.join(elsewhere)}, which write "
                "to the outbox: uninstall there first (pgbulk events uninstall --schema ...)"
            )
        conn.execute(_sql("drop_outbox.sql"))
        return pending


def status(dsn: str, schema_name: str = "public") -> CaptureStatus:
    """Triggers present and the outbox's events of this schema by delivery state."""
    with dsns.connect(dsn, autocommit=True) as conn:
        triggers = _triggers(conn, schema_name)
        if not _outbox_exists(conn):
            return CaptureStatus(schema_name, triggers, outbox=False)
        counts = dict.fromkeys(("pending", "delivered", "parked"), 0)
        for state, n in conn.execute(
            f"SELECT state, count(*) FROM {OUTBOX} WHERE table_schema = %s GROUP BY state",
            (schema_name,),
        ):
            counts[state] = n
        oldest = conn.execute(
            f"SELECT min(created_at) FROM {OUTBOX} WHERE state = 'pending' AND table_schema = %s",
            (schema_name,),
        ).fetchone()
        errors = conn.execute(
            f"SELECT coalesce(last_error, '(no error recorded)'), count(*) FROM {OUTBOX}"
            " WHERE state = 'parked' AND table_schema = %s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s",
            (schema_name, PARKED_ERRORS_SHOWN),
        ).fetchall()
    return CaptureStatus(
        schema_name,
        triggers,
        outbox=True,
        pending=counts["pending"],
        delivered=counts["delivered"],
        parked=counts["parked"],
        oldest_pending=oldest[0] if oldest else None,
        parked_errors=[(str(e), int(n)) for e, n in errors],
    )


def requeue(dsn: str, schema_name: str = "public") -> int:
    """Make the schema's parked events pending again (after fixing what parked them).

    They are sent again in id order; a row's later events that were delivered meanwhile
    have already arrived, so consumers see these late (docs/events.md).
    """
    with dsns.connect(dsn) as conn:
        if not _outbox_exists(conn):
            return 0
        cur = conn.execute(
            f"UPDATE {OUTBOX} SET state = 'pending', attempts = 0"
            " WHERE state = 'parked' AND table_schema = %s",
            (schema_name,),
        )
        return cur.rowcount


def purge(dsn: str, schema_name: str = "public", *, older_than: str = "7 days") -> int:
    """Delete the schema's delivered events delivered more than ``older_than`` (a
    PostgreSQL interval, e.g. ``'12 hours'``) ago. Pending and parked events stay."""
    with dsns.connect(dsn) as conn:
        if not _outbox_exists(conn):
            return 0
        try:
            cur = conn.execute(
                f"DELETE FROM {OUTBOX} WHERE state = 'delivered' AND table_schema = %s"
                " AND delivered_at < now() - %s::interval",
                (schema_name, older_than),
            )
        except psycopg.DataError:
            raise EventsError(
                f"--older-than {older_than!r} is not a PostgreSQL interval "
                "(examples: '7 days', '12 hours', '0')"
            ) from None
        return cur.rowcount


# ---------------------------------------------------------------------- catalog


def _require_tables(conn: psycopg.Connection, schema_name: str, tables: Sequence[str]) -> None:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')",
        (schema_name, list(tables)),
    ).fetchall()
    missing = [t for t in tables if (t,) not in rows]
    if missing:
        raise EventsError(
            f"table(s) {', '.join(missing)} not found in schema {schema_name}: load the dataset "
            "first (pgbulk load), or name its schema with --schema"
        )


def _triggered_tables(conn: psycopg.Connection, schema_name: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND t.tgname = %s ORDER BY 1",
        (schema_name, TRIGGER_NAME),
    ).fetchall()
    return [r[0] for r in rows]


def _triggers(conn: psycopg.Connection, schema_name: str) -> dict[str, bool]:
    """Whether each table of the recorded dataset (and any other) has the capture trigger."""
    present = _triggered_tables(conn, schema_name)
    record = ledger.read(conn, schema_name)
    tables = list(record.dataset().table_names) if record else []
    return {t: t in present for t in [*tables, *(p for p in present if p not in tables)]}


def _schemas_with_triggers(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT n.nspname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname = %s ORDER BY 1",
        (TRIGGER_NAME,),
    ).fetchall()
    return [r[0] for r in rows]


def _outbox_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (OUTBOX,)).fetchone()
    return bool(row and row[0])


def _count_pending(conn: psycopg.Connection) -> int:
    row = conn.execute(f"SELECT count(*) FROM {OUTBOX} WHERE state = 'pending'").fetchone()
    return int(row[0]) if row else 0
