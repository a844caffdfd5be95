"""The relay's side of the outbox: claim a batch of pending events, record the outcomes.

A batch is claimed with ``FOR UPDATE SKIP LOCKED`` inside the caller's transaction, so
several relays share the outbox without sending an event twice at the same time; the
row locks last until the caller commits the outcomes.

Per-row order across relays: a relay takes an event only if no earlier event of the
same row is still pending outside its own batch. An earlier event that another relay
holds (and SKIP LOCKED hid) therefore blocks the later ones until it is delivered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

#: The channel ``pgbulk.capture_change()`` notifies at commit.
CHANNEL = "pgbulk_events"

# old/new come back as jsonb text, not parsed: they go into the request body as
# they are, so numbers and key order reach the function exactly as PostgreSQL wrote them.
_CLAIM = """
WITH batch AS (
    SELECT id, event_id, table_schema, table_name, row_id, op,
           old_row::text AS old_row, new_row::text AS new_row, created_at, attempts
    FROM pgbulk.outbox
    WHERE state = 'pending'
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
SELECT id, event_id, table_schema, table_name, row_id, op, old_row, new_row, created_at, attempts
FROM batch b
WHERE NOT EXISTS (
    SELECT 1 FROM pgbulk.outbox e
    WHERE e.state = 'pending'
      AND (e.table_schema, e.table_name, e.row_id) = (b.table_schema, b.table_name, b.row_id)
      AND e.id < b.id
      AND e.id NOT IN (SELECT id FROM batch))
ORDER BY id
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


def claim(conn: psycopg.Connection, limit: int) -> list[OutboxEvent]:
    """Lock and return up to ``limit`` deliverable events in id order."""
    rows = conn.execute(_CLAIM, {"limit": limit}).fetchall()
    return [OutboxEvent(*row) for row in rows]


def mark_delivered(conn: psycopg.Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'delivered', delivered_at = now(),"
            " attempts = attempts + 1, last_error = NULL WHERE id = ANY(%s)",
            (ids,),
        )


def park(conn: psycopg.Connection, event_id: int, error: str) -> None:
    """Stop sending this event; it stays in the outbox with the reason."""
    conn.execute(
        "UPDATE pgbulk.outbox SET state = 'parked', attempts = attempts + 1, last_error = %s"
        " WHERE id = %s",
        (error, event_id),
    )


def record_failure(conn: psycopg.Connection, event_id: int, error: str) -> None:
    """A failed attempt that will be retried: the event stays pending."""
    conn.execute(
        "UPDATE pgbulk.outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
        (error, event_id),
    )


def listen(conn: psycopg.Connection) -> None:
    conn.execute(f"LISTEN {CHANNEL}")
