"""What pgbulk loaded where: the ``pgbulk`` metadata schema in the target database.

``pgbulk.datasets`` has one row per target schema: the dataset (its definition, seed,
scale, unit size), the pgbulk version and the state (``loading`` -> ``finalizing`` ->
``complete``). ``pgbulk.chunks`` has one row per loaded unit with its rows per table,
inserted in the same transaction as the unit's rows: a unit is either wholly loaded and
recorded, or neither, and the primary key makes loading it twice impossible. Resuming,
sharding and verification all read these two tables.

A fresh load writes each table whole in one transaction instead (``COPY ... FREEZE``,
:mod:`pgbulk.load.frozen`): ``pgbulk.frozen_tables`` gets the table's row in that
transaction, and once every table is in, the units' rows are recorded together. A resume
after an interrupted fresh load loads the units unit by unit again, leaving out the
tables already recorded whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgbulk.model import Dataset

SCHEMA = "pgbulk"

_DDL = """
CREATE SCHEMA IF NOT EXISTS pgbulk;
CREATE TABLE IF NOT EXISTS pgbulk.datasets (
    target_schema  text PRIMARY KEY,
    dataset        text NOT NULL,
    spec           jsonb NOT NULL,
    seed           bigint NOT NULL,
    scale          bigint NOT NULL,
    chunk_rows     integer NOT NULL,
    chunks         integer NOT NULL,
    pgbulk_version text NOT NULL,
    state          text NOT NULL CHECK (state IN ('loading', 'finalizing', 'complete')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz
);
CREATE TABLE IF NOT EXISTS pgbulk.chunks (
    target_schema  text NOT NULL REFERENCES pgbulk.datasets ON DELETE CASCADE,
    chunk          integer NOT NULL,
    rows           jsonb NOT NULL,
    bytes          bigint NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, chunk)
);
CREATE TABLE IF NOT EXISTS pgbulk.frozen_tables (
    target_schema  text NOT NULL REFERENCES pgbulk.datasets ON DELETE CASCADE,
    table_name     text NOT NULL,
    rows           bigint NOT NULL,
    bytes          bigint NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, table_name)
);
"""

# pgbulk 0.1.0 kept the contacts dataset's users and chunk size in columns of their own,
# and each table's rows in a column of pgbulk.chunks: the same facts, under other names.
_MIGRATE_0_1 = """
ALTER TABLE pgbulk.datasets RENAME COLUMN users TO scale;
ALTER TABLE pgbulk.datasets RENAME COLUMN chunk_users TO chunk_rows;
ALTER TABLE pgbulk.chunks ADD COLUMN rows jsonb;
UPDATE pgbulk.chunks SET rows = jsonb_build_object(
    'users', users, 'emails', emails, 'phone_numbers', phone_numbers);
ALTER TABLE pgbulk.chunks ALTER COLUMN rows SET NOT NULL,
    DROP COLUMN users, DROP COLUMN emails, DROP COLUMN phone_numbers;
"""

# Serialises the set-up of concurrent loaders (shards) into one database.
_SETUP_LOCK = 0x7067_626B  # "pgbk"


@dataclass(frozen=True)
class DatasetRecord:
    target_schema: str
    definition: dict[str, Any]
    seed: int
    scale: int
    chunks: int
    pgbulk_version: str
    state: str

    @property
    def name(self) -> str:
        return str(self.definition.get("dataset", "?"))

    def dataset(self) -> Dataset:
        from pgbulk.datasets import from_definition

        return from_definition(self.definition)

    def same_dataset(self, definition: Mapping[str, Any], seed: int, scale: int) -> bool:
        return (self.definition, self.seed, self.scale) == (dict(definition), seed, scale)

    def describe(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.definition.items() if k != "dataset")
        return f"{self.name} seed={self.seed} scale={self.scale:,} {params}".rstrip()


def lock_finalize(conn: psycopg.Connection, target_schema: str, *, wait: bool) -> bool:
    """Become the one session that builds ``target_schema``'s constraints; False if taken.

    A session-level lock: it is released when the builder's connection ends, however
    the builder ends, so the next finalize takes over from what the catalog holds.
    """
    key = (_SETUP_LOCK, target_schema)  # the two-key form: not the set-up lock's key space
    if wait:
        conn.execute("SELECT pg_advisory_lock(%s::int4, hashtext(%s))", key)
        return True
    row = conn.execute("SELECT pg_try_advisory_lock(%s::int4, hashtext(%s))", key).fetchone()
    return bool(row and row[0])


def setup_lock(conn: psycopg.Connection) -> None:
    """Hold the set-up lock until the current transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))


