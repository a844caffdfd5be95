"""Every way of loading the contacts data that the comparison measures, pgbulk included.

A method loads into the fresh, empty database it is given and returns an
:class:`Outcome`: rows per table and seconds per phase, at the size it ran. Wherever
the method leaves bare tables, the constraints and ANALYZE are then built by the same
statements, scheduler, connection count and session settings that pgbulk uses
(:func:`finalize`), timed apart.

Each baseline is written the way its best users would write it: ``synchronous_commit
= off`` on every loading session except the original's (it never set it), rows built
before the clock starts (the client-side methods get their Python tuples for free, the
ceiling its files), parallel sessions where the method allows it. pgbulk's own load
phase, by contrast, includes generating and encoding every row and starting its
worker processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks.ceiling import CeilingFiles, check_readable, copy_from_files, write_files
from benchmarks.target import CpuTimeline, server_cpu
from pgbulk import constraints, ddl
from pgbulk.chunks import Chunk, Rows
from pgbulk.datasets import contacts
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.estimate import expected_rows
from pgbulk.generate import Text, concat
from pgbulk.generators import CountLaw
from pgbulk.model import Column, Dataset, PerParent, Table

PHASES = ("load", "constraints", "analyze", "total")

# What pgbulk.load.finalize uses with the default 2 workers: jobs = min(max(workers, 2), 3).
CONSTRAINT_JOBS = 2
ANALYZE_JOBS = 3
CONSTRAINT_SETTINGS = {"synchronous_commit": "off", "maintenance_work_mem": "1GB"}
LOAD_SETTINGS = "SET synchronous_commit = off"

ORIGINAL_COMMIT_USERS = 10_000  # the original committed every 10,000 users
EXECUTEMANY_BATCH = 10_000

#: The contacts tables, parents first (the model's order).
TABLES = contacts.dataset().table_names


def insert_statement(table: Table) -> sql.Composed:
    """``INSERT INTO table (columns) VALUES (%s, ...)``, the model's column order."""
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names),
        sql.SQL(", ").join(sql.Placeholder() for _ in table.columns),
    )


def copy_types(table: Table) -> list[str]:
    """The column types for ``Copy.set_types``: ``uuid``, ``text``, ..."""
    return [c.type.sql for c in table.columns]


def index_names(dataset: Dataset) -> tuple[str, ...]:
    """The indexes that are not constraints (contacts: one on each child's user_id)."""
    return tuple(e.name for e in ddl.expected(dataset) if e.kind == "i")


class MethodSkipped(Exception):
    """The method cannot run against this server (the reason says why)."""


class MethodFailed(Exception):
    """The method ran and failed."""


@dataclass
class Outcome:
    """What one method did, at the number of users it ran."""

    method: str
    users: int
    rows: dict[str, int]
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int | None = None
    database_size_bytes: int | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class Context:
    """What every method of one comparison shares: the dataset and its pre-written files."""

    seed: int = 0
    spec: ContactsSpec = field(default_factory=ContactsSpec)
    pgbench: Path | None = None
    files_parent: Path | None = None
    postmaster_pid: int | None = None  # the server's, when it runs here: its CPU is read
    _files: CeilingFiles | None = None

    @property
    def dataset(self) -> Dataset:
        """The contacts dataset of ``spec``, as a model."""
        return contacts.dataset(self.spec)

    def rows(self, users: int) -> Rows:
        """The dataset's rows at ``users`` users: a sequence of chunks."""
        return Rows(self.dataset, users, seed=self.seed)

    def ceiling_files(self, users: int) -> CeilingFiles:
        """The dataset as binary COPY files, written once and shared by the ceiling methods."""
        if self._files is None or self._files.rows[self.dataset.scale_table] != users:
            self.close()
            self._files = write_files(self.rows(users), self.files_parent)
        return self._files

    def close(self) -> None:
        if self._files is not None:
            self._files.remove()
            self._files = None


# ---------------------------------------------------------------------- shared steps


