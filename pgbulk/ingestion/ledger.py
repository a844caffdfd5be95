"""What was ingested where: ``pgbulk.ingests`` and ``pgbulk.ingest_units``.

One ``pgbulk.ingests`` row per (target schema, target table, source identity): the
source's description, how many units it has, the steps to run after the load (primary
key, rebuilt indexes, ANALYZE: kept here so that a re-run that finishes an interrupted
ingest builds them too) and the state (``loading`` -> ``finalizing`` -> ``complete``).
One ``pgbulk.ingest_units`` row per unit loaded, inserted in the unit's own transaction:
a unit is loaded and recorded, or neither, and the primary key refuses it twice.
These tables live beside the generated datasets' (``pgbulk.datasets``) and never touch them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg

_DDL = """
CREATE SCHEMA IF NOT EXISTS pgbulk;
CREATE TABLE IF NOT EXISTS pgbulk.ingests (
    target_schema  text NOT NULL,
    target_table   text NOT NULL,
    source_id      text NOT NULL,
    source         jsonb NOT NULL,
    units          integer,
    post_load      jsonb NOT NULL DEFAULT '[]',
    pgbulk_version text NOT NULL,
    state          text NOT NULL CHECK (state IN ('loading', 'finalizing', 'complete')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    PRIMARY KEY (target_schema, target_table, source_id)
);
CREATE TABLE IF NOT EXISTS pgbulk.ingest_units (
    target_schema  text NOT NULL,
    target_table   text NOT NULL,
    source_id      text NOT NULL,
    unit           text NOT NULL,
    rows           bigint NOT NULL,
    bytes          bigint NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, target_table, source_id, unit),
    FOREIGN KEY (target_schema, target_table, source_id)
        REFERENCES pgbulk.ingests ON DELETE CASCADE
);
"""

# Serialises the set-up of ingests into one table (two-key advisory lock space).
_LOCK = 0x7067_6967  # "pgig"

RECORD_UNIT = (
    "INSERT INTO pgbulk.ingest_units (target_schema, target_table, source_id, unit, rows, bytes)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class IngestRecord:
    source_id: str
    source: dict[str, Any]
    units: int | None
    post_load: list[dict[str, str]]
    state: str


def ensure(conn: psycopg.Connection) -> None:
    conn.execute(_DDL)


def lock(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Until the transaction ends, no other ingest sets up this table."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))", (_LOCK, f"{schema}.{table}")
    )


def read(conn: psycopg.Connection, schema: str, table: str, source_id: str) -> IngestRecord | None:
    row = conn.execute(
        "SELECT source, units, post_load, state FROM pgbulk.ingests"
        " WHERE target_schema = %s AND target_table = %s AND source_id = %s FOR UPDATE",
        (schema, table, source_id),
    ).fetchone()
    if row is None:
        return None
    return IngestRecord(source_id, row[0], row[1], list(row[2]), row[3])


def register(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    source_id: str,
    source: dict[str, Any],
    units: int | None,
    post_load: list[dict[str, str]],
    version: str,
) -> None:
    conn.execute(
        "INSERT INTO pgbulk.ingests (target_schema, target_table, source_id, source, units,"
        " post_load, pgbulk_version, state) VALUES (%s, %s, %s, %s, %s, %s, %s, 'loading')",
        (schema, table, source_id, json.dumps(source), units, json.dumps(post_load), version),
    )


def forget_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    conn.execute(
        "DELETE FROM pgbulk.ingests WHERE target_schema = %s AND target_table = %s",
        (schema, table),
    )


def loaded_units(conn: psycopg.Connection, schema: str, table: str, source_id: str) -> set[str]:
    rows = conn.execute(
        "SELECT unit FROM pgbulk.ingest_units"
        " WHERE target_schema = %s AND target_table = %s AND source_id = %s",
        (schema, table, source_id),
    )
    return {str(r[0]) for r in rows}


def unit_loaded(
    conn: psycopg.Connection, schema: str, table: str, source_id: str, unit: str
) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pgbulk.ingest_units WHERE target_schema = %s AND target_table = %s"
        " AND source_id = %s AND unit = %s",
        (schema, table, source_id, unit),
    ).fetchone()
    return row is not None


def totals(conn: psycopg.Connection, schema: str, table: str, source_id: str) -> tuple[int, int]:
    """Units recorded and the rows they hold."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(rows), 0) FROM pgbulk.ingest_units"
        " WHERE target_schema = %s AND target_table = %s AND source_id = %s",
        (schema, table, source_id),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def set_state(
    conn: psycopg.Connection, schema: str, table: str, source_id: str, state: str
) -> None:
    conn.execute(
        "UPDATE pgbulk.ingests SET state = %s,"
        " completed_at = CASE WHEN %s = 'complete' THEN now() END"
        " WHERE target_schema = %s AND target_table = %s AND source_id = %s",
        (state, state, schema, table, source_id),
    )


def set_units(
    conn: psycopg.Connection, schema: str, table: str, source_id: str, units: int
) -> None:
    """A stream's unit count, known once it has been read to its end."""
    conn.execute(
        "UPDATE pgbulk.ingests SET units = %s"
        " WHERE target_schema = %s AND target_table = %s AND source_id = %s",
        (units, schema, table, source_id),
    )
