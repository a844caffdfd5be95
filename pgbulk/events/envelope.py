"""The request body: an outbox event in Hasura's event-trigger envelope. Pure.

The same envelope Hasura sends, so the function serves Hasura users too::

    {"id": "<event uuid>", "created_at": "2024-05-01T12:34:56.123456Z",
     "trigger": {"name": "pgbulk_capture"}, "table": {"schema": "public", "name": "users"},
     "event": {"op": "UPDATE", "data": {"old": {...}, "new": {...}}},
     "delivery_info": {"current_retry": 0, "max_retries": 0}}

The rows are PostgreSQL's own jsonb text, spliced in unparsed: a numeric keeps every
digit and nothing is decoded only to be encoded again.
"""

from __future__ import annotations

import json
from datetime import UTC

from pgbulk.events.capture import TRIGGER_NAME
from pgbulk.events.outbox import OutboxEvent

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def created_at_text(event: OutboxEvent) -> str:
    """UTC with microseconds and a ``Z``: what the function normalises to anyway."""
    return event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body(event: OutboxEvent, *, max_retries: int = 0) -> bytes:
    """The exact bytes to POST (and to sign). ``max_retries`` 0 means unbounded."""
    head = _dumps(
        {
            "id": str(event.event_id),
            "created_at": created_at_text(event),
            "trigger": {"name": TRIGGER_NAME},
            "table": {"schema": event.table_schema, "name": event.table_name},
            "delivery_info": {"current_retry": event.attempts, "max_retries": max_retries},
        }
    )
    # ``head`` is a complete object: reopen it (drop its closing brace) to append the event.
    data = f'{{"old":{event.old_row or "null"},"new":{event.new_row or "null"}}}'
    text = f'{head[:-1]},"event":{{"op":{_dumps(event.op)},"data":{data}}}}}'
    return text.encode("utf-8")


def batch_body(bodies: list[bytes]) -> bytes:
    """Several envelopes in one request: a JSON array, in the order given (per row, the
    order they must be published in). The function answers per event (functions/README.md)."""
    return b"[" + b",".join(bodies) + b"]"
