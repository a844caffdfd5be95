"""Fresh loads: each table written whole in one transaction, as frozen rows.

Rows a plain ``COPY`` writes are not yet known to be visible to everyone: the first scan
of the table after the load (the first index build) checks each row's transaction and
sets its hint bits, dirtying every page once more, and a later anti-wraparound vacuum
freezes them all again. Rows written by ``COPY ... FREEZE`` in the transaction that
created or truncated the table skip both; on a server with ``wal_level = minimal`` (the
embedded one) they also skip the WAL, the table's file being synced at commit instead.
That is what ``pgbench -i`` does.

FREEZE wants the table truncated in the writing transaction, so one writer holds a table
until its commit: a fresh load hands out tables, largest first, instead of units. Each
writer goes through every unit of its table in order (so the heap is in unit order),
then records the table in ``pgbulk.frozen_tables`` and commits: the table is loaded
whole, or not at all. When every table is in, the supervisor records the units.

A fresh load is one with nothing recorded yet and no shards. An interrupted one keeps
the tables it committed; the resume loads the units one by one (per-unit commits, as
any resume) and leaves those tables out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from pgbulk import ledger
from pgbulk.chunks import Rows
from pgbulk.copy_format import HEADER, TRAILER
from pgbulk.dsn import after_connection_failure, worker_connection
from pgbulk.errors import PgbulkError
from pgbulk.estimate import Estimate
from pgbulk.load.messages import Message, TableCommitted, TableCopied, TableRetry
from pgbulk.model import Table
from pgbulk.prefetch import Stopped, prefetched

if TYPE_CHECKING:
    from pgbulk.load.worker import WorkerConfig


@dataclass(frozen=True)
class _Piece:
    chunk: int
    rows: int
    buffer: memoryview


class TableWriter:
    """Writes the tables it is given, each in one transaction of its own."""

    def __init__(
        self, worker_id: int, config: WorkerConfig, events: Queue[Message], stop: Event
    ) -> None:
        self.worker_id = worker_id
        self.config = config
        self.events = events
        self.stop = stop
        self.rows = Rows(config.dataset, config.scale, seed=config.seed)
        self.conn: psycopg.Connection | None = None

    def run(self, tasks: Queue[int | str | None]) -> None:
        try:
            while not self.stop.is_set():
                table = tasks.get()
                if table is None:
                    return
                assert isinstance(table, str)
                self._write_with_retries(table)
        finally:
            if self.conn is not None:
                self.conn.close()

    def _connect(self) -> psycopg.Connection:
        return worker_connection(
            self.config.dsn, f"pgbulk writer {self.worker_id}", self.config.settings
        )

    def _write_with_retries(self, table: str) -> None:
        c = self.config
        attempt = 0
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                    if attempt and table in ledger.frozen_tables(self.conn, c.target_schema):
                        self.conn.commit()
                        self.events.put(TableCommitted(self.worker_id, table, 0, 0, already=True))
                        return  # the commit landed before the connection dropped
                rows, nbytes = self._write(self.conn, table)
                self.events.put(TableCommitted(self.worker_id, table, rows, nbytes))
                return
            except psycopg.OperationalError as e:
                attempt += 1
                reason, delay = after_connection_failure(
                    self.conn,
                    e,
                    attempt,
                    max_retries=c.max_retries,
                    backoff_seconds=c.backoff_seconds,
                    stopping=self.stop.is_set(),
                    what=f"table {table}",
                )
                self.conn = None
                self.events.put(TableRetry(self.worker_id, table, attempt, reason, delay))
                self.stop.wait(delay)

    def _pieces(self, table: str) -> Iterator[_Piece]:
        from pgbulk.load.worker import _as_batch_thread

        _as_batch_thread()  # this runs in the producer thread
        for index in range(self.rows.chunks):
            if self.stop.is_set():
                return
            chunk = self.rows.chunk(index)
            if table in (t.name for t in chunk.tables):
                yield _Piece(index, chunk.rows(table), chunk.copy_buffer(table))

    def _write(self, conn: psycopg.Connection, table: str) -> tuple[int, int]:
        c = self.config
        model = c.dataset.table(table)
        rows = nbytes = 0
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(c.target_schema, table)))
            # TRUNCATE waited for any other session writing the table: if one recorded a
            # unit meanwhile (a second loader on this schema), the table is not ours to empty.
            if ledger.loaded_chunks(conn, c.target_schema):
                raise PgbulkError(
                    f"another loader recorded units in schema {c.target_schema} during this "
                    "fresh load; run one loader per schema, or use --shard"
                )
            # One COPY for the whole table, the units' tuples one after the other: a COPY
            # into a table new in its transaction skips the free space map, so the pages
            # each statement extends the file by ahead of its rows would be left empty by
            # the next one (27 of every 57 pages of emails at 1,000 users per unit).
            with cur.copy(freeze_copy(c.target_schema, model)) as out:
                out.write(HEADER)
                for piece in prefetched(
                    self._pieces(table), self.stop, name="pgbulk-writer-producer"
                ):
                    if self.stop.is_set():
                        raise Stopped  # rolls the table back
                    out.write(tuples_of(piece.buffer))
                    rows += piece.rows
                    nbytes += len(piece.buffer)
                    self.events.put(
                        TableCopied(
                            self.worker_id, table, piece.chunk, piece.rows, len(piece.buffer)
                        )
                    )
                if self.stop.is_set():
                    raise Stopped
                out.write(TRAILER)
            cur.execute(ledger.RECORD_TABLE, (c.target_schema, table, rows, nbytes))
        return rows, nbytes


def tuples_of(stream: memoryview) -> memoryview:
    """A whole binary COPY stream's tuples, without its header and trailer."""
    if stream[: len(HEADER)] != HEADER or stream[len(stream) - len(TRAILER) :] != TRAILER:
        raise ValueError("not a binary COPY stream with pgbulk's header")
    return stream[len(HEADER) : len(stream) - len(TRAILER)]


