"""The load phase: start the worker processes, feed them units, follow them, stop them.

Workers report through a queue (:mod:`pgbulk.load.messages`); the first error or a
signal stops them all, and what committed stays committed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import ForkContext, SpawnContext
from typing import Any

import psutil

from pgbulk import dsn as dsns
from pgbulk import ledger
from pgbulk.errors import LoadFailed, LoadInterrupted
from pgbulk.load import worker
from pgbulk.load.messages import (
    Done,
    Failed,
    Loaded,
    Retry,
    Skipped,
    TableCommitted,
    TableCopied,
    TableRetry,
)
from pgbulk.load.report import LoadReport
from pgbulk.load.signals import sigint_blocked, stop_on_signals
from pgbulk.model import Dataset
from pgbulk.progress import Progress

log = logging.getLogger("pgbulk")


@dataclass(frozen=True)
class Job:
    """The units to load and where: what the workers are started with."""

    dsn: str
    schema: str
    dataset: Dataset  # pickled to the workers: any dataset, not only those known by name
    seed: int
    scale: int
    tables: tuple[str, ...]
    todo: list[int]
    workers: int
    rows_per_unit: float  # expected, for the progress line's ETA
    #: a fresh load: the workers take these tables (largest first) and write each whole,
    #: frozen (pgbulk.load.frozen); empty: they take units
    write_tables: tuple[str, ...] = ()
    #: tables an interrupted fresh load committed whole: units leave them out
    skip_tables: tuple[str, ...] = ()

    @property
    def freeze(self) -> bool:
        return bool(self.write_tables)


def process_context() -> ForkContext | SpawnContext:
    """fork where it is safe, else spawn.

    A spawned worker imports numpy and psycopg again before its first row: about 0.5 s
    measured here, 15% of a 1M-user load. A forked one has them at once, but fork is
    only safe while this process runs a single thread (a lock held by another thread
    would stay locked in the child), so a multi-threaded caller gets spawn.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("spawn")


def memory_of(pids: list[int | None]) -> int:
    """Resident memory of this process and the given workers (which start no processes).

    Asking for known pids costs 0.1 ms; listing the process tree cost 3 ms, every quarter
    of a second of the load, on cores the server needs.
    """
    total = 0
    for pid in [os.getpid(), *(p for p in pids if p is not None)]:  # None: not started
        with contextlib.suppress(psutil.Error):  # ended
            total += psutil.Process(pid).memory_info().rss
    return total


class _TableTally:
    """What a fresh load's writers sent: per unit, each table's rows and bytes."""

    def __init__(self) -> None:
        self.units: dict[int, dict[str, tuple[int, int]]] = {}
        self.sent: dict[str, tuple[int, int]] = {}
        self.committed: set[str] = set()

    def copied(self, event: TableCopied) -> None:
        self.units.setdefault(event.chunk, {})[event.table] = (event.rows, event.nbytes)
        rows, nbytes = self.sent.get(event.table, (0, 0))
        self.sent[event.table] = (rows + event.rows, nbytes + event.nbytes)

    def restart(self, table: str) -> tuple[int, int]:
        """The table's transaction rolled back: what it had sent, to take off the report."""
        return self.sent.pop(table, (0, 0))

    def record_units(self, job: Job, report: LoadReport) -> None:
        """Every table is in: record the units, all in one transaction, waiting for its flush
        (the tables' commits came before it in the WAL, so they are durable with it)."""
        rows = [
            ledger.chunk_params(
                job.schema,
                unit,
                {t: r for t, (r, _) in self.units.get(unit, {}).items()},
                sum(b for _, b in self.units.get(unit, {}).values()),
            )
            for unit in job.todo
        ]
        with dsns.connect(job.dsn) as conn:
            conn.execute("SET synchronous_commit = on")
            with conn.cursor() as cur:
                cur.executemany(ledger.RECORD_CHUNK, rows)
            conn.commit()
        report.chunks_loaded += len(job.todo)


