"""An ingest worker: one connection; per unit, read, encode and COPY its batches, then commit.

A worker runs in a process (file sources: it reads its units itself, so no rows cross a
process boundary) or a thread (in-memory sources, whose rows are already in this
process). Per unit, a producer thread reads and encodes the next batch while the worker
sends the previous one: at most two encoded batches per worker, whatever the unit's size.
Each batch is its own ``COPY ... FROM STDIN (FORMAT binary)`` in the unit's transaction,
which ends with the unit's ledger row: the unit commits once, whole, or not at all.

A value PostgreSQL would refuse stops the unit with one line naming the file, the row
group and the row: the type layer finds most before anything is sent
(:class:`~pgbulk.errors.ValueRejected`); what only the server checks (a NOT NULL, JSON
syntax) is mapped back from the COPY's line number to the same place.
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa

from pgbulk import copy_format, ddl, types
from pgbulk.dsn import BACKOFF_SECONDS, RETRIES, after_connection_failure, worker_connection
from pgbulk.errors import LoadFailed, PgbulkError, ValueRejected
from pgbulk.ingestion import ledger
from pgbulk.ingestion.source import BATCH_ROWS, Unit, read_unit
from pgbulk.prefetch import Stopped, prefetched
from pgbulk.types import PgType

LOAD_SETTINGS = {"synchronous_commit": "off"}
_COPY_LINE = re.compile(r"COPY [^,]+, line (\d+)")


class RowsRejected(LoadFailed):
    """A unit holds a value PostgreSQL refuses; the message names file, row group and row."""


@dataclass(frozen=True)
class WorkerConfig:
    dsn: str
    schema: str
    table: str
    source_id: str
    columns: tuple[str, ...]
    pg_types: tuple[str, ...]  # PgType.sql of each column (pickles small)
    batch_rows: int = BATCH_ROWS
    csv_schema: pa.Schema | None = None
    max_retries: int = RETRIES
    backoff_seconds: float = BACKOFF_SECONDS
    settings: dict[str, str] = field(default_factory=lambda: dict(LOAD_SETTINGS))


# Messages to the supervisor.
@dataclass(frozen=True)
class UnitLoaded:
    worker: int
    unit: str
    rows: int
    nbytes: int


@dataclass(frozen=True)
class UnitSkipped:
    worker: int
    unit: str


@dataclass(frozen=True)
class UnitRetry:
    worker: int
    unit: str
    attempt: int
    reason: str


@dataclass(frozen=True)
class WorkerFailed:
    worker: int
    message: str
    rejected: bool  # bad input (exit 2 with the unit named), not a crash


@dataclass(frozen=True)
class WorkerDone:
    worker: int


@dataclass(frozen=True)
class Encoded:
    offset: int  # first row of the batch within the unit
    rows: int
    stream: memoryview


def encode_batch(
    batch: pa.RecordBatch, columns: tuple[str, ...], pg_types: tuple[PgType, ...]
) -> memoryview:
    """One binary COPY stream (header, tuples, trailer) of a batch. Pure."""
    encoded = []
    for i, (name, t) in enumerate(zip(columns, pg_types, strict=True)):
        try:
            encoded.append(types.encode(t, batch.column(i)))
        except ValueRejected as e:
            raise e.at(table=None, column=name) from None
    return copy_format.encode(encoded)


def rejected_message(unit: Unit, row_in_unit: int, column: str | None, reason: str) -> str:
    what = f"column {column}: " if column else ""
    return (
        f"{unit.where}, row {row_in_unit:,} (counting from 0): {what}{reason}; "
        "fix or remove that row"
    )


def run_process(worker_id: int, config: WorkerConfig, tasks: Any, events: Any, stop: Any) -> None:
    """Process entry point: Ctrl-C is for the parent, which ends us with SIGTERM."""
    from pgbulk.allocator import keep_freed_memory
    from pgbulk.load.worker import _die_with_parent

    _die_with_parent()
    keep_freed_memory()  # each batch allocates the same large buffers again: 2x faster encoding
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run(worker_id, config, tasks, events, stop)


def run(worker_id: int, config: WorkerConfig, tasks: Any, events: Any, stop: Any) -> None:
    """Load units from ``tasks`` (None ends) until done or ``stop``; report through ``events``."""
    try:
        _Worker(worker_id, config, events, stop).run(tasks)
        events.put(WorkerDone(worker_id))
    except RowsRejected as e:
        events.put(WorkerFailed(worker_id, str(e), rejected=True))
    except PgbulkError as e:
        events.put(WorkerFailed(worker_id, str(e), rejected=False))
    except Exception as e:  # reported; the supervisor stops the ingest
        events.put(WorkerFailed(worker_id, f"{type(e).__name__}: {e}", rejected=False))


class _Worker:
    def __init__(self, worker_id: int, config: WorkerConfig, events: Any, stop: Any) -> None:
        self.worker_id = worker_id
        self.config = config
        self.events = events
        self.stop = stop
        self.pg_types = tuple(PgType.parse(t) for t in config.pg_types)
        self.copy_sql = ddl.copy_into(config.schema, config.table, config.columns)
        self.conn: psycopg.Connection | None = None

    def run(self, tasks: Any) -> None:
        try:
            with contextlib.suppress(psycopg.OperationalError):  # left to the retries
                self.conn = self._connect()
            while not self.stop.is_set():
                unit = tasks.get()
                if unit is None:
                    return
                self._load_with_retries(unit)
        finally:
            if self.conn is not None:
                self.conn.close()

    def _connect(self) -> psycopg.Connection:
        return worker_connection(
            self.config.dsn, f"pgbulk ingest {self.worker_id}", self.config.settings
        )

    def _load_with_retries(self, unit: Unit) -> None:
        attempt = 0
        c = self.config
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                    if attempt and ledger.unit_loaded(
                        self.conn, c.schema, c.table, c.source_id, unit.key
                    ):
                        self.events.put(UnitSkipped(self.worker_id, unit.key))
                        return
                rows, nbytes = self._load(self.conn, unit)
                self.events.put(UnitLoaded(self.worker_id, unit.key, rows, nbytes))
                return
            except Stopped:
                return
            except psycopg.errors.UniqueViolation as e:
                if e.diag.constraint_name != "ingest_units_pkey":
                    raise
                # Another run committed this unit first; ours rolled back whole.
                self.events.put(UnitSkipped(self.worker_id, unit.key))
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
                    what=unit.where,
                )
                self.conn = None
                self.events.put(UnitRetry(self.worker_id, unit.key, attempt, reason))
                self.stop.wait(delay)

    @staticmethod
    def _rejected(unit: Unit, e: psycopg.Error, offset: int) -> RowsRejected:
        """A server refusal during COPY, placed at the unit's row (batch offset + COPY line)."""
        context = e.diag.context or ""
        m = _COPY_LINE.search(context)
        reason = e.diag.message_primary or str(e).splitlines()[0]
        column = e.diag.column_name
        if m is None:
            return RowsRejected(f"{unit.where}: the server refused a row: {reason}")
        return RowsRejected(
            rejected_message(unit, offset + int(m.group(1)) - 1, column, f"the server: {reason}")
        )

    def _encoded(self, unit: Unit) -> Iterator[Encoded]:
        for offset, batch in read_unit(
            unit, self.config.columns, self.config.batch_rows, self.config.csv_schema
        ):
            try:
                stream = encode_batch(batch, self.config.columns, self.pg_types)
            except ValueRejected as e:
                raise RowsRejected(
                    rejected_message(unit, offset + e.row, e.column, e.reason)
                ) from None
            yield Encoded(offset, batch.num_rows, stream)

    def _load(self, conn: psycopg.Connection, unit: Unit) -> tuple[int, int]:
        c = self.config
        rows = nbytes = 0
        with conn.transaction(), conn.cursor() as cur:
            for item in prefetched(self._encoded(unit), self.stop, name="pgbulk-ingest-producer"):
                if self.stop.is_set():
                    raise Stopped  # rolls the unit back
                try:
                    with cur.copy(self.copy_sql) as copy:
                        copy.write(item.stream)
                except (psycopg.DataError, psycopg.IntegrityError) as e:
                    # A value only the server checks (NOT NULL, JSON syntax, a CHECK, a
                    # UNIQUE index of the target): the transaction is rolled back on return.
                    raise self._rejected(unit, e, item.offset) from None
                rows += item.rows
                nbytes += len(item.stream)
            cur.execute(
                ledger.RECORD_UNIT, (c.schema, c.table, c.source_id, unit.key, rows, nbytes)
            )
        return rows, nbytes