def create_tables(dsn: str, dataset: Dataset, steps: Sequence[ddl.Step] = ()) -> None:
    """pgbulk's bare tables, and optionally some post-load steps right away (on empty tables)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in dataset.tables:
            conn.execute(ddl.create_table(table))
        for step in steps:
            for statement in step.statements:
                conn.execute(statement)


def post_load(dataset: Dataset, users: int) -> tuple[ddl.Step, ...]:
    """pgbulk's post-load steps, ranked by the same row estimates pgbulk's finalize uses."""
    return ddl.post_load(dataset, expected_rows(dataset, users))


def finalize(dsn: str, dataset: Dataset, users: int) -> tuple[float, float, dict[str, float]]:
    """pgbulk's constraint and ANALYZE steps, as pgbulk runs them: seconds of each phase, and per step.

    Steps already in the catalog are skipped (the original's tables have their
    constraints from the start).
    """
    started = time.perf_counter()
    steps = constraints.run_steps(
        dsn,
        "public",
        post_load(dataset, users),
        jobs=CONSTRAINT_JOBS,
        settings=CONSTRAINT_SETTINGS,
    )
    built = time.perf_counter()
    steps.update(
        constraints.run_steps(
            dsn, "public", ddl.analyze(dataset), jobs=ANALYZE_JOBS, settings=CONSTRAINT_SETTINGS
        )
    )
    return built - started, time.perf_counter() - built, steps


def count_rows(dsn: str, tables: Sequence[str] = TABLES) -> dict[str, int]:
    counted: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in tables:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
            ).fetchone()
            counted[t] = int(row[0]) if row else 0
    return counted


def database_size(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


def _finished(
    ctx: Context, method: str, dsn: str, users: int, load_s: float, notes: list[str] | None = None
) -> Outcome:
    rows = count_rows(dsn, ctx.dataset.table_names)
    cpu_before = server_cpu(ctx.postmaster_pid) if ctx.postmaster_pid else None
    constraints_s, analyze_s, steps = finalize(dsn, ctx.dataset, users)
    if cpu_before is not None and ctx.postmaster_pid:
        cores = (server_cpu(ctx.postmaster_pid) - cpu_before) / (constraints_s + analyze_s)
        notes = [*(notes or []), f"cores used: constraints and analyze server {cores:.2f}"]
    seconds = {
        "load": load_s,
        "constraints": constraints_s,
        "analyze": analyze_s,
        "total": load_s + constraints_s + analyze_s,
    }
    return Outcome(
        method, users, rows, seconds, notes or [], steps, database_size_bytes=database_size(dsn)
    )


def _uuids(matrix: np.ndarray[Any, np.dtype[np.uint8]]) -> list[uuid.UUID]:
    data = matrix.tobytes()
    return [uuid.UUID(bytes=data[i : i + 16]) for i in range(0, len(data), 16)]


def _python_values(chunk: Chunk, table: Table, column: Column) -> list[Any]:
    """One column of a chunk as Python values: ``uuid.UUID`` for uuid, ``str`` for text."""
    values = chunk.values(table.name, column.name)
    if isinstance(values, np.ndarray) or column.type.name not in ("uuid", "text"):
        raise TypeError(f"{table.name}.{column.name}: python_rows knows uuid and text columns")
    text = values if isinstance(values, Text) else concat(*values)
    if column.type.name == "uuid":
        return _uuids(text.chars)  # (n, 16): the bytes of each UUID
    return text.to_list()


def python_rows(chunk: Chunk) -> dict[str, list[tuple[Any, ...]]]:
    """A chunk's rows as Python tuples (columns in table order), the input of the client-side methods."""
    return {
        t.name: list(zip(*(_python_values(chunk, t, c) for c in t.columns), strict=True))
        for t in chunk.tables
    }


def _in_parallel(
    dsn: str, sessions: int, work: Callable[[psycopg.Connection, int, Callable[[], None]], None]
) -> float:
    """Run ``work(conn, session, sync)`` on ``sessions`` connections at once.

    ``sync()`` waits until every session reaches it. Returns the seconds from the
    common start to the last session's end.
    """
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(sessions)]
    errors: list[BaseException] = []
    start = threading.Barrier(sessions + 1)
    step = threading.Barrier(sessions)

    def sync() -> None:
        step.wait()

    def run(conn: psycopg.Connection, i: int) -> None:
        try:
            conn.execute(LOAD_SETTINGS)
            start.wait()
            work(conn, i, sync)
        except BaseException as e:
            errors.append(e)
            start.abort()
            step.abort()

    threads = [threading.Thread(target=run, args=(c, i)) for i, c in enumerate(conns)]
    try:
        for t in threads:
            t.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
    finally:
        for c in conns:
            c.close()
    if errors:
        raise next(
            (e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0]
        )
    return seconds


# ---------------------------------------------------------------------- pgbulk