def run_workers(job: Job, progress: Progress, report: LoadReport) -> None:
    """Load ``job.todo`` with worker processes; raise LoadFailed or LoadInterrupted on a stop."""
    started = time.perf_counter()
    tasks_todo: list[int | str] = list(job.write_tables) if job.freeze else list(job.todo)
    nproc = max(1, min(job.workers, len(tasks_todo)))
    progress.phase("load", total_rows=round(len(job.todo) * job.rows_per_unit))
    if not job.todo:
        report.seconds["load"] = 0.0
        return
    ctx = process_context()
    tasks: Any = ctx.Queue()
    events: Any = ctx.Queue()
    stop = ctx.Event()
    traffic = ctx.Array("i", len(job.tables)) if nproc > 1 and not job.freeze else None
    config = worker.WorkerConfig(
        dsn=job.dsn,
        target_schema=job.schema,
        dataset=job.dataset,
        seed=job.seed,
        scale=job.scale,
        freeze=job.freeze,
        skip_tables=job.skip_tables,
    )
    procs = [
        ctx.Process(
            target=worker.run,
            args=(i, config, tasks, events, stop, traffic),
            name=f"pgbulk-worker-{i}",
            daemon=True,
        )
        for i in range(nproc)
    ]
    signals: list[int] = []
    finished: set[int] = set()
    error: str | None = None
    peak = 0
    last_sample = 0.0
    remaining = len(job.todo)
    tables = _TableTally()
    with stop_on_signals(signals):
        with sigint_blocked():
            for p in procs:
                p.start()
        pids = [p.pid for p in procs]
        # Only now: the first put starts the queue's feeder thread, and fork wants one thread.
        for task in tasks_todo:
            tasks.put(task)
        for _ in range(nproc):
            tasks.put(None)
        while len(finished) < nproc and error is None and not signals:
            now = time.monotonic()
            if now - last_sample > 0.25:
                peak, last_sample = max(peak, memory_of(pids)), now
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:  # look for workers that died without a word
                dead = [p for i, p in enumerate(procs) if i not in finished and not p.is_alive()]
                if dead:
                    error = f"worker {dead[0].name} died (exit code {dead[0].exitcode})"
                continue
            if isinstance(event, Loaded):
                report.chunks_loaded += 1
                report.rows_loaded += sum(event.rows.values())
                report.bytes_sent += event.nbytes
                remaining -= 1
                progress.advance(sum(event.rows.values()))
            elif isinstance(event, Skipped):
                report.chunks_already_loaded += 1
                remaining -= 1
            elif isinstance(event, Retry):
                report.retries += 1
                log.warning(
                    "worker %d: chunk %d failed (%s); retry %d in %.1f s",
                    event.worker,
                    event.chunk,
                    event.reason,
                    event.attempt,
                    event.delay,
                )
            elif isinstance(event, TableCopied):
                tables.copied(event)
                report.rows_loaded += event.rows
                report.bytes_sent += event.nbytes
                progress.advance(event.rows)
            elif isinstance(event, TableRetry):
                report.retries += 1
                rows, nbytes = tables.restart(event.table)
                report.rows_loaded -= rows
                report.bytes_sent -= nbytes
                log.warning(
                    "writer %d: table %s failed (%s); its transaction rolled back, "
                    "retry %d in %.1f s",
                    event.worker,
                    event.table,
                    event.reason,
                    event.attempt,
                    event.delay,
                )
            elif isinstance(event, TableCommitted):
                tables.committed.add(event.table)
            elif isinstance(event, Failed):
                error = f"worker {event.worker}: {event.message}"
            elif isinstance(event, Done):
                finished.add(event.worker)
        if error is not None or signals:
            stop.set()
            # Unit numbers the workers will never read may still sit in the queue's
            # feeder thread (more than a pipe holds: thousands of units); without this,
            # the process would wait for them at exit, forever.
            tasks.cancel_join_thread()
            for p in procs:
                if p.is_alive():
                    p.terminate()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    if job.freeze and error is None and not signals:
        missing = set(job.write_tables) - tables.committed
        if missing:
            error = f"tables {', '.join(sorted(missing))} were not written"
        else:
            tables.record_units(job, report)
            remaining = 0
    peak = max(peak, memory_of([]))
    report.peak_memory_bytes = max(report.peak_memory_bytes, peak)
    report.seconds["load"] = time.perf_counter() - started
    if job.freeze and tables.committed and (error is not None or signals):
        report.notes.append(f"tables written whole and kept: {', '.join(sorted(tables.committed))}")
    resume = (
        f"{report.chunks_loaded + report.chunks_already_loaded} chunks are committed and kept; "
        f"resume with the same options and --if-exists resume"
    )
    if signals:
        name = signal.Signals(signals[0]).name
        raise LoadInterrupted(
            f"interrupted by {name}: the chunks in flight were rolled back. {resume}"
        )
    if error is not None:
        raise LoadFailed(f"{error}. {resume}")
    if remaining > 0:
        raise LoadFailed(f"{remaining} chunks were not loaded. {resume}")