def ensure(conn: psycopg.Connection) -> None:
    conn.execute(_DDL)
    old = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'pgbulk.datasets'::regclass"
        " AND attname = 'users' AND NOT attisdropped"
    ).fetchone()
    if old is not None:
        conn.execute(_MIGRATE_0_1)


def exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('pgbulk.datasets') IS NOT NULL").fetchone()
    return bool(row and row[0])


def read(
    conn: psycopg.Connection, target_schema: str, *, for_update: bool = False
) -> DatasetRecord | None:
    if not exists(conn):
        return None
    query = (
        "SELECT spec, seed, scale, chunks, pgbulk_version, state FROM pgbulk.datasets"
        " WHERE target_schema = %s" + (" FOR UPDATE" if for_update else "")
    )
    row = conn.execute(query, (target_schema,)).fetchone()
    if row is None:
        return None
    definition: dict[str, Any] = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return DatasetRecord(target_schema, definition, row[1], row[2], row[3], row[4], row[5])


def register(
    conn: psycopg.Connection,
    target_schema: str,
    dataset: Dataset,
    seed: int,
    scale: int,
    chunks: int,
    version: str,
) -> None:
    conn.execute(
        "INSERT INTO pgbulk.datasets (target_schema, dataset, spec, seed, scale, chunk_rows,"
        " chunks, pgbulk_version, state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'loading')",
        (
            target_schema,
            dataset.name,
            json.dumps(dict(dataset.definition)),
            seed,
            scale,
            dataset.chunk_rows,
            chunks,
            version,
        ),
    )


def forget(conn: psycopg.Connection, target_schema: str) -> None:
    if exists(conn):
        conn.execute("DELETE FROM pgbulk.datasets WHERE target_schema = %s", (target_schema,))


def loaded_chunks(conn: psycopg.Connection, target_schema: str) -> set[int]:
    if not exists(conn):
        return set()
    rows = conn.execute(
        "SELECT chunk FROM pgbulk.chunks WHERE target_schema = %s", (target_schema,)
    )
    return {r[0] for r in rows}


def chunk_loaded(conn: psycopg.Connection, target_schema: str, chunk: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pgbulk.chunks WHERE target_schema = %s AND chunk = %s",
        (target_schema, chunk),
    ).fetchone()
    return row is not None


def frozen_tables(conn: psycopg.Connection, target_schema: str) -> set[str]:
    """The tables a fresh load wrote whole (and committed) in ``target_schema``."""
    if not exists(conn):
        return set()
    rows = conn.execute(
        "SELECT table_name FROM pgbulk.frozen_tables WHERE target_schema = %s", (target_schema,)
    )
    return {r[0] for r in rows}


RECORD_TABLE = sql.SQL(
    "INSERT INTO pgbulk.frozen_tables (target_schema, table_name, rows, bytes)"
    " VALUES (%s, %s, %s, %s)"
)

RECORD_CHUNK = sql.SQL(
    "INSERT INTO pgbulk.chunks (target_schema, chunk, rows, bytes) VALUES (%s, %s, %s::jsonb, %s)"
)


def chunk_params(
    target_schema: str, chunk: int, rows: Mapping[str, int], nbytes: int
) -> tuple[Any, ...]:
    """The parameters of :data:`RECORD_CHUNK`."""
    return (target_schema, chunk, json.dumps(dict(rows)), nbytes)


def set_state(conn: psycopg.Connection, target_schema: str, state: str) -> None:
    conn.execute(
        "UPDATE pgbulk.datasets SET state = %s,"
        " completed_at = CASE WHEN %s = 'complete' THEN now() END WHERE target_schema = %s",
        (state, state, target_schema),
    )


def totals(conn: psycopg.Connection, target_schema: str) -> tuple[int, dict[str, int]]:
    """How many units are recorded, and the rows per table they hold."""
    chunks = conn.execute(
        "SELECT count(*) FROM pgbulk.chunks WHERE target_schema = %s", (target_schema,)
    ).fetchone()
    rows = conn.execute(
        "SELECT r.key, sum(r.value::bigint) FROM pgbulk.chunks c, jsonb_each_text(c.rows) r"
        " WHERE c.target_schema = %s GROUP BY r.key",
        (target_schema,),
    )
    return int(chunks[0]) if chunks else 0, {str(k): int(n) for k, n in rows}
