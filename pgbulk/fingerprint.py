"""The dataset fingerprint: an order-independent checksum of every row of every table.

Each row has a canonical byte form that PostgreSQL and numpy both produce cheaply —
its UUIDs as 16 bytes, then its text as UTF-8 — hashed with MD5. A table's checksum
is the number of rows and the sum, modulo 2**64, of the first 8 bytes of the row
hashes: any order of rows, chunks, workers or shards gives the same value, and any
changed, missing or extra row changes it.

``of_database(dsn, schema)`` computes it in the server (one scan per table);
``of_dataset(spec, seed, users)`` computes it from the generator, with no database.
A correct load has ``of_database(...) == of_dataset(...)``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from pgbulk import dsn as dsns
from pgbulk import md5
from pgbulk.datasets import TABLES, Contacts, ContactsChunk
from pgbulk.errors import PgbulkError
from pgbulk.generate import U8, U64, Text
from pgbulk.spec import ContactsSpec

MOD = 2**64
BUCKETS = 256  # rows are split by the top byte of their hash to find which rows differ

#: The canonical byte form of a row, as SQL over the table's columns.
ROW_BYTES_SQL = {
    "users": "uuid_send(id) || convert_to(name, 'UTF8')",
    "emails": "uuid_send(id) || uuid_send(user_id) || convert_to(email, 'UTF8')",
    "phone_numbers": "uuid_send(id) || uuid_send(user_id) || convert_to(phone_number, 'UTF8')",
}


def row_hash_sql(table: str) -> str:
    """SQL for a row's hash: the first 8 bytes of md5(canonical bytes), as a signed bigint."""
    return f"('x' || left(md5({ROW_BYTES_SQL[table]}), 16))::bit(64)::bigint"


@dataclass(frozen=True)
class TableFingerprint:
    table: str
    rows: int
    checksum: int  # sum of the row hashes modulo 2**64

    def __str__(self) -> str:
        return f"{self.table:<14}{self.rows:>14,} rows  {self.checksum:016x}"


@dataclass(frozen=True)
class Fingerprint:
    """Per-table fingerprints; equal fingerprints mean the same rows (order aside)."""

    tables: tuple[TableFingerprint, ...]

    def __getitem__(self, table: str) -> TableFingerprint:
        for t in self.tables:
            if t.table == table:
                return t
        raise KeyError(table)

    @property
    def combined(self) -> str:
        """One value for the whole dataset: a SHA-256 over the table fingerprints (32 hex)."""
        text = "".join(f"{t.table}:{t.rows}:{t.checksum:016x}\n" for t in self.tables)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": {
                t.table: {"rows": t.rows, "checksum": f"{t.checksum:016x}"} for t in self.tables
            },
            "combined": self.combined,
        }

    def summary(self) -> str:
        return "\n".join([*map(str, self.tables), f"{'combined':<14}{self.combined:>47}"])


# ---------------------------------------------------------------------- in the server


def of_database(dsn: str, schema_name: str = "public") -> Fingerprint:
    """The fingerprint of the contacts tables in ``schema_name``, computed by the server."""
    with dsns.connect(dsn, autocommit=True) as conn:
        return database_fingerprint(conn, schema_name)


def database_fingerprint(conn: psycopg.Connection, schema_name: str) -> Fingerprint:
    return Fingerprint(tuple(database_table(conn, schema_name, t) for t in TABLES))


def database_table(conn: psycopg.Connection, schema_name: str, table: str) -> TableFingerprint:
    _require_table(conn, schema_name, table)
    query = sql.SQL("SELECT count(*), coalesce(sum({hash}), 0) FROM {table}").format(
        hash=sql.SQL(row_hash_sql(table)), table=sql.Identifier(schema_name, table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return TableFingerprint(table, int(row[0]), int(row[1]) % MOD)


def database_buckets(
    conn: psycopg.Connection, schema_name: str, table: str
) -> dict[int, tuple[int, int]]:
    """(rows, checksum) per bucket (the top byte of the row hash) that has rows."""
    query = sql.SQL(
        "SELECT (h >> 56) & 255, count(*), sum(h) FROM (SELECT {hash} AS h FROM {table}) r"
        " GROUP BY 1"
    ).format(hash=sql.SQL(row_hash_sql(table)), table=sql.Identifier(schema_name, table))
    return {int(b): (int(n), int(s) % MOD) for b, n, s in conn.execute(query)}


def database_rows(
    conn: psycopg.Connection, schema_name: str, table: str, buckets: Iterable[int]
) -> list[tuple[int, str]]:
    """(row hash, id as text) of the rows in the given buckets."""
    query = sql.SQL(
        "SELECT h, id::text FROM (SELECT {hash} AS h, id FROM {table}) r"
        " WHERE (h >> 56) & 255 = ANY(%s)"
    ).format(hash=sql.SQL(row_hash_sql(table)), table=sql.Identifier(schema_name, table))
    return [(int(h) % MOD, str(i)) for h, i in conn.execute(query, (list(buckets),))]


def _require_table(conn: psycopg.Connection, schema_name: str, table: str) -> None:
    row = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema_name, table)
    ).fetchone()
    if row is None or row[0] is None:
        raise PgbulkError(
            f"table {schema_name}.{table} does not exist: load the dataset first "
            "(pgbulk load) or name its schema with --schema"
        )