def run_pgbulk(
    ctx: Context,
    dsn: str,
    users: int,
    *,
    workers: int,
    freeze: bool = True,
    uuid_version: int | None = None,
    maintenance_work_mem: str | None = None,
    name: str | None = None,
) -> Outcome:
    """``pgbulk load --json`` in its own process, as a user runs it (its memory is its own).

    ``freeze=False``: unit by unit (``--no-freeze``); ``uuid_version``: another UUID
    version than the comparison's (its rows differ, and so does the work after the load);
    ``maintenance_work_mem``: one setting for every index build, as the ceiling has
    (by default pgbulk gives a build whose sort needs more memory what it needs).
    """
    spec = ctx.spec
    options = {
        "--users": users,
        "--seed": ctx.seed,
        "--workers": workers,
        "--chunk-users": spec.chunk_users,
        "--uuid": f"v{uuid_version or spec.uuid_version}",
        "--zipf-a": repr(spec.zipf_a),
        "--max-per-user": spec.max_per_user,
    }
    cmd = [sys.executable, "-m", "pgbulk.cli", "load", "--json"]
    cmd.append("--freeze" if freeze else "--no-freeze")
    if maintenance_work_mem:
        cmd += ["--maintenance-work-mem", maintenance_work_mem]
    for flag, value in options.items():
        cmd += [flag, str(value)]
    # The DSN goes in the environment, never in argv: it may hold a password.
    env = {**os.environ, "PGBULK_DSN": dsn}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with CpuTimeline(ctx.postmaster_pid, proc.pid) as timeline:
        stdout, stderr = proc.communicate()
        ended = time.perf_counter()
    if proc.returncode != 0:
        raise MethodFailed(
            stderr.strip().splitlines()[-1]
            if stderr.strip()
            else f"pgbulk load exited with {proc.returncode}"
        )
    report = json.loads(stdout)
    seconds = {p: float(report["seconds"][p]) for p in PHASES}
    notes = [
        f"prepare {report['seconds'].get('prepare', 0.0):.2f} s is in the total",
        *report["notes"],
    ]
    use = [
        f"{phase} server {server:.2f} + pgbulk {client:.2f}"
        for phase, (server, client) in timeline.load_phases(ended, report["seconds"]).items()
    ]
    notes.append("cores used: " + "; ".join(use))
    if report.get("step_cpu_seconds"):
        cpu = report["step_cpu_seconds"]
        notes.append(
            "server CPU s per step (its backend): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
        )
    return Outcome(
        name or f"pgbulk-{workers}",
        users,
        report["rows"],
        seconds,
        notes,
        step_seconds=report["step_seconds"],
        peak_memory_bytes=report["peak_memory_bytes"],
        database_size_bytes=report["database_size_bytes"],
    )


# ---------------------------------------------------------------------- the ceiling


def run_copy_files(
    ctx: Context, dsn: str, users: int, *, sessions: int, freeze: bool = False
) -> Outcome:
    files = ctx.ceiling_files(users)
    try:
        check_readable(dsn, files)
    except Exception as e:
        raise MethodSkipped(str(e)) from None
    if not freeze:
        create_tables(dsn, ctx.dataset)
    cpu_before = server_cpu(ctx.postmaster_pid) if ctx.postmaster_pid else None
    load_s = copy_from_files(dsn, files, sessions=sessions, freeze=freeze)
    notes = [
        f"files written beforehand in {files.seconds:.1f} s ({files.nbytes / 2**20:,.0f} MiB), not counted"
    ]
    if cpu_before is not None and ctx.postmaster_pid:
        cores = (server_cpu(ctx.postmaster_pid) - cpu_before) / load_s
        notes.append(f"cores used: load server {cores:.2f}")
    return _finished(
        ctx, "copy-freeze" if freeze else f"copy-file-{sessions}", dsn, users, load_s, notes
    )


# ---------------------------------------------------------------------- pure SQL

