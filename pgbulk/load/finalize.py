"""Finish a load: keys, constraints, indexes and statistics, once every unit is loaded.

The steps come from the dataset's model (:mod:`pgbulk.ddl`) as the ledger records it,
and run over several connections (:mod:`pgbulk.constraints`).
"""

from __future__ import annotations

import logging
import signal
import time
from functools import partial

import psycopg

from pgbulk import constraints, ddl, ledger
from pgbulk import dsn as dsns
from pgbulk.chunks import Rows
from pgbulk.errors import DatasetMismatch, LoadFailed, LoadInterrupted, PgbulkError
from pgbulk.estimate import expected_rows, mean_widths
from pgbulk.load.report import LoadReport
from pgbulk.load.signals import interrupt_on_signals
from pgbulk.model import Dataset
from pgbulk.progress import Progress

log = logging.getLogger("pgbulk")


def finalize(
    dsn: str,
    schema_name: str = "public",
    *,
    jobs: int = 2,
    maintenance_work_mem: str | None = "1GB",
    size_sorts: bool = True,
    progress: Progress | None = None,
    report: LoadReport | None = None,
    dataset: Dataset | None = None,
    reconnect: bool = False,
) -> LoadReport | None:
    """Build the constraints, indexes and statistics once every unit is loaded.

    ``dataset``: the model, for one pgbulk does not know by name (built in Python);
    by default the one the ledger records.

    ``maintenance_work_mem`` is the sessions' setting. With ``size_sorts``, when the
    server runs on this machine, an index build whose sort needs more gets it, within
    half the memory available (:func:`pgbulk.constraints.local_memory_budget`).

    ``reconnect``: the server was reached moments ago (by the load that calls this), so a
    connection that fails as a restarting server's does is retried, as a worker's is.

    Safe to call from several processes: one builds while the others wait for it (a
    shard returns at once instead). A finalize that was stopped or killed is taken over
    by the next one, which skips the steps already built.
    """
    progress = progress or Progress()
    retries = dsns.RETRIES if reconnect else 0
    on_retry = partial(_count_retry, report)
    with dsns.connect(
        dsn,
        autocommit=True,
        application_name="pgbulk finalize",
        retries=retries,
        on_retry=on_retry,
    ) as guard:
        shard = report is not None and report.shard is not None
        if not ledger.lock_finalize(guard, schema_name, wait=not shard):
            assert report is not None
            report.state = "loaded"
            report.notes.append("another process is building the constraints")
            return report
        record = ledger.read(guard, schema_name)
        if record is None:
            raise PgbulkError(
                f"no pgbulk load is recorded for schema {schema_name}: nothing to finalize"
            )
        if record.state == "complete":
            if report is not None:
                report.state = "complete"
            return report
        loaded, _ = ledger.totals(guard, schema_name)
        if loaded < record.chunks:
            raise LoadFailed(
                f"{loaded} of {record.chunks} chunks are loaded in schema {schema_name}: "
                "load the missing ones first (pgbulk load ... --if-exists resume)"
            )
        ledger.set_state(guard, schema_name, "finalizing")
        if dataset is None:
            dataset = record.dataset()
        elif dict(dataset.definition) != record.definition:
            raise DatasetMismatch(
                f"schema {schema_name} holds another dataset ({record.describe()}) than the "
                f"one given ({dataset.name})"
            )

        settings = {"synchronous_commit": "off"}
        if maintenance_work_mem:
            settings["maintenance_work_mem"] = maintenance_work_mem
        if jobs > 1:
            # The connections are the parallelism: measured at 10M users on 2 cores, two
            # connections without parallel maintenance workers built everything in 79.5 s,
            # with them 86.8 s, and one connection with them 106.7 s.
            settings["max_parallel_maintenance_workers"] = "0"
        budget = constraints.local_memory_budget(guard) if size_sorts else None
        received: list[int] = []
        cpu: dict[str, float] = {}  # per step, when the server is on this machine
        sample = Rows(dataset, record.scale, seed=record.seed)
        steps = ddl.post_load(
            dataset,
            expected_rows(dataset, record.scale),
            mean_widths(sample),
            frozen=ledger.frozen_tables(guard, schema_name),
        )
        try:
            with interrupt_on_signals(received):
                started = time.perf_counter()
                progress.phase("constraints")
                run = partial(
                    constraints.run_steps,
                    dsn,
                    schema_name,
                    settings=settings,
                    connect_retries=retries,
                    on_retry=on_retry,
                )
                timings = run(steps, jobs=jobs, cpu=cpu, memory_budget=budget)
                constraints_s = time.perf_counter() - started
                progress.phase("analyze")
                started = time.perf_counter()
                timings.update(run(ddl.analyze(dataset), jobs=3))
                analyze_s = time.perf_counter() - started
        except KeyboardInterrupt:
            name = signal.Signals(received[0] if received else signal.SIGINT).name
            raise LoadInterrupted(
                f"interrupted by {name} while building constraints: every chunk is loaded and "
                "the steps already built are kept; run `pgbulk resume` (or `pgbulk finalize`) "
                "to build the rest"
            ) from None
        ledger.set_state(guard, schema_name, "complete")
    if report is not None:
        report.state = "complete"
        report.seconds["constraints"] = constraints_s
        report.seconds["analyze"] = analyze_s
        report.step_seconds.update(timings)
        report.step_cpu_seconds.update(cpu)
    return report


def _count_retry(report: LoadReport | None, reason: str, delay: float) -> None:
    if report is not None:
        report.retries += 1
    log.warning("the connection failed (%s); trying again in %.1f s", reason, delay)


def reconnect(dsn: str, report: LoadReport | None) -> psycopg.Connection:
    """A connection to a server a load has reached: a failure as a restarting server's is
    retried with the workers' backoff (about 23 s in all) and counted in the report."""
    return dsns.connect(
        dsn, autocommit=True, retries=dsns.RETRIES, on_retry=partial(_count_retry, report)
    )
