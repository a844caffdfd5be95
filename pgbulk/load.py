"""``pgbulk.load``: prepare the target, stream the chunks in parallel, then build constraints.

Phases: *prepare* (check the target, create bare tables, record the dataset), *load*
(worker processes, see :mod:`pgbulk.worker`), *constraints* and *analyze* (see
:mod:`pgbulk.constraints`). Every chunk commits with its ledger row, so an interrupted
load keeps what it committed and ``if_exists="resume"`` loads only what is missing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.context import ForkContext, SpawnContext
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import psutil
import psycopg
from psycopg import sql

from pgbulk import constraints, ledger, schema, worker
from pgbulk import dsn as dsns
from pgbulk.datasets import TABLES, chunk_count
from pgbulk.errors import (
    DatasetMismatch,
    LoadFailed,
    LoadInterrupted,
    ParameterError,
    PgbulkError,
    TargetNotEmpty,
)
from pgbulk.generate import truncated_zipf_pmf
from pgbulk.plan import Shard, chunks_for_shard
from pgbulk.progress import Progress
from pgbulk.server import EmbeddedServer
from pgbulk.spec import ContactsSpec, check_seed, check_users

log = logging.getLogger("pgbulk")

IfExists = Literal["fail", "replace", "resume"]
EMBEDDED_DATABASE = "pgbulk"
EMBEDDED_MAINTENANCE_WORK_MEM = "2GB"

#: Bytes on disk per user once loaded and indexed (measured: see README). Used for the
#: up-front estimate and the free-space guard on the embedded server.
BYTES_PER_USER = 700


@dataclass
class LoadReport:
    """What a load did. ``to_dict()`` is the ``--json`` output."""

    target: str
    schema: str
    server_version: str
    dataset: dict[str, Any]
    seed: int
    users: int
    workers: int
    shard: str | None
    state: str
    rows: dict[str, int] = field(default_factory=dict)
    chunks_total: int = 0
    chunks_loaded: int = 0
    chunks_already_loaded: int = 0
    rows_loaded: int = 0
    bytes_sent: int = 0
    retries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    estimated_disk_bytes: int = 0
    database_size_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def load_rows_per_second(self) -> float:
        seconds = self.seconds.get("load", 0.0)
        return self.rows_loaded / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["load_rows_per_second"] = round(self.load_rows_per_second)
        data["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        data["step_seconds"] = {k: round(v, 3) for k, v in self.step_seconds.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        mib = 2**20
        lines = [
            f"pgbulk load: {self.state} — {self.target}, schema {self.schema} (PostgreSQL {self.server_version})",
            f"  dataset   contacts seed={self.seed} users={self.users:,} "
            f"chunks {self.chunks_loaded} loaded now, {self.chunks_already_loaded} already there, "
            f"of {self.chunks_total}" + (f" (shard {self.shard})" if self.shard else ""),
        ]
        for table in TABLES:
            if table in self.rows:
                lines.append(f"  {table:<14}{self.rows[table]:>14,} rows")
        lines.append(f"  {'total':<14}{sum(self.rows.get(t, 0) for t in TABLES):>14,} rows")
        for phase in ("prepare", "load", "constraints", "analyze", "total"):
            if phase in self.seconds:
                extra = (
                    f"  {self.load_rows_per_second / 1e6:.2f}M rows/s" if phase == "load" else ""
                )
                lines.append(f"  {phase:<14}{self.seconds[phase]:>10.2f} s{extra}")
        lines.append(
            f"  sent {self.bytes_sent / mib:,.0f} MiB with {self.workers} worker(s); "
            f"peak memory of pgbulk processes {self.peak_memory_bytes / mib:,.0f} MiB"
            + (f"; {self.retries} retries" if self.retries else "")
        )
        if self.database_size_bytes is not None:
            lines.append(f"  database size {self.database_size_bytes / 2**30:.2f} GiB")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def parse_if_exists(value: str) -> IfExists:
    if value not in ("fail", "replace", "resume"):
        raise ParameterError("if_exists", value, "must be fail, replace or resume")
    return value  # type: ignore[return-value]


def embedded_dsn(data_dir: str | Path = ".pgbulk", pg_bin: str | Path | None = None) -> str:
    """Start (if needed) pgbulk's own server and return the DSN of its ``pgbulk`` database."""
    server = EmbeddedServer(data_dir, pg_bin=pg_bin)
    server.start()
    with dsns.connect(server.dsn(), autocommit=True) as conn:
        if (
            conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
            ).fetchone()
            is None
        ):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
    return server.dsn(EMBEDDED_DATABASE)