# Three statements, as a pure-SQL user writes them (measured faster than one statement
# with data-modifying CTEs, which materialises the users it returns). Each session
# inserts its range of user numbers; once every session's users are committed, each
# draws the emails and phones of the users whose id falls in its range of the UUID
# space, the counts from the truncated Zipf law (a CASE on the CDF); OFFSET 0 keeps
# random() to one draw per user.
INSERT_USERS = """
INSERT INTO users (id, name)
SELECT gen_random_uuid(), 'User ' || i FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
"""
INSERT_EMAILS = """
INSERT INTO emails (id, user_id, email)
SELECT gen_random_uuid(), d.id, 'user' || d.id || '_' || n || '@example.com'
FROM (SELECT id, random() AS r FROM users WHERE id BETWEEN %(lo)s AND %(hi)s OFFSET 0) AS d,
     generate_series(0, {count} - 1) AS n
"""
INSERT_PHONES = """
INSERT INTO phone_numbers (id, user_id, phone_number)
SELECT gen_random_uuid(), d.id, lpad(floor(random() * 1e16)::bigint::text, 16, '0')
FROM (SELECT id, random() AS r FROM users WHERE id BETWEEN %(lo)s AND %(hi)s OFFSET 0) AS d,
     generate_series(1, {count}) AS n
"""


def count_law(dataset: Dataset, table: str) -> CountLaw:
    """The law of how many rows of ``table`` each parent row has (contacts: a truncated Zipf)."""
    rows = dataset.table(table).rows
    if not isinstance(rows, PerParent):
        raise ValueError(f"table {table} is not counted per parent row")
    return rows.law


def count_case(column: str, law: CountLaw) -> str:
    """``CASE WHEN column < cdf(1) THEN 1 ... ELSE kmax END`` for a uniform in [0, 1)."""
    support, pmf = law.pmf()
    cdf = np.cumsum(pmf)[:-1]
    whens = " ".join(
        f"WHEN {column} < {p!r} THEN {k}"
        for k, p in zip(support.tolist(), cdf.tolist(), strict=False)
    )
    return f"(CASE {whens} ELSE {int(support[-1])} END)"


