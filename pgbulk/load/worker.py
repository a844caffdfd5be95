"""A load worker: one process, one connection, a producer thread and a bounded queue.

Each worker process pulls unit (chunk) numbers from a shared task queue. Its producer
thread generates and encodes the chunk (numpy releases the GIL for the bulk of that work)
while the main thread streams the previous chunk with ``COPY ... FROM STDIN (FORMAT
binary)``. The hand-over queue holds one chunk: that is the backpressure, and it
bounds a worker's memory to about three chunks whatever the dataset size.

Generating in the process that owns the connection means COPY buffers never cross a
process boundary: on these 2-core machines, pickling tens of MB per chunk through a
pipe cost more CPU than the generation itself saves by running elsewhere.

A chunk's rows and its ledger row commit in one transaction. When the connection
drops or the backend is terminated, the worker reconnects with backoff and asks the
ledger whether the commit landed before loading the chunk again: exactly once.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import psycopg

from pgbulk import ddl, ledger
from pgbulk.allocator import keep_freed_memory
from pgbulk.chunks import Rows
from pgbulk.dsn import BACKOFF_SECONDS, RETRIES, after_connection_failure, worker_connection
from pgbulk.errors import PgbulkError
from pgbulk.load.messages import Done, Failed, Loaded, Message, Retry, Skipped
from pgbulk.model import Dataset

# Session settings for loading connections: a chunk is in the ledger only once it is
# committed, so a commit need not wait for its WAL flush (a crash loses only chunks
# that the ledger does not list, and a resume loads them again).
LOAD_SETTINGS = {"synchronous_commit": "off"}


@dataclass(frozen=True)
class WorkerConfig:
    dsn: str
    target_schema: str
    dataset: Dataset  # plain frozen data: pickled to the worker process
    seed: int
    scale: int
    max_retries: int = RETRIES
    backoff_seconds: float = BACKOFF_SECONDS
    settings: dict[str, str] = field(default_factory=lambda: dict(LOAD_SETTINGS))
    #: tasks are tables, each written whole and frozen (a fresh load: pgbulk.load.frozen)
    freeze: bool = False
    #: tables an interrupted fresh load committed whole: units leave them out
    skip_tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class EncodedChunk:
    index: int
    rows: dict[str, int]
    buffers: dict[str, memoryview]

    @property
    def nbytes(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    @property
    def sent_rows(self) -> dict[str, int]:
        """Rows of the tables this unit sends (those loaded whole already are not)."""
        return {t: n for t, n in self.rows.items() if t in self.buffers}


def encode_chunk(rows: Rows, index: int, skip: tuple[str, ...] = ()) -> EncodedChunk:
    """Unit ``index``'s rows of each of its tables, as binary COPY streams.

    Tables in ``skip`` are counted (the ledger row says how many rows the unit has of
    each table) but not encoded: they are already loaded whole.
    """
    chunk = rows.chunk(index)
    buffers = {t.name: chunk.copy_buffer(t.name) for t in chunk.tables if t.name not in skip}
    return EncodedChunk(index, {t.name: chunk.rows(t.name) for t in chunk.tables}, buffers)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies: no orphan keeps loading."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    # A parent that died while we were starting (a second or more of imports) sends no
    # signal: we were re-parented, and would load every queued chunk on our own.
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def _as_batch_thread() -> None:
    """Tell Linux this thread is a CPU-bound batch job (SCHED_BATCH; no privilege needed).

    The producer works a chunk ahead, so it need not run the moment it wakes; the sender
    and the server's backend must, or the backend waits for rows. With this, the backend
    of a 1-worker load waited for the client in 5-7% of samples instead of 9-12%, and the
    load phase ran 1.05x (1 worker) and 1.03x (2 workers) faster, medians of 8 alternating pairs.
    """
    with contextlib.suppress(AttributeError, OSError):  # not Linux
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_BATCH, os.sched_param(0))


def run(
    worker_id: int,
    config: WorkerConfig,
    tasks: Queue[Any],
    events: Queue[Message],
    stop: Event,
    traffic: Any = None,
) -> None:
    """Process entry point. Reports through ``events``; never raises.

    ``traffic`` is the shared array of :class:`TableTraffic` (None: this worker is alone).
    """
    _die_with_parent()
    keep_freed_memory()
    # Ctrl-C reaches the whole process group; the parent decides, and ends us with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the parent's handler, which only records the signal.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        if config.freeze:
            from pgbulk.load.frozen import TableWriter

            TableWriter(worker_id, config, events, stop).run(tasks)
        else:
            _Loader(worker_id, config, events, stop, traffic).run(tasks)
        events.put(Done(worker_id))
    except PgbulkError as e:
        events.put(Failed(worker_id, str(e)))
    except Exception as e:  # reported to the parent, which stops the load
        events.put(Failed(worker_id, f"{type(e).__name__}: {e}"))


class TableTraffic:
    """How many workers are copying into each table right now, shared by all workers.

    Two sessions inserting into one table contend for its extension lock and its last
    pages: at 1M users with 2 workers, the server spent 3.1-3.5 core-s on the load when
    the workers kept to different tables and up to 4.1 when they met. So each worker
    copies next, of the tables its chunk still needs, the one the fewest others are in.
    """

    def __init__(self, tables: tuple[str, ...], counts: Any = None) -> None:
        self.tables = tables
        self.counts = counts  # multiprocessing.Array("i", len(tables)), or None when alone

    @contextmanager
    def enter(self, pending: list[str]) -> Iterator[str]:
        if self.counts is None:
            yield pending[0]
            return
        with self.counts.get_lock():
            table = min(pending, key=lambda t: self.counts[self.tables.index(t)])
            self.counts[self.tables.index(table)] += 1
        try:
            yield table
        finally:
            with self.counts.get_lock():
                self.counts[self.tables.index(table)] -= 1


class _Loader:
    def __init__(
        self,
        worker_id: int,
        config: WorkerConfig,
        events: Queue[Message],
        stop: Event,
        traffic: Any,
    ) -> None:
        self.worker_id = worker_id
        self.config = config
        self.events = events
        self.stop = stop
        dataset = config.dataset
        self.rows = Rows(dataset, config.scale, seed=config.seed)
        self.conn: psycopg.Connection | None = None
        self.traffic = TableTraffic(dataset.table_names, traffic)
        self.copy_sql = {
            t.name: ddl.copy_statement(config.target_schema, t) for t in dataset.tables
        }

    def run(self, tasks: Queue[int | None]) -> None:
        ready: queue.Queue[EncodedChunk | BaseException | None] = queue.Queue(maxsize=1)
        producer = threading.Thread(target=self._produce, args=(tasks, ready), daemon=True)
        producer.start()
        try:
            # Connect while the first chunk is being generated rather than after: the server
            # would otherwise wait for both (4% of a 1M-user load with 2 workers). A failure
            # here is left to the first chunk's retries, which report it.
            with contextlib.suppress(psycopg.OperationalError):
                self.conn = self._connect()
            while not self.stop.is_set():
                item = ready.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                self._load_with_retries(item)
        finally:
            if self.conn is not None:
                self.conn.close()

    def _produce(
        self, tasks: Queue[int | None], ready: queue.Queue[EncodedChunk | BaseException | None]
    ) -> None:
        _as_batch_thread()
        try:
            while not self.stop.is_set():
                index = tasks.get()
                if index is None:
                    break
                ready.put(encode_chunk(self.rows, index, self.config.skip_tables))
            ready.put(None)
        except BaseException as e:
            ready.put(e)

    def _connect(self) -> psycopg.Connection:
        return worker_connection(
            self.config.dsn, f"pgbulk worker {self.worker_id}", self.config.settings
        )

    def _load_with_retries(self, chunk: EncodedChunk) -> None:
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                    if attempt and ledger.chunk_loaded(
                        self.conn, self.config.target_schema, chunk.index
                    ):
                        self.conn.commit()
                        self.events.put(Skipped(self.worker_id, chunk.index))
                        return  # the commit landed before the connection dropped
                self._load(self.conn, chunk)
                seconds = time.perf_counter() - started
                self.events.put(
                    Loaded(self.worker_id, chunk.index, chunk.sent_rows, chunk.nbytes, seconds)
                )
                return
            except psycopg.errors.UniqueViolation as e:
                if e.diag.constraint_name == "chunks_pkey":
                    # Another loader (a misconfigured shard) committed this chunk first;
                    # our transaction rolled back whole, so nothing is duplicated.
                    self.events.put(Skipped(self.worker_id, chunk.index))
                    return
                raise
            except psycopg.OperationalError as e:
                attempt += 1
                reason, delay = after_connection_failure(
                    self.conn,
                    e,
                    attempt,
                    max_retries=self.config.max_retries,
                    backoff_seconds=self.config.backoff_seconds,
                    stopping=self.stop.is_set(),
                    what=f"chunk {chunk.index}",
                )
                self.conn = None
                self.events.put(Retry(self.worker_id, chunk.index, attempt, reason, delay))
                self.stop.wait(delay)

    def _load(self, conn: psycopg.Connection, chunk: EncodedChunk) -> None:
        pending = list(chunk.buffers)
        with conn.transaction(), conn.cursor() as cur:
            while pending:
                with self.traffic.enter(pending) as table, cur.copy(self.copy_sql[table]) as copy:
                    copy.write(chunk.buffers[table])
                pending.remove(table)
            cur.execute(
                ledger.RECORD_CHUNK,
                ledger.chunk_params(
                    self.config.target_schema, chunk.index, chunk.rows, chunk.nbytes
                ),
            )