def load(
    dsn: str | None = None,
    *,
    users: int,
    seed: int = 0,
    workers: int = 2,
    spec: ContactsSpec | None = None,
    schema_name: str = "public",
    if_exists: IfExists = "fail",
    shard: Shard | None = None,
    constraint_jobs: int | None = None,
    maintenance_work_mem: str | None = None,
    progress: Progress | None = None,
    data_dir: str | Path = ".pgbulk",
    pg_bin: str | Path | None = None,
) -> LoadReport:
    """Load the ``contacts`` dataset for ``(spec, seed, users)`` into ``schema_name``.

    ``dsn=None`` (and no PGBULK_DSN / DATABASE_URL / PG* variables) uses the embedded
    server in ``data_dir``. With ``shard=Shard(i, n)`` only chunks ``c % n == i`` are
    loaded, and constraints are built by the shard that completes the ledger.
    """
    started = time.perf_counter()
    spec = spec or ContactsSpec()
    seed = check_seed(seed)
    users = check_users(users, spec)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ParameterError("workers", workers, "must be an integer in 1..64")
    if_exists = parse_if_exists(if_exists)
    progress = progress or Progress()
    resolved = dsns.resolve(dsn)
    embedded = resolved is None
    estimate = users * BYTES_PER_USER
    if embedded:  # before the server starts: a refused load creates nothing
        _check_disk(Path(data_dir), estimate)
    target_dsn = embedded_dsn(data_dir, pg_bin) if resolved is None else resolved
    if maintenance_work_mem is None:
        # Index builds sort in memory up to this much per connection. On pgbulk's own server
        # the memory is known to be there; on someone else's, ask for less.
        maintenance_work_mem = EMBEDDED_MAINTENANCE_WORK_MEM if embedded else "1GB"
    chunks = chunk_count(users, spec)
    wanted = chunks_for_shard(chunks, shard)
    with dsns.connect(target_dsn) as conn:
        version = str(dsns.scalar(conn, "SHOW server_version"))
        record = _prepare(conn, schema_name, spec, seed, users, chunks, if_exists, shard)
        done = ledger.loaded_chunks(conn, schema_name)
        conn.commit()
    progress.message(f"estimated size on disk: {estimate / 2**30:.2f} GiB for {users:,} users")
    report = LoadReport(
        target=dsns.redact(target_dsn),
        schema=schema_name,
        server_version=version,
        dataset=spec.to_dict(),
        seed=seed,
        users=users,
        workers=workers,
        shard=str(shard) if shard else None,
        state="loading",
        chunks_total=chunks,
        estimated_disk_bytes=estimate,
    )
    report.chunks_already_loaded = len(done & set(wanted))
    report.seconds["prepare"] = time.perf_counter() - started
    if record is not None and record.state == "complete":
        report.state = "complete"
        report.notes.append("this dataset was already completely loaded; nothing to do")
    else:
        todo = [c for c in wanted if c not in done]
        _run_workers(target_dsn, schema_name, spec, seed, users, todo, workers, progress, report)
        lost = _lost_chunks(target_dsn, schema_name, todo)
        if lost:
            # A server crash takes the last commits of synchronous_commit=off sessions with
            # it, their ledger rows included, after the workers reported those chunks
            # loaded: load them once more now rather than leave them to a resume.
            log.warning(
                "%d chunks committed just before a server crash were lost with it; "
                "loading them again",
                len(lost),
            )
            report.chunks_loaded -= len(lost)
            report.notes.append(f"{len(lost)} chunks lost in a server crash were loaded again")
            first_pass = report.seconds["load"]
            _run_workers(
                target_dsn, schema_name, spec, seed, users, lost, workers, progress, report
            )
            report.seconds["load"] += first_pass
        if shard is None or _ledger_complete(target_dsn, schema_name):
            finalize(
                target_dsn,
                schema_name,
                jobs=constraint_jobs or min(max(workers, 2), 3),
                maintenance_work_mem=maintenance_work_mem,
                progress=progress,
                report=report,
            )
        else:
            report.state = "loaded"
            report.notes.append(
                "other shards are still loading: the shard that completes the ledger, "
                "or `pgbulk finalize`, builds the constraints"
            )
    with dsns.connect(target_dsn, autocommit=True) as conn:
        report.rows = {t: n for t, n in ledger.totals(conn, schema_name).items() if t in TABLES}
        report.database_size_bytes = int(
            dsns.scalar(conn, "SELECT pg_database_size(current_database())")
        )
        collation = conn.execute(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        if collation and collation[0] not in ("C", "POSIX"):
            report.notes.append(
                f"database collation {collation[0]}: UNIQUE indexes on text build slower than under "
                "the C collation (about 2.5x for phone_number at 1M users); pgbulk keeps your collation"
            )
    report.seconds["total"] = time.perf_counter() - started
    progress.close()
    return report


def finalize(
    dsn: str,
    schema_name: str = "public",
    *,
    jobs: int = 2,
    maintenance_work_mem: str | None = "1GB",
    progress: Progress | None = None,
    report: LoadReport | None = None,
) -> LoadReport | None:
    """Build the constraints, indexes and statistics once every chunk is loaded.

    Safe to call from several processes: one builds while the others wait for it (a
    shard returns at once instead). A finalize that was stopped or killed is taken over
    by the next one, which skips the steps already built.
    """
    progress = progress or Progress()
    with dsns.connect(dsn, autocommit=True, application_name="pgbulk finalize") as guard:
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
        loaded = ledger.totals(guard, schema_name)["chunks"]
        if loaded < record.chunks:
            raise LoadFailed(
                f"{loaded} of {record.chunks} chunks are loaded in schema {schema_name}: "
                "load the missing ones first (pgbulk load ... --if-exists resume)"
            )
        ledger.set_state(guard, schema_name, "finalizing")

        settings = {"synchronous_commit": "off"}
        if maintenance_work_mem:
            settings["maintenance_work_mem"] = maintenance_work_mem
        if jobs > 1:
            # The connections are the parallelism: measured at 10M users on 2 cores, two
            # connections without parallel maintenance workers built everything in 79.5 s,
            # with them 86.8 s, and one connection with them 106.7 s.
            settings["max_parallel_maintenance_workers"] = "0"
        received: list[int] = []
        try:
            with _interrupt_on_signals(received):
                started = time.perf_counter()
                progress.phase("constraints")
                steps = constraints.run_steps(
                    dsn, schema_name, schema.POST_LOAD, jobs=jobs, settings=settings
                )
                constraints_s = time.perf_counter() - started
                progress.phase("analyze")
                started = time.perf_counter()
                steps.update(
                    constraints.run_steps(
                        dsn, schema_name, schema.ANALYZE, jobs=3, settings=settings
                    )
                )
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
        report.step_seconds.update(steps)
    return report


# ---------------------------------------------------------------------- prepare


def _tables_present(conn: psycopg.Connection, schema_name: str) -> dict[str, bool]:
    """For each contacts table that exists: whether it holds rows."""
    present: dict[str, bool] = {}
    for table in TABLES:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{schema_name}"."{table}"',)).fetchone()
        if row and row[0] is not None:
            has_rows = conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
                    sql.Identifier(schema_name, table)
                )
            ).fetchone()
            present[table] = bool(has_rows and has_rows[0])
    return present


