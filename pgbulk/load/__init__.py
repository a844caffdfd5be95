"""``pgbulk.load``: prepare the target, stream the units in parallel, then build constraints.

Phases: *prepare* (check the target, create bare tables, record the dataset:
:mod:`.prepare`), *load* (worker processes: :mod:`.supervise`, :mod:`.worker`),
*constraints* and *analyze* (:mod:`.finalize`). Every unit commits with its ledger row,
so an interrupted load keeps what it committed and ``if_exists="resume"`` loads only
what is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Literal

import psycopg

from pgbulk import dsn as dsns
from pgbulk import ledger
from pgbulk.chunks import Rows
from pgbulk.datasets import choose
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.errors import ParameterError
from pgbulk.estimate import estimate
from pgbulk.load.finalize import finalize, reconnect
from pgbulk.load.frozen import balanced, table_order
from pgbulk.load.prepare import prepare
from pgbulk.load.report import LoadReport
from pgbulk.load.supervise import Job, run_workers
from pgbulk.model import Dataset
from pgbulk.plan import Shard, chunks_for_shard
from pgbulk.progress import Progress
from pgbulk.target import DEFAULT_DATA_DIR, resolve_target

__all__ = ["IfExists", "LoadReport", "finalize", "load", "parse_if_exists"]

log = logging.getLogger("pgbulk")

IfExists = Literal["fail", "replace", "resume"]
#: maintenance_work_mem of the index builds: on pgbulk's own server the memory is known
#: to be there; on someone else's, ask for less.
EMBEDDED_MAINTENANCE_WORK_MEM = "2GB"
OTHER_MAINTENANCE_WORK_MEM = "1GB"


def parse_if_exists(value: str) -> IfExists:
    if value not in ("fail", "replace", "resume"):
        raise ParameterError("if_exists", value, "must be fail, replace or resume")
    return value  # type: ignore[return-value]


def load(
    dsn: str | None = None,
    *,
    dataset: Dataset | None = None,
    scale: int | None = None,
    users: int | None = None,
    seed: int = 0,
    workers: int = 2,
    spec: ContactsSpec | None = None,
    schema_name: str = "public",
    if_exists: IfExists = "fail",
    shard: Shard | None = None,
    constraint_jobs: int | None = None,
    maintenance_work_mem: str | None = None,
    progress: Progress | None = None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    pg_bin: str | Path | None = None,
    freeze: bool = True,
) -> LoadReport:
    """Load ``dataset`` at ``scale`` (default: contacts, ``users`` users) into ``schema_name``.

    ``dsn=None`` (and no PGBULK_DSN / DATABASE_URL / PG* variables) uses the embedded
    server in ``data_dir``. With ``shard=Shard(i, n)`` only units ``c % n == i`` are
    loaded, and constraints are built by the shard that completes the ledger.

    A fresh load (nothing recorded yet, no shard) writes each table whole in one
    transaction, as frozen rows (:mod:`pgbulk.load.frozen`), when its tables can keep
    the workers evenly busy; ``freeze=False`` loads it unit by unit instead, each unit
    committed on its own.
    """
    started = time.perf_counter()
    dataset, scale = choose(dataset, scale, users, spec)
    rows = Rows(dataset, scale, seed=seed)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ParameterError("workers", workers, "must be an integer in 1..64")
    if_exists = parse_if_exists(if_exists)
    progress = progress or Progress()
    expected = estimate(rows)
    target = resolve_target(dsn, data_dir, pg_bin, disk_needed=int(expected.bytes))
    # Given, it holds for every build; by default, a build whose sort needs more memory
    # gets it when the server is on this machine (finalize's size_sorts).
    size_sorts = maintenance_work_mem is None
    if maintenance_work_mem is None:
        maintenance_work_mem = (
            EMBEDDED_MAINTENANCE_WORK_MEM if target.embedded else OTHER_MAINTENANCE_WORK_MEM
        )
    chunks = rows.chunks
    wanted = chunks_for_shard(chunks, shard)
    with dsns.connect(target.dsn) as conn:
        version = str(dsns.scalar(conn, "SHOW server_version"))
        record = prepare(conn, schema_name, dataset, rows.seed, scale, chunks, if_exists, shard)
        done = ledger.loaded_chunks(conn, schema_name)
        whole = ledger.frozen_tables(conn, schema_name)
        fresh = freeze and shard is None and not done and not whole
        if fresh and not balanced(expected, dataset.table_names, workers):
            fresh = False
            log.info("one table holds most of the rows: loading unit by unit, on every worker")
        if fresh and not _may_truncate(conn, schema_name, dataset):
            fresh = False
            log.info("no TRUNCATE privilege on every table: loading unit by unit")
        conn.commit()
    progress.message(
        f"estimated {expected.rows:,.0f} rows, {expected.bytes / 2**30:.2f} GiB on disk "
        f"for {dataset.name} at scale {scale:,}"
    )
    report = LoadReport(
        target=dsns.redact(target.dsn),
        schema=schema_name,
        server_version=version,
        dataset=dict(dataset.definition),
        seed=rows.seed,
        scale=scale,
        workers=workers,
        shard=str(shard) if shard else None,
        state="loading",
        tables=list(dataset.table_names),
        chunks_total=chunks,
        estimated_rows=round(expected.rows),
        estimated_disk_bytes=round(expected.bytes),
    )
    report.chunks_already_loaded = len(done & set(wanted))
    report.seconds["prepare"] = time.perf_counter() - started
    if record is not None and record.state == "complete":
        report.state = "complete"
        report.notes.append("this dataset was already completely loaded; nothing to do")
    else:
        job = Job(
            dsn=target.dsn,
            schema=schema_name,
            dataset=dataset,
            seed=rows.seed,
            scale=scale,
            tables=dataset.table_names,
            todo=[c for c in wanted if c not in done],
            workers=workers,
            rows_per_unit=expected.rows / max(chunks, 1),
            write_tables=tuple(table_order(expected, dataset.table_names)) if fresh else (),
            skip_tables=tuple(sorted(whole)),
        )
        if fresh:
            report.notes.append(
                "fresh load: each table written whole in one transaction, as frozen rows "
                "(COPY FREEZE)"
            )
        run_workers(job, progress, report)
        lost = _lost_chunks(target.dsn, schema_name, job.todo, report)
        if lost:
            # A server crash takes the last commits of synchronous_commit=off sessions with
            # it, their ledger rows included, after the workers reported those units
            # loaded: load them once more now rather than leave them to a resume.
            log.warning(
                "%d chunks committed just before a server crash were lost with it; "
                "loading them again",
                len(lost),
            )
            report.chunks_loaded -= len(lost)
            report.notes.append(f"{len(lost)} chunks lost in a server crash were loaded again")
            first_pass = report.seconds["load"]
            with reconnect(target.dsn, report) as conn:
                whole = ledger.frozen_tables(conn, schema_name)
            again = dataclasses.replace(
                job, todo=lost, write_tables=(), skip_tables=tuple(sorted(whole))
            )
            run_workers(again, progress, report)
            report.seconds["load"] += first_pass
        if shard is None or _ledger_complete(target.dsn, schema_name, report):
            finalize(
                target.dsn,
                schema_name,
                jobs=constraint_jobs or min(max(workers, 2), 3),
                maintenance_work_mem=maintenance_work_mem,
                size_sorts=size_sorts,
                progress=progress,
                report=report,
                dataset=dataset,
                reconnect=True,
            )
        else:
            report.state = "loaded"
            report.notes.append(
                "other shards are still loading: the shard that completes the ledger, "
                "or `pgbulk finalize`, builds the constraints"
            )
    with reconnect(target.dsn, report) as conn:
        _, totals = ledger.totals(conn, schema_name)
        report.rows = {t: totals.get(t, 0) for t in dataset.table_names}
        report.database_size_bytes = int(
            dsns.scalar(conn, "SELECT pg_database_size(current_database())")
        )
        collation = conn.execute(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        if collation and collation[0] not in ("C", "POSIX"):
            report.notes.append(
                f"database collation {collation[0]}: UNIQUE indexes on text build slower than under "
                "the C collation (about 2.5x for a 16-character key at a million rows); pgbulk "
                "keeps your collation"
            )
    report.seconds["total"] = time.perf_counter() - started
    progress.close()
    return report


def _may_truncate(conn: psycopg.Connection, schema_name: str, dataset: Dataset) -> bool:
    """Whether this role may TRUNCATE every table (FREEZE needs it; prepare made them or
    found them empty, but another role may own them)."""
    row = conn.execute(
        "SELECT bool_and(has_table_privilege(format('%%I.%%I', %s::text, t), 'TRUNCATE'))"
        " FROM unnest(%s::text[]) AS t",
        (schema_name, list(dataset.table_names)),
    ).fetchone()
    return bool(row and row[0])


def _lost_chunks(dsn: str, schema_name: str, loaded: list[int], report: LoadReport) -> list[int]:
    """Units this run loaded that the ledger does not list (lost in a server crash)."""
    if not loaded:
        return []
    with reconnect(dsn, report) as conn:
        return sorted(set(loaded) - ledger.loaded_chunks(conn, schema_name))


def _ledger_complete(dsn: str, schema_name: str, report: LoadReport) -> bool:
    with reconnect(dsn, report) as conn:
        record = ledger.read(conn, schema_name)
        return record is not None and ledger.totals(conn, schema_name)[0] >= record.chunks
