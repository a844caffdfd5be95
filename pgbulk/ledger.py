"""What pgbulk loaded where: the ``pgbulk`` metadata schema in the target database.

``pgbulk.datasets`` has one row per target schema: the dataset (spec, seed, users,
chunk size), the pgbulk version and the state (``loading`` -> ``finalizing`` ->
``complete``). ``pgbulk.chunks`` has one row per loaded chunk, inserted in the same
transaction as the chunk's rows: a chunk is either wholly loaded and recorded, or
neither, and the primary key makes loading it twice impossible. Resuming, sharding
and verification all read these two tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgbulk.spec import ContactsSpec

SCHEMA = "pgbulk"

_DDL = """
CREATE SCHEMA IF NOT EXISTS pgbulk;
CREATE TABLE IF NOT EXISTS pgbulk.datasets (
    target_schema  text PRIMARY KEY,
    dataset        text NOT NULL,
    spec           jsonb NOT NULL,
    seed           bigint NOT NULL,
    users          bigint NOT NULL,
    chunk_users    integer NOT NULL,
    chunks         integer NOT NULL,
    pgbulk_version text NOT NULL,
    state          text NOT NULL CHECK (state IN ('loading', 'finalizing', 'complete')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz
);
CREATE TABLE IF NOT EXISTS pgbulk.chunks (
    target_schema  text NOT NULL REFERENCES pgbulk.datasets ON DELETE CASCADE,
    chunk          integer NOT NULL,
    users          integer NOT NULL,
    emails         integer NOT NULL,
    phone_numbers  integer NOT NULL,
    bytes          bigint NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, chunk)
);
"""

# Serialises the set-up of concurrent loaders (shards) into one database.
_SETUP_LOCK = 0x7067_626B  # "pgbk"


@dataclass(frozen=True)
class DatasetRecord:
    target_schema: str
    spec: ContactsSpec
    seed: int
    users: int
    chunks: int
    pgbulk_version: str
    state: str

    def same_dataset(self, spec: ContactsSpec, seed: int, users: int) -> bool:
        return (self.spec, self.seed, self.users) == (spec, seed, users)

    def describe(self) -> str:
        return (
            f"seed={self.seed} users={self.users:,} chunk_users={self.spec.chunk_users:,} "
            f"uuid=v{self.spec.uuid_version} zipf_a={self.spec.zipf_a} max_per_user={self.spec.max_per_user}"
        )


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


def exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('pgbulk.datasets') IS NOT NULL").fetchone()
    return bool(row and row[0])


def read(
    conn: psycopg.Connection, target_schema: str, *, for_update: bool = False
) -> DatasetRecord | None:
    if not exists(conn):
        return None
    query = (
        "SELECT spec, seed, users, chunks, pgbulk_version, state FROM pgbulk.datasets"
        " WHERE target_schema = %s" + (" FOR UPDATE" if for_update else "")
    )
    row = conn.execute(query, (target_schema,)).fetchone()
    if row is None:
        return None
    spec_data: dict[str, Any] = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return DatasetRecord(
        target_schema, ContactsSpec.from_dict(spec_data), row[1], row[2], row[3], row[4], row[5]
    )


def register(
    conn: psycopg.Connection,
    target_schema: str,
    spec: ContactsSpec,
    seed: int,
    users: int,
    chunks: int,
    version: str,
) -> None:
    conn.execute(
        "INSERT INTO pgbulk.datasets (target_schema, dataset, spec, seed, users, chunk_users, chunks,"
        " pgbulk_version, state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'loading')",
        (
            target_schema,
            spec.name,
            json.dumps(spec.to_dict()),
            seed,
            users,
            spec.chunk_users,
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


RECORD_CHUNK = sql.SQL(
    "INSERT INTO pgbulk.chunks (target_schema, chunk, users, emails, phone_numbers, bytes)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def set_state(conn: psycopg.Connection, target_schema: str, state: str) -> None:
    conn.execute(
        "UPDATE pgbulk.datasets SET state = %s,"
        " completed_at = CASE WHEN %s = 'complete' THEN now() END WHERE target_schema = %s",
        (state, state, target_schema),
    )


def totals(conn: psycopg.Connection, target_schema: str) -> dict[str, int]:
    """Rows per table as recorded by the chunks loaded so far."""
    row = conn.execute(
        "SELECT coalesce(sum(users), 0), coalesce(sum(emails), 0), coalesce(sum(phone_numbers), 0),"
        " count(*) FROM pgbulk.chunks WHERE target_schema = %s",
        (target_schema,),
    ).fetchone()
    assert row is not None
    return {
        "users": int(row[0]),
        "emails": int(row[1]),
        "phone_numbers": int(row[2]),
        "chunks": int(row[3]),
    }