def _prepare(
    conn: psycopg.Connection,
    schema_name: str,
    spec: ContactsSpec,
    seed: int,
    users: int,
    chunks: int,
    if_exists: IfExists,
    shard: Shard | None,
) -> ledger.DatasetRecord | None:
    """Check the target and make it ready; return the existing record when joining or resuming."""
    # Each privilege asked apart: has_schema_privilege('CREATE, USAGE') is true if either is held.
    ns = conn.execute(
        "SELECT has_schema_privilege(%s, 'CREATE') AND has_schema_privilege(%s, 'USAGE'),"
        " current_user FROM pg_namespace WHERE nspname = %s",
        (schema_name, schema_name, schema_name),
    ).fetchone()
    if ns is None:
        raise PgbulkError(
            f"schema {schema_name} does not exist: create it (CREATE SCHEMA {schema_name}) "
            "or choose another with --schema"
        )
    user = ns[1]
    if not ns[0]:
        raise PgbulkError(
            f"no privilege to create tables in schema {schema_name}: "
            f"GRANT CREATE, USAGE ON SCHEMA {schema_name} TO {user}"
        )
    ledger.setup_lock(conn)  # concurrent shards take turns from here to the commit
    try:
        ledger.ensure(conn)
    except psycopg.errors.InsufficientPrivilege:
        raise PgbulkError(
            "no privilege to create the pgbulk metadata schema: GRANT CREATE ON DATABASE "
            f"... TO {user}, or CREATE SCHEMA pgbulk AUTHORIZATION {user}"
        ) from None
    record = ledger.read(conn, schema_name, for_update=True)
    present = _tables_present(conn, schema_name)
    same = record is not None and record.same_dataset(spec, seed, users)

    if if_exists == "replace":
        _drop_tables(conn, schema_name)
        ledger.forget(conn, schema_name)
    elif record is not None and present and same and (if_exists == "resume" or shard is not None):
        _refuse_triggers(conn, schema_name)
        if record.state == "loading" and record.pgbulk_version != _version():
            # Another version may generate other rows for the same options: the chunks
            # still to load would not belong with those already loaded.
            raise DatasetMismatch(
                f"schema {schema_name} holds a load by pgbulk {record.pgbulk_version}, not "
                f"{_version()}, whose rows may differ. Nothing was changed: finish it with "
                f"pgbulk {record.pgbulk_version}, or --if-exists replace to start over"
            )
        return record
    elif (
        record is not None and present and not same and (if_exists == "resume" or shard is not None)
    ):
        # A shard never replaces another dataset: its tables may be empty only because
        # the shards that set them up have not committed their first chunk yet.
        raise DatasetMismatch(
            f"schema {schema_name} holds a different pgbulk dataset ({record.describe()}); "
            f"asked for seed={seed} users={users:,} chunk_users={spec.chunk_users:,}. Nothing was changed: "
            "resume with the recorded options (pgbulk resume), or --if-exists replace to start over"
        )
    elif any(present.values()):
        what = ", ".join(t for t, rows in present.items() if rows)
        hint = (
            (
                "an interrupted load of this dataset: add --if-exists resume to finish it, or --if-exists "
                "replace to start over"
            )
            if same
            else "use --if-exists replace to drop and reload them"
        )
        raise TargetNotEmpty(f"{what} in schema {schema_name} already hold rows ({hint})")
    else:
        _drop_tables(conn, schema_name)  # absent or empty: recreate bare
        ledger.forget(conn, schema_name)

    conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema_name)))
    for ddl in schema.CREATE_TABLES.values():
        conn.execute(ddl.encode())
    ledger.register(conn, schema_name, spec, seed, users, chunks, _version())
    return None


