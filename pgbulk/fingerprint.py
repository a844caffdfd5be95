"""The dataset fingerprint: an order-independent checksum of every row of every table.

The canonical bytes of a row are its fields as binary COPY writes them: for each column,
in the model's order, a 4-byte big-endian length (-1 for NULL, then nothing) and the
value's binary send form (``int4send``, ``uuid_send``, ``textsend``, ...: what
``COPY ... (FORMAT binary)`` would write). Length prefixes and the NULL marker keep any
two rows apart (``('ab', 'c')`` and ``('a', 'bc')`` differ). A row's hash is the first 8
bytes of the MD5 of those bytes; a table's checksum is its number of rows and the sum,
modulo 2**64, of its row hashes: any order of rows, units, workers or shards gives the
same value, and any changed, missing or extra row changes it.

``of_database(dsn, schema)`` computes it in the server (one scan per table, the send
functions named by the catalog); ``of_dataset(rows)`` computes it from the generator's
COPY streams, with no database. A correct load has equal fingerprints both ways.
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

from pgbulk import copy_format, ledger, md5
from pgbulk import dsn as dsns
from pgbulk.allocator import keep_freed_memory
from pgbulk.chunks import Chunk, Rows
from pgbulk.errors import PgbulkError
from pgbulk.generate import U64
from pgbulk.model import Dataset

MOD = 2**64
BUCKETS = 256  # rows are split by the top byte of their hash to find which rows differ


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


def of_database(
    dsn: str, schema_name: str = "public", tables: Iterable[str] | None = None
) -> Fingerprint:
    """The fingerprint of ``tables`` in ``schema_name``, computed by the server.

    ``tables`` defaults to those of the dataset the schema's ledger records.
    """
    with dsns.connect(dsn, autocommit=True) as conn:
        if tables is None:
            record = ledger.read(conn, schema_name)
            if record is None:
                raise PgbulkError(
                    f"no pgbulk dataset is recorded in schema {schema_name}: name the tables "
                    "to fingerprint, or load a dataset first (pgbulk load)"
                )
            tables = record.dataset().table_names
        return Fingerprint(tuple(database_table(conn, schema_name, t) for t in tables))


def row_hash_sql(conn: psycopg.Connection, schema_name: str, table: str) -> sql.Composed:
    """SQL for a row's hash: the first 8 bytes of md5(canonical bytes), as a signed bigint."""
    # textsend converts to the client's encoding: UTF-8, as the generator writes text.
    conn.execute("SET client_encoding TO 'UTF8'")
    columns = conn.execute(
        "SELECT a.attname, t.typsend::regproc::text, t.typlen, a.attnotnull"
        " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
        " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema_name, table),
    ).fetchall()
    if not columns:
        raise PgbulkError(
            f"table {schema_name}.{table} does not exist: load the dataset first "
            "(pgbulk load) or name its schema with --schema"
        )
    # In a UTF-8 database a text's bytes are its UTF-8 bytes: its length is read without
    # converting it a second time (textsend, twice per row, was a tenth of the hashing).
    utf8 = dsns.scalar(conn, "SELECT current_setting('server_encoding')") == "UTF8"
    fields = []
    for name, send, length, not_null in columns:
        value = sql.SQL("{}({})").format(sql.SQL(send), sql.Identifier(name))
        if length > 0:  # fixed width: the length is a constant
            field = sql.SQL("{} || {}").format(sql.Literal(length.to_bytes(4, "big")), value)
        elif utf8 and send == "textsend":
            field = sql.SQL("int4send(octet_length({c})) || {v}").format(
                c=sql.Identifier(name), v=value
            )
        else:
            field = sql.SQL("int4send(octet_length({v})) || {v}").format(v=value)
        if not not_null:
            field = sql.SQL("coalesce({}, {})").format(field, sql.Literal(b"\xff\xff\xff\xff"))
        fields.append(field)
    row = sql.SQL(" || ").join(fields)
    return sql.SQL("('x' || left(md5({}), 16))::bit(64)::bigint").format(row)


def database_table(conn: psycopg.Connection, schema_name: str, table: str) -> TableFingerprint:
    query = sql.SQL("SELECT count(*), coalesce(sum({hash}), 0) FROM {table}").format(
        hash=row_hash_sql(conn, schema_name, table), table=sql.Identifier(schema_name, table)
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
    ).format(hash=row_hash_sql(conn, schema_name, table), table=sql.Identifier(schema_name, table))
    return {int(b): (int(n), int(s) % MOD) for b, n, s in conn.execute(query)}


