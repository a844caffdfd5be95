"""Run an ingest's units on worker processes (files) or threads (in-memory data).

The first error or a signal stops every worker; what committed stays committed and
recorded. Units reach the workers through a queue: all at once for files (a unit is a
few words), at most ``workers`` ahead for in-memory data (a unit is its rows), so memory
stays bounded by workers x unit size whatever the size of the source.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Iterable
from typing import Any

from pgbulk.errors import LoadFailed, LoadInterrupted
from pgbulk.ingestion import worker
from pgbulk.ingestion.report import IngestReport
from pgbulk.ingestion.source import Unit
from pgbulk.load.signals import sigint_blocked, stop_on_signals
from pgbulk.load.supervise import memory_of, process_context
from pgbulk.progress import Progress

log = logging.getLogger("pgbulk")


class WorkerError(LoadFailed):
    """A worker stopped on an error; ``rejected``: on a value of the source."""

    def __init__(self, message: str, rejected: bool) -> None:
        super().__init__(message)
        self.rejected = rejected


def run_units(
    config: worker.WorkerConfig,
    units: Iterable[Unit],
    *,
    workers: int,
    in_memory: bool,
    progress: Progress,
    report: IngestReport,
) -> list[str]:
    """Load ``units``; return the keys of those handed out. Raises on a stop."""
    started = time.perf_counter()
    threads_mode = in_memory
    ctx: Any = None if threads_mode else process_context()
    events: Any = queue.Queue() if threads_mode else ctx.Queue()
    tasks: Any = queue.Queue(maxsize=workers) if threads_mode else ctx.Queue()
    stop: Any = threading.Event() if threads_mode else ctx.Event()
    handed: list[str] = []
    signals: list[int] = []
    finished: set[int] = set()
    error: tuple[str, bool] | None = None
    peak = 0
    last_sample = 0.0
    pending = 0
    lock = threading.Lock()
    source_error: list[str] = []

    def feed() -> None:
        nonlocal pending
        try:
            for unit in units:
                while not stop.is_set():
                    try:
                        tasks.put(unit, timeout=0.2) if threads_mode else tasks.put(unit)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                with lock:
                    handed.append(unit.key)
                    pending += 1
        except BaseException as e:  # a stream that fails while read: the units sent still load
            source_error.append(f"reading the source failed: {type(e).__name__}: {e}")
        finally:
            for _ in range(workers):
                if threads_mode:
                    while not stop.is_set():
                        try:
                            tasks.put(None, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                else:
                    tasks.put(None)

    runners: list[Any]
    with stop_on_signals(signals):
        # In-memory rows stay in this process (threads); files are read by processes.
        make = threading.Thread if threads_mode else ctx.Process
        target = worker.run if threads_mode else worker.run_process
        runners = [
            make(
                target=target,
                args=(i, config, tasks, events, stop),
                name=f"pgbulk-ingest-{i}",
                daemon=True,
            )
            for i in range(workers)
        ]
        with sigint_blocked():
            for r in runners:
                r.start()
        pids = [] if threads_mode else [r.pid for r in runners]
        feeder = threading.Thread(target=feed, name="pgbulk-ingest-feeder", daemon=True)
        feeder.start()
        while len(finished) < workers and error is None and not signals:
            now = time.monotonic()
            if now - last_sample > 0.25:
                peak, last_sample = max(peak, memory_of(pids)), now
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if not threads_mode:
                    dead = [
                        r for i, r in enumerate(runners) if i not in finished and not r.is_alive()
                    ]
                    if dead:
                        error = (
                            f"worker {dead[0].name} died (exit code {dead[0].exitcode})",
                            False,
                        )
                continue
            if isinstance(event, worker.UnitLoaded):
                report.units_loaded += 1
                report.rows_loaded += event.rows
                report.bytes_sent += event.nbytes
                progress.advance(event.rows)
            elif isinstance(event, worker.UnitSkipped):
                report.units_already_loaded += 1
            elif isinstance(event, worker.UnitRetry):
                report.retries += 1
                log.warning(
                    "worker %d: %s failed (%s); retry %d",
                    event.worker,
                    event.unit,
                    event.reason,
                    event.attempt,
                )
            elif isinstance(event, worker.WorkerFailed):
                error = (event.message, event.rejected)
            elif isinstance(event, worker.WorkerDone):
                finished.add(event.worker)
        if error is not None or signals:
            stop.set()
            if not threads_mode:
                tasks.cancel_join_thread()
                for r in runners:
                    if r.is_alive():
                        r.terminate()
        for r in runners:
            r.join(timeout=10)
            if not threads_mode and r.is_alive():
                r.kill()
                r.join()
        feeder.join(timeout=5)
    report.peak_memory_bytes = max(report.peak_memory_bytes, peak, memory_of([]))
    report.seconds["load"] = report.seconds.get("load", 0.0) + time.perf_counter() - started
    if signals:
        name = signal.Signals(signals[0]).name
        raise LoadInterrupted(f"interrupted by {name}: the units in flight were rolled back")
    if error is not None:
        raise WorkerError(*error)
    if source_error:
        raise WorkerError(source_error[0], rejected=False)
    return handed