def _drop_tables(conn: psycopg.Connection, schema_name: str) -> None:
    try:
        for table in reversed(TABLES):
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema_name, table))
            )
    except psycopg.errors.DependentObjectsStillExist as e:
        raise PgbulkError(
            f"cannot drop the existing tables: {e.diag.message_primary}; "
            f"{e.diag.message_detail or ''} Drop those objects first."
        ) from None


def _refuse_triggers(conn: psycopg.Connection, schema_name: str) -> None:
    rows = conn.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s) AND NOT t.tgisinternal",
        (schema_name, list(TABLES)),
    ).fetchall()
    if rows:
        names = ", ".join(f"{t}.{g}" for t, g in rows)
        raise PgbulkError(
            f"triggers would fire for every loaded row ({names}): remove them first "
            "(pgbulk events uninstall), then install them again after the load"
        )


def _version() -> str:
    from pgbulk import __version__

    return __version__


def _check_disk(data_dir: Path, estimate: int) -> None:
    probe = data_dir.resolve()
    while not probe.exists():  # the server creates the directory, and its parents
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < estimate * 1.2:
        raise PgbulkError(
            f"not enough free disk for the embedded server: about {estimate / 2**30:.1f} GiB "
            f"needed, {free / 2**30:.1f} GiB free under {probe}; load fewer users or "
            "use --data-dir on a larger disk"
        )


def _lost_chunks(dsn: str, schema_name: str, loaded: list[int]) -> list[int]:
    """Chunks this run loaded that the ledger does not list (lost in a server crash)."""
    if not loaded:
        return []
    with dsns.connect(dsn, autocommit=True) as conn:
        return sorted(set(loaded) - ledger.loaded_chunks(conn, schema_name))


def _ledger_complete(dsn: str, schema_name: str) -> bool:
    with dsns.connect(dsn, autocommit=True) as conn:
        record = ledger.read(conn, schema_name)
        return record is not None and ledger.totals(conn, schema_name)["chunks"] >= record.chunks


# ---------------------------------------------------------------------- load phase


