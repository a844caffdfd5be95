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

from pgbulk.errors import LoadFailed, LoadInterrupted
from pgbulk.load import worker
from pgbulk.load.messages import Done, Failed, Loaded, Retry, Skipped
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


def run_workers(job: Job, progress: Progress, report: LoadReport) -> None:
    """Load ``job.todo`` with worker processes; raise LoadFailed or LoadInterrupted on a stop."""
    started = time.perf_counter()
    nproc = max(1, min(job.workers, len(job.todo)))
    progress.phase("load", total_rows=round(len(job.todo) * job.rows_per_unit))
    if not job.todo:
        report.seconds["load"] = 0.0
        return
    ctx = process_context()
    tasks: Any = ctx.Queue()
    events: Any = ctx.Queue()
    stop = ctx.Event()
    traffic = ctx.Array("i", len(job.tables)) if nproc > 1 else None
    config = worker.WorkerConfig(
        dsn=job.dsn,
        target_schema=job.schema,
        dataset=job.dataset,
        seed=job.seed,
        scale=job.scale,
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
    with stop_on_signals(signals):
        with sigint_blocked():
            for p in procs:
                p.start()
        pids = [p.pid for p in procs]
        # Only now: the first put starts the queue's feeder thread, and fork wants one thread.
        for c in job.todo:
            tasks.put(c)
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
    peak = max(peak, memory_of([]))
    report.peak_memory_bytes = max(report.peak_memory_bytes, peak)
    report.seconds["load"] = time.perf_counter() - started
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
