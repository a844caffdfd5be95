"""The relay's side of the outbox: lease a batch of pending events, record the outcomes.

No transaction stays open while the relay talks HTTP. A batch is claimed by one
autocommitted statement that leases it (``leased_until``, ``leased_by``); the relay then
sends it and records every outcome in one short transaction. A relay that dies between
the two leaves a lease that expires, after which any relay takes the events again
(at least once: duplicates carry the same event_id). So vacuum is never held back by a
relay, and a server's ``idle_in_transaction_session_timeout`` cannot cut a batch short.

Per-row order across relays: a relay takes an event only if no earlier event of the
same row is still pending outside its own claim. An earlier event that another relay
holds (leased, or locked by its claim at this very moment) therefore blocks the later
ones until it is delivered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

from pgbulk.errors import EventsError

#: The channel ``pgbulk.capture_change()`` notifies at commit.
CHANNEL = "pgbulk_events"

#: Delivered events deleted per statement by the retention purge (short transactions).
PURGE_CHUNK = 10_000

# old/new come back as jsonb text, not parsed: they go into the request body as
# they are, so numbers and key order reach the function exactly as PostgreSQL wrote them.
# RETURNING has no order: claim() sorts by id.
_CLAIM = """
WITH candidates AS (
    SELECT id, table_schema, table_name, row_id
    FROM pgbulk.outbox
    WHERE state = 'pending' AND (leased_until IS NULL OR leased_until < now())
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), batch AS (
    SELECT c.id FROM candidates c
    WHERE NOT EXISTS (
        SELECT 1 FROM pgbulk.outbox e
        WHERE e.state = 'pending'
          AND (e.table_schema, e.table_name, e.row_id) = (c.table_schema, c.table_name, c.row_id)
          AND e.id < c.id
          AND e.id NOT IN (SELECT id FROM candidates))
)
UPDATE pgbulk.outbox o
SET leased_until = now() + make_interval(secs => %(lease)s), leased_by = %(relay)s
FROM batch
WHERE o.id = batch.id
RETURNING o.id, o.event_id, o.table_schema, o.table_name, o.row_id, o.op,
          o.old_row::text, o.new_row::text, o.created_at, o.attempts
"""


@dataclass(frozen=True)
class OutboxEvent:
    """One captured change, as the relay sends it."""

    id: int
    event_id: uuid.UUID
    table_schema: str
    table_name: str
    row_id: str
    op: str
    old_row: str | None  # JSON text
    new_row: str | None  # JSON text
    created_at: datetime
    attempts: int

    @property
    def row_key(self) -> str:
        """``<schema>.<table>:<row id>``: the function's Pub/Sub ordering key."""
        return f"{self.table_schema}.{self.table_name}:{self.row_id}"


@dataclass
class Outcomes:
    """What became of a claimed batch, recorded by :func:`record` in one transaction."""

    delivered: list[int]
    parked: list[tuple[int, str]]  # (id, error)
    failed: list[tuple[int, str]]  # retried later; the attempt counts


def require_leases(conn: psycopg.Connection) -> None:
    """Refuse, with what to do, an outbox installed before leases existed."""
    row = conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('pgbulk.outbox')"
        " AND attname IN ('leased_until', 'leased_by') AND NOT attisdropped"
    ).fetchone()
    relay_status = conn.execute("SELECT to_regclass('pgbulk.relay_status') IS NOT NULL").fetchone()
    if not row or row[0] != 2 or not relay_status or not relay_status[0]:
        raise EventsError(
            "the outbox has no pgbulk.outbox lease columns or pgbulk.relay_status table (it was "
            "installed by an older pgbulk, or not at all): run `pgbulk events install` again"
        )


def claim(
    conn: psycopg.Connection, limit: int, *, lease_seconds: float, relay_id: uuid.UUID
) -> list[OutboxEvent]:
    """Lease and return up to ``limit`` deliverable events in id order (autocommit)."""
    rows = conn.execute(
        _CLAIM, {"limit": limit, "lease": lease_seconds, "relay": relay_id}
    ).fetchall()
    return sorted((OutboxEvent(*row) for row in rows), key=lambda e: e.id)