@contextmanager
def _signal_handler(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Handle SIGINT and SIGTERM with ``handler`` inside the block, then restore the old ones.

    Only the main thread may set handlers: called from another thread, the caller's own apply.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _interrupt_on_signals(received: list[int]) -> AbstractContextManager[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread; ``received`` says which.

    SIGTERM would otherwise end the process on the spot, its statements running on in
    the server; as an exception, the constraint steps are cancelled first.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    return _signal_handler(handler)


def _stop_on_signals(stop_flag: list[int]) -> AbstractContextManager[None]:
    """Turn SIGINT/SIGTERM into a flag the load loop checks."""
    return _signal_handler(lambda signum, frame: stop_flag.append(signum))


def _process_context() -> ForkContext | SpawnContext:
    """fork where it is safe, else spawn.

    A spawned worker imports numpy and psycopg again before its first row: about 0.5 s
    measured here, 15% of a 1M-user load. A forked one has them at once, but fork is
    only safe while this process runs a single thread (a lock held by another thread
    would stay locked in the child), so a multi-threaded caller gets spawn.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("spawn")


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold SIGINT back while workers start.

    A worker spends a second or more importing before it can ignore SIGINT; a Ctrl-C
    then (it reaches the whole process group) killed it with a traceback. A blocked
    signal stays blocked across exec, so the workers start with SIGINT held back until
    they ignore it, and the parent receives its own when the mask is restored.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _memory_of(pids: list[int | None]) -> int:
    """Resident memory of this process and the given workers (which start no processes).

    Asking for known pids costs 0.1 ms; listing the process tree cost 3 ms, every quarter
    of a second of the load, on cores the server needs.
    """
    total = 0
    for pid in [os.getpid(), *(p for p in pids if p is not None)]:  # None: not started
        with contextlib.suppress(psutil.Error):  # ended
            total += psutil.Process(pid).memory_info().rss
    return total


def _run_workers(
    dsn: str,
    schema_name: str,
    spec: ContactsSpec,
    seed: int,
    users: int,
    todo: list[int],
    workers: int,
    progress: Progress,
    report: LoadReport,
) -> None:
    started = time.perf_counter()
    nproc = max(1, min(workers, len(todo)))
    # The exact count is only known once generated; the law's mean is close enough for an ETA.
    mean = float(
        (truncated_zipf_pmf(spec.zipf_a, spec.max_per_user) * range(1, spec.max_per_user + 1)).sum()
    )
    per_chunk_users = min(spec.chunk_users, users)
    progress.phase("load", total_rows=round(len(todo) * per_chunk_users * (1 + 2 * mean)))
    if not todo:
        report.seconds["load"] = 0.0
        return
    ctx = _process_context()
    tasks: Any = ctx.Queue()
    events: Any = ctx.Queue()
    stop = ctx.Event()
    traffic = ctx.Array("i", len(TABLES)) if nproc > 1 else None
    config = worker.WorkerConfig(
        dsn=dsn, target_schema=schema_name, spec=spec.to_dict(), seed=seed, users=users
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
    remaining = len(todo)
    with _stop_on_signals(signals):
        with _sigint_blocked():
            for p in procs:
                p.start()
        pids = [p.pid for p in procs]
        # Only now: the first put starts the queue's feeder thread, and fork wants one thread.
        for c in todo:
            tasks.put(c)
        for _ in range(nproc):
            tasks.put(None)
        while len(finished) < nproc and error is None and not signals:
            now = time.monotonic()
            if now - last_sample > 0.25:
                peak, last_sample = max(peak, _memory_of(pids)), now
            try:
                event = events.get(timeout=0.2)
            except Exception:  # queue.Empty: look for workers that died without a word
                dead = [p for i, p in enumerate(procs) if i not in finished and not p.is_alive()]
                if dead:
                    error = f"worker {dead[0].name} died (exit code {dead[0].exitcode})"
                continue
            kind = event[0]
            if kind == "loaded":
                _, _, _, rows, nbytes, _ = event
                report.chunks_loaded += 1
                report.rows_loaded += sum(rows.values())
                report.bytes_sent += nbytes
                remaining -= 1
                progress.advance(sum(rows.values()))
            elif kind == "skipped":
                report.chunks_already_loaded += 1
                remaining -= 1
            elif kind == "retry":
                _, wid, chunk, attempt, reason, delay = event
                report.retries += 1
                log.warning(
                    "worker %d: chunk %d failed (%s); retry %d in %.1f s",
                    wid,
                    chunk,
                    reason,
                    attempt,
                    delay,
                )
            elif kind == "error":
                error = f"worker {event[1]}: {event[2]}"
            elif kind == "done":
                finished.add(event[1])
        if error is not None or signals:
            stop.set()
            # Chunk numbers the workers will never read may still sit in the queue's
            # feeder thread (more than a pipe holds: thousands of chunks); without this,
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
    peak = max(peak, _memory_of([]))
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