def run_insert_select(ctx: Context, dsn: str, users: int, *, sessions: int) -> Outcome:
    """INSERT ... SELECT generate_series / gen_random_uuid(), the work split over sessions.

    The rows are not pgbulk's (the server draws them) but follow the same law: same
    user count, email and phone counts within Zipf noise, same formats. Phone numbers
    are random 16 digits as in the original (a duplicate is possible, ~0.02% of runs at
    1M users, and would fail the UNIQUE step).
    """
    dataset = ctx.dataset
    create_tables(dsn, dataset)
    children = [
        INSERT_EMAILS.format(count=count_case("d.r", count_law(dataset, "emails"))).encode(),
        INSERT_PHONES.format(count=count_case("d.r", count_law(dataset, "phone_numbers"))).encode(),
    ]
    numbers = [users * s // sessions for s in range(sessions + 1)]
    space = [2**128 * s // sessions for s in range(sessions + 1)]

    def work(conn: psycopg.Connection, s: int, sync: Callable[[], None]) -> None:
        conn.execute(INSERT_USERS.encode(), {"first": numbers[s] + 1, "last": numbers[s + 1]})
        sync()  # every session's users are committed: the children can find their owners
        owners = {"lo": uuid.UUID(int=space[s]), "hi": uuid.UUID(int=space[s + 1] - 1)}
        for statement in children:
            conn.execute(statement, owners)

    load_s = _in_parallel(dsn, sessions, work)
    return _finished(ctx, f"insert-select-{sessions}", dsn, users, load_s, _uuid_note(dsn))


def _uuid_note(dsn: str) -> list[str]:
    """Say so when gen_random_uuid() pays a system call per UUID (a server built without OpenSSL)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            row = conn.execute("SELECT setting FROM pg_config WHERE name = 'CONFIGURE'").fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return []
    if row is None or "openssl" in str(row[0]):
        return []
    return [
        "this server is built without OpenSSL: gen_random_uuid() reads /dev/urandom for every UUID "
        "(measured 2.6x slower than Debian's OpenSSL build), which slows this method"
    ]


# ---------------------------------------------------------------------- client side, per row


def _timed_chunks(rows: Rows) -> Iterator[tuple[Chunk, dict[str, list[tuple[Any, ...]]]]]:
    """Each chunk with its Python rows, built before the caller starts its clock."""
    for chunk in rows:
        yield chunk, python_rows(chunk)


def _starts(chunk: Chunk, table: str) -> list[int]:
    """Where each user's rows of ``table`` start in the chunk's rows, and the end."""
    counts = chunk.frame(table).counts
    assert counts is not None  # a table counted per parent row
    return [0, *np.cumsum(counts, dtype=np.int64).tolist()]


def run_original(ctx: Context, dsn: str, users: int) -> Outcome:
    """The original project's loader: one INSERT ... RETURNING id per row, every constraint present.

    One connection, autocommit off, a commit every 10,000 users, users then each of
    their emails then each of their phones, the children pointing at the id the
    server returned. Its tables had the primary keys, UNIQUE and foreign keys from the
    start; pgbulk's two child indexes are built afterwards, with ANALYZE.
    """
    dataset = ctx.dataset
    later = index_names(dataset)
    create_tables(dsn, dataset, [s for s in post_load(dataset, users) if s.name not in later])
    load_s = 0.0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for chunk, rows in _timed_chunks(ctx.rows(users)):
            email_at = _starts(chunk, "emails")
            phone_at = _starts(chunk, "phone_numbers")
            first_user = chunk.unit.first_row
            started = time.perf_counter()
            for i, (user_id, name) in enumerate(rows["users"]):
                cur.execute(
                    "INSERT INTO users (id, name) VALUES (%s, %s) RETURNING id", (user_id, name)
                )
                owner = cur.fetchone()[0]  # type: ignore[index]
                for email_id, _, email in rows["emails"][email_at[i] : email_at[i + 1]]:
                    cur.execute(
                        "INSERT INTO emails (id, user_id, email) VALUES (%s, %s, %s) RETURNING id",
                        (email_id, owner, email),
                    )
                    cur.fetchone()
                for phone_id, _, phone in rows["phone_numbers"][phone_at[i] : phone_at[i + 1]]:
                    cur.execute(
                        "INSERT INTO phone_numbers (id, user_id, phone_number) VALUES (%s, %s, %s)"
                        " RETURNING id",
                        (phone_id, owner, phone),
                    )
                    cur.fetchone()
                if (first_user + i + 1) % ORIGINAL_COMMIT_USERS == 0:
                    conn.commit()
            conn.commit()
            load_s += time.perf_counter() - started
    return _finished(
        ctx,
        "original",
        dsn,
        users,
        load_s,
        ["constraints present during the load, as in the original"],
    )


def run_executemany(ctx: Context, dsn: str, users: int) -> Outcome:
    """psycopg ``executemany`` (pipelined by psycopg 3), 10,000 rows per call and per commit."""
    dataset = ctx.dataset
    create_tables(dsn, dataset)
    load_s = 0.0
    with psycopg.connect(dsn) as conn:
        conn.execute(LOAD_SETTINGS)
        conn.commit()
        inserts = {t.name: insert_statement(t).as_string(conn) for t in dataset.tables}
        with conn.cursor() as cur:
            for _, rows in _timed_chunks(ctx.rows(users)):
                started = time.perf_counter()
                for table, insert in inserts.items():
                    for at in range(0, len(rows[table]), EXECUTEMANY_BATCH):
                        cur.executemany(insert, rows[table][at : at + EXECUTEMANY_BATCH])
                        conn.commit()
                load_s += time.perf_counter() - started
    return _finished(ctx, "executemany", dsn, users, load_s)


def run_write_row(ctx: Context, dsn: str, users: int) -> Outcome:
    """psycopg ``Copy.write_row`` per row, binary format, one transaction per chunk."""
    dataset = ctx.dataset
    create_tables(dsn, dataset)
    load_s = 0.0
    with psycopg.connect(dsn) as conn:
        conn.execute(LOAD_SETTINGS)
        conn.commit()
        copies = [
            (t.name, ddl.copy_statement("public", t).as_bytes(conn), copy_types(t))
            for t in dataset.tables
        ]
        with conn.cursor() as cur:
            for _, rows in _timed_chunks(ctx.rows(users)):
                started = time.perf_counter()
                with conn.transaction():
                    for table, statement, types in copies:
                        with cur.copy(statement) as copy:
                            copy.set_types(types)
                            for row in rows[table]:
                                copy.write_row(row)
                load_s += time.perf_counter() - started
    return _finished(ctx, "write-row", dsn, users, load_s)


# ---------------------------------------------------------------------- pgbench

_PGBENCH_STEP = re.compile(r"([a-z][a-z -]*?) (\d+\.\d+) s")


def pgbench_scale(rows: int) -> int:
    """pgbench's scale for about ``rows`` rows: pgbench_accounts holds 100,000 per unit."""
    return max(1, round(rows / 100_000))


def run_pgbench(ctx: Context, dsn: str, users: int) -> Outcome:
    """``pgbench -i`` at about the contacts row count: the server's own client-side COPY path.

    Its own tables and steps: "client-side generate" is the load, "primary keys" the
    constraints, "vacuum" (VACUUM ANALYZE) the analyze. A reference, not a competitor.
    """
    if ctx.pgbench is None:
        raise MethodSkipped(
            "no pgbench binary found (give the server's bin directory with --pg-bin)"
        )
    rows = sum(dataset_rows(ctx.rows(users)).values())
    scale = pgbench_scale(rows)
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)  # never in argv
    done = subprocess.run(
        [str(ctx.pgbench), "-i", "-q", "-s", str(scale), make_conninfo(**params)],  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise MethodFailed(f"pgbench -i failed: {' '.join(done.stderr.split()[-40:])}")
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("done in")), "")
    steps = dict(_PGBENCH_STEP.findall(line.partition("(")[2]))
    total = re.match(r"done in (\d+\.\d+) s", line)
    if total is None or "primary keys" not in steps:
        raise MethodFailed(f"cannot read pgbench's timings from {line!r}")
    seconds = {
        "load": float(steps["client-side generate"]),
        "constraints": float(steps["primary keys"]),
        "analyze": float(steps.get("vacuum", 0.0)),
        "total": float(total.group(1)),
    }
    counted = count_rows(dsn, ("pgbench_accounts", "pgbench_branches", "pgbench_tellers"))
    return Outcome(
        "pgbench", users, counted, seconds, [f"scale {scale}: its own tables, not contacts"]
    )