def record(conn: psycopg.Connection, claimed: list[OutboxEvent], outcomes: Outcomes) -> None:
    """The outcomes, and every other claimed event's lease released, in one transaction."""
    ids = [e.id for e in claimed]
    with conn.transaction():
        if outcomes.delivered:
            conn.execute(
                "UPDATE pgbulk.outbox SET state = 'delivered', delivered_at = now(),"
                " attempts = attempts + 1, last_error = NULL, leased_until = NULL,"
                " leased_by = NULL WHERE id = ANY(%s)",
                (outcomes.delivered,),
            )
        with conn.cursor() as cur:
            if outcomes.parked:
                cur.executemany(
                    "UPDATE pgbulk.outbox SET state = 'parked', attempts = attempts + 1,"
                    " last_error = %s, leased_until = NULL, leased_by = NULL"
                    " WHERE id = %s AND state = 'pending'",
                    [(error, i) for i, error in outcomes.parked],
                )
            if outcomes.failed:
                cur.executemany(
                    "UPDATE pgbulk.outbox SET attempts = attempts + 1, last_error = %s,"
                    " leased_until = NULL, leased_by = NULL WHERE id = %s AND state = 'pending'",
                    [(error, i) for i, error in outcomes.failed],
                )
        # Not sent (a failure stopped the batch) or refused as unauthorized: back to
        # the pool as they were, their attempts unchanged.
        conn.execute(
            "UPDATE pgbulk.outbox SET leased_until = NULL, leased_by = NULL"
            " WHERE id = ANY(%s) AND state = 'pending' AND leased_until IS NOT NULL",
            (ids,),
        )


def purge_delivered(conn: psycopg.Connection, retention: str) -> int:
    """Delete events delivered more than ``retention`` (a PostgreSQL interval) ago, in
    chunks of :data:`PURGE_CHUNK` so that no statement runs long (autocommit)."""
    total = 0
    while True:
        cur = conn.execute(
            "DELETE FROM pgbulk.outbox WHERE id IN (SELECT id FROM pgbulk.outbox"
            " WHERE state = 'delivered' AND delivered_at < now() - %s::interval LIMIT %s)",
            (retention, PURGE_CHUNK),
        )
        total += cur.rowcount
        if cur.rowcount < PURGE_CHUNK:
            return total


def check_interval(conn: psycopg.Connection, text: str) -> None:
    try:
        conn.execute("SELECT %s::interval", (text,))
    except psycopg.DataError:
        raise EventsError(
            f"retention {text!r} is not a PostgreSQL interval (examples: '7 days', '12 hours')"
        ) from None


# ---------------------------------------------------------------------- blocked relays


@dataclass(frozen=True)
class Blocked:
    """A relay that the function refuses: since when, why, and the last answer."""

    relay_id: uuid.UUID
    url: str
    since: datetime
    reason: str
    last_error: str | None


#: A blocked relay that has not written for this long is taken to be gone.
STALE_AFTER = "1 hour"


def set_blocked(
    conn: psycopg.Connection, relay_id: uuid.UUID, url: str, reason: str, error: str
) -> datetime:
    """Record (or refresh) that this relay is blocked; returns since when."""
    row = conn.execute(
        "INSERT INTO pgbulk.relay_status (relay_id, url, blocked_since, blocked_reason,"
        " last_error) VALUES (%s, %s, now(), %s, %s) ON CONFLICT (relay_id) DO UPDATE SET"
        " blocked_reason = EXCLUDED.blocked_reason, last_error = EXCLUDED.last_error,"
        " seen_at = now() RETURNING blocked_since",
        (relay_id, url, reason, error),
    ).fetchone()
    assert row is not None
    since: datetime = row[0]
    return since


def clear_blocked(conn: psycopg.Connection, relay_id: uuid.UUID) -> None:
    conn.execute("DELETE FROM pgbulk.relay_status WHERE relay_id = %s", (relay_id,))


def blocked(conn: psycopg.Connection) -> list[Blocked]:
    """The relays blocked now, the longest-blocked first."""
    if not conn.execute("SELECT to_regclass('pgbulk.relay_status') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
        return []
    rows = conn.execute(
        "SELECT relay_id, url, blocked_since, blocked_reason, last_error"
        " FROM pgbulk.relay_status WHERE seen_at > now() - %s::interval"
        " ORDER BY blocked_since",
        (STALE_AFTER,),
    ).fetchall()
    return [Blocked(*row) for row in rows]


def listen(conn: psycopg.Connection) -> None:
    conn.execute(f"LISTEN {CHANNEL}")