# ---------------------------------------------------------------------- from the generator


def chunk_row_hashes(chunk: ContactsChunk, table: str) -> U64:
    """The hash of each row of ``table`` in the chunk, as the server computes it (unsigned)."""
    parts: list[U8 | Text]
    if table == "users":
        parts = [chunk.user_ids, chunk.user_names]
    elif table == "emails":
        parts = [chunk.email_ids, chunk.email_user_ids, chunk.emails]
    elif table == "phone_numbers":
        parts = [chunk.phone_ids, chunk.phone_user_ids, chunk.phone_numbers]
    else:
        raise KeyError(f"unknown table {table!r}; the contacts tables are {', '.join(TABLES)}")
    return md5.digest64(parts)


def chunk_row_ids(chunk: ContactsChunk, table: str) -> U8:
    return {"users": chunk.user_ids, "emails": chunk.email_ids, "phone_numbers": chunk.phone_ids}[
        table
    ]


def of_dataset(
    spec: ContactsSpec | None, seed: int, users: int, *, processes: int | None = None
) -> Fingerprint:
    """The fingerprint of ``(spec, seed, users)`` computed from the generator alone.

    ``processes`` (default: one per core for datasets of a million users or more)
    spreads the chunks over a process pool.
    """
    dataset = Contacts(users, seed=seed, spec=spec)
    if processes is None:
        processes = min(os.cpu_count() or 1, dataset.chunks) if users >= 1_000_000 else 1
    rows = dict.fromkeys(TABLES, 0)
    sums = dict.fromkeys(TABLES, 0)
    for chunk_sums in _map_chunks(dataset, processes):
        for table, (n, s) in chunk_sums.items():
            rows[table] += n
            sums[table] = (sums[table] + s) % MOD
    return Fingerprint(tuple(TableFingerprint(t, rows[t], sums[t]) for t in TABLES))


def _map_chunks(dataset: Contacts, processes: int) -> Iterator[dict[str, tuple[int, int]]]:
    args = [(dataset.spec, dataset.seed, dataset.users, c) for c in range(dataset.chunks)]
    if processes <= 1:
        yield from (_chunk_sums(*a) for a in args)
        return
    # spawn, as the loader does: a forked child would inherit the caller's threads and sockets.
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_chunk_sums, *zip(*args, strict=True))


def _chunk_sums(
    spec: ContactsSpec, seed: int, users: int, index: int
) -> dict[str, tuple[int, int]]:
    chunk = Contacts(users, seed=seed, spec=spec).chunk(index)
    out = {}
    for table in TABLES:
        hashes = chunk_row_hashes(chunk, table)
        out[table] = (len(hashes), int(hashes.sum(dtype=np.uint64)))  # numpy wraps modulo 2**64
    return out


def dataset_buckets(dataset: Contacts, table: str) -> dict[int, tuple[int, int]]:
    """(rows, checksum) per bucket that has rows, from the generator."""
    counts = np.zeros(BUCKETS, dtype=np.int64)
    sums = np.zeros(BUCKETS, dtype=np.uint64)
    for chunk in dataset:
        h = chunk_row_hashes(chunk, table)
        b = (h >> np.uint64(56)).astype(np.intp)
        counts += np.bincount(b, minlength=BUCKETS)
        np.add.at(sums, b, h)
    return {int(b): (int(counts[b]), int(sums[b])) for b in np.flatnonzero(counts)}


def dataset_rows(dataset: Contacts, table: str, buckets: Iterable[int]) -> list[tuple[int, str]]:
    """(row hash, id as text) of the generated rows in the given buckets."""
    wanted = np.array(sorted(set(buckets)), dtype=np.uint64)
    found: list[tuple[int, str]] = []
    for chunk in dataset:
        h = chunk_row_hashes(chunk, table)
        rows = np.flatnonzero(np.isin(h >> np.uint64(56), wanted))
        ids = chunk_row_ids(chunk, table)[rows]
        found.extend((int(x), _uuid_text(i)) for x, i in zip(h[rows], ids, strict=True))
    return found


def _uuid_text(b: U8) -> str:
    h = bytes(b).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