def freeze_copy(schema: str, table: Table) -> sql.Composed:
    """``COPY ... FROM STDIN (FORMAT binary, FREEZE)`` into the model's columns."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary, FREEZE)").format(
        sql.Identifier(schema, table.name),
        sql.SQL(", ").join(sql.Identifier(col) for col in table.column_names),
    )


#: How much longer than an even split of the bytes the busiest writer may take. With 2
#: workers, by the estimate: contacts 1.01 (emails are 51% of the heap), shop 1.01,
#: pgbench 2.0 (its accounts are all of it).
BALANCE = 1.15


def balanced(expected: Estimate, tables: Iterable[str], workers: int) -> bool:
    """Whether writing whole tables keeps ``workers`` busy about as long as units would.

    A table has one writer, so the largest tables set the load's length: tables handed
    out largest first to the writer that is free, the busiest one's bytes against an even
    split. pgbench's accounts, 99% of its rows, would load on one connection: measured
    at scale 100, 7.97 s against 5.33 s unit by unit (medians of 4 alternating rounds),
    and the cheaper constraints (2.25 s against 3.14 s) did not win it back (a total of
    11.11 s against 9.08 s).
    """
    heap = {t.table: t.heap_bytes for t in expected.tables}
    sizes = sorted((heap.get(t, 0.0) for t in tables), reverse=True)
    total = sum(sizes)
    if workers <= 1 or total <= 0:
        return True
    load = [0.0] * workers
    for size in sizes:
        load[load.index(min(load))] += size
    return max(load) <= BALANCE * total / workers


def table_order(expected: Estimate, tables: Iterable[str]) -> list[str]:
    """Largest heap first: a writer that is free takes the next table, so the last to
    start is a small one and the writers end close together."""
    heap = {t.table: t.heap_bytes for t in expected.tables}
    return sorted(tables, key=lambda t: -heap.get(t, 0.0))