# ---------------------------------------------------------------------- the registry


def dataset_rows(rows: Rows) -> dict[str, int]:
    """Rows per table of the whole dataset (draws only the counts)."""
    counted = dict.fromkeys(rows.dataset.table_names, 0)
    for chunk in rows:
        for t in chunk.tables:
            counted[t.name] += chunk.rows(t.name)
    return counted


Scale = Literal["full", "reduced", "original"]


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    run: Callable[[Context, str, int], Outcome]
    scale: Scale = "full"  # "reduced" and "original" may run on fewer users and be extrapolated


METHODS = {
    m.name: m
    for m in (
        Method("pgbulk-2", "pgbulk, 2 workers (default)", partial(run_pgbulk, workers=2)),
        Method("pgbulk-1", "pgbulk, 1 worker", partial(run_pgbulk, workers=1)),
        Method(
            "pgbulk-2-units",
            "pgbulk, 2 workers, unit by unit (--no-freeze)",
            partial(run_pgbulk, workers=2, freeze=False, name="pgbulk-2-units"),
        ),
        Method(
            "pgbulk-2-1gb",
            "pgbulk, 2 workers, every index build at 1GB (--maintenance-work-mem 1GB)",
            partial(run_pgbulk, workers=2, maintenance_work_mem="1GB", name="pgbulk-2-1gb"),
        ),
        Method(
            "pgbulk-2-v7",
            "pgbulk, 2 workers, --uuid v7 (other rows: against the v4 ceiling)",
            partial(run_pgbulk, workers=2, uuid_version=7, name="pgbulk-2-v7"),
        ),
        Method(
            "pgbulk-2-v7-units",
            "pgbulk, 2 workers, --uuid v7, unit by unit (--no-freeze)",
            partial(run_pgbulk, workers=2, freeze=False, uuid_version=7, name="pgbulk-2-v7-units"),
        ),
        Method(
            "copy-file-1",
            "server COPY FROM binary files, 1 session (ceiling)",
            partial(run_copy_files, sessions=1),
        ),
        Method(
            "copy-file-2",
            "server COPY FROM binary files, 2 sessions (ceiling)",
            partial(run_copy_files, sessions=2),
        ),
        Method(
            "copy-freeze",
            "server COPY FREEZE FROM files, CREATE TABLE in the same transaction, 1 session",
            partial(run_copy_files, sessions=1, freeze=True),
        ),
        Method(
            "insert-select-1",
            "INSERT ... SELECT generate_series, 1 session",
            partial(run_insert_select, sessions=1),
        ),
        Method(
            "insert-select-2",
            "INSERT ... SELECT generate_series, 2 sessions",
            partial(run_insert_select, sessions=2),
        ),
        Method(
            "executemany", "psycopg executemany, batches of 10,000 rows", run_executemany, "reduced"
        ),
        Method("write-row", "psycopg Copy.write_row per row, binary", run_write_row, "reduced"),
        Method(
            "original",
            "the original: INSERT ... RETURNING id per row, commit per 10k users",
            run_original,
            "original",
        ),
        Method("pgbench", "pgbench -i (reference; its own tables)", run_pgbench),
    )
}