def database_rows(
    conn: psycopg.Connection,
    schema_name: str,
    table: str,
    label: str | None,
    buckets: Iterable[int],
) -> list[tuple[int, str]]:
    """(row hash, the row's ``label`` column as text) of the rows in the given buckets."""
    shown = sql.SQL("{}::text").format(sql.Identifier(label)) if label else sql.SQL("''")
    query = sql.SQL(
        "SELECT h, l FROM (SELECT {hash} AS h, {label} AS l FROM {table}) r"
        " WHERE (h >> 56) & 255 = ANY(%s)"
    ).format(
        hash=row_hash_sql(conn, schema_name, table),
        label=shown,
        table=sql.Identifier(schema_name, table),
    )
    return [(int(h) % MOD, str(i)) for h, i in conn.execute(query, (list(buckets),))]


def label_column(dataset: Dataset, table: str) -> str | None:
    """The column that names a row in messages: a one-column primary key, if there is one."""
    key = dataset.table(table).primary_key
    return key[0] if len(key) == 1 else None


# ---------------------------------------------------------------------- from the generator


def chunk_row_hashes(chunk: Chunk, table: str) -> U64:
    """The hash of each row of ``table`` in the unit, as the server computes it (unsigned)."""
    columns = chunk.frame(table).copy_columns(canonical=True)
    stream = np.frombuffer(copy_format.encode(columns), dtype=np.uint8)
    widths = copy_format.tuple_widths(columns)
    starts = len(copy_format.HEADER) + np.cumsum(widths) - widths
    return md5.digest64(stream, starts + 2, widths - 2)  # without each tuple's field count


def of_dataset(rows: Rows, *, processes: int | None = None) -> Fingerprint:
    """The fingerprint of the rows, computed from the generator alone.

    ``processes`` (default: one per core for datasets of a million rows or more in their
    scale table) spreads the units over a process pool.
    """
    if processes is None:
        processes = min(os.cpu_count() or 1, rows.chunks) if rows.scale >= 1_000_000 else 1
    tables = rows.dataset.table_names
    counts = dict.fromkeys(tables, 0)
    sums = dict.fromkeys(tables, 0)
    for chunk_sums in _map_chunks(rows, processes):
        for table, (n, s) in chunk_sums.items():
            counts[table] += n
            sums[table] = (sums[table] + s) % MOD
    return Fingerprint(tuple(TableFingerprint(t, counts[t], sums[t]) for t in tables))


def _map_chunks(rows: Rows, processes: int) -> Iterator[dict[str, tuple[int, int]]]:
    args = [(rows.dataset, rows.seed, rows.scale, c) for c in range(rows.chunks)]
    if processes <= 1:
        yield from (_chunk_sums_of(rows.chunk(c)) for c in range(rows.chunks))
        return
    # spawn, as the loader does: a forked child would inherit the caller's threads and sockets.
    # Each unit allocates the same large arrays again: kept freed memory saves the page
    # faults (2 million users, two runs each: 7.7 and 7.6 CPU seconds before, 6.7 and
    # 6.6 after, of which system time 2.1-2.3 before and 1.2-1.3 after).
    with ProcessPoolExecutor(
        processes, mp_context=get_context("spawn"), initializer=keep_freed_memory
    ) as pool:
        yield from pool.map(_chunk_sums, *zip(*args, strict=True))


def _chunk_sums(dataset: Dataset, seed: int, scale: int, index: int) -> dict[str, tuple[int, int]]:
    return _chunk_sums_of(Rows(dataset, scale, seed=seed).chunk(index))


def _chunk_sums_of(chunk: Chunk) -> dict[str, tuple[int, int]]:
    out = {}
    for table in chunk.tables:
        hashes = chunk_row_hashes(chunk, table.name)
        out[table.name] = (len(hashes), int(hashes.sum(dtype=np.uint64)))  # wraps modulo 2**64
    return out


def dataset_buckets(rows: Rows, table: str) -> dict[int, tuple[int, int]]:
    """(rows, checksum) per bucket that has rows, from the generator."""
    counts = np.zeros(BUCKETS, dtype=np.int64)
    sums = np.zeros(BUCKETS, dtype=np.uint64)
    for chunk in rows:
        if not chunk.rows(table):
            continue
        h = chunk_row_hashes(chunk, table)
        b = (h >> np.uint64(56)).astype(np.intp)
        counts += np.bincount(b, minlength=BUCKETS)
        np.add.at(sums, b, h)
    return {int(b): (int(counts[b]), int(sums[b])) for b in np.flatnonzero(counts)}


def dataset_rows(
    rows: Rows, table: str, label: str | None, buckets: Iterable[int]
) -> list[tuple[int, str]]:
    """(row hash, the row's ``label`` column as text) of the generated rows in the given buckets."""
    wanted = np.array(sorted(set(buckets)), dtype=np.uint64)
    found: list[tuple[int, str]] = []
    for chunk in rows:
        if not chunk.rows(table):
            continue
        h = chunk_row_hashes(chunk, table)
        hit = np.flatnonzero(np.isin(h >> np.uint64(56), wanted))
        labels = chunk.frame(table).text(label).to_list() if label else [""] * len(h)
        found.extend((int(h[i]), labels[i]) for i in hit)
    return found
