"""``pgbulk verify``: prove that a loaded dataset is the one its ledger says it is.

The ledger (``pgbulk.datasets``, ``pgbulk.chunks``) records the dataset (its definition,
seed and scale) and the rows each unit committed. Verification reads the tables in one
read-only snapshot and checks, per table, what the dataset's model says: row counts
against the ledger, NULLs, each generated column's rule, keys and unique constraints,
references, the numbering and count law of children per parent, the constraints and
indexes in the catalog, and finally the fingerprint of every row against the
generator's, computed meanwhile in another thread with no database. A failed check
names its table, how many rows are bad and a few of them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgbulk import __version__, ddl, fingerprint, ledger
from pgbulk import dsn as dsns
from pgbulk.chunks import Rows
from pgbulk.errors import DatasetMismatch, PgbulkError, VerificationFailed
from pgbulk.fingerprint import Fingerprint
from pgbulk.model import Dataset, PerParent, Table
from pgbulk.target import DEFAULT_DATA_DIR, resolve_target
from pgbulk.verify_rows import (
    EXAMPLES,
    Check,
    check_references,
    check_unique,
    column_laws,
    null_fractions,
    per_parent,
    scan,
    scan_checks,
    unique_keys,
)

__all__ = ["Check", "VerifyReport", "verify"]

# When a table's fingerprint differs, the rows of this many differing hash buckets (of
# 256) are listed. Finding them costs two more scans of the table in the server and two
# more runs of the generator, only on failure.
_BUCKETS_TO_LIST = 4


@dataclass
class VerifyReport:
    """The checks of one verification; ``ok`` when all hold. ``to_dict()`` is ``--json``."""

    target: str
    schema: str
    dataset: str
    checks: list[Check] = field(default_factory=list)
    fingerprints: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: seconds of each piece of server work (a table's checks, a unique key, a fingerprint)
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "schema": self.schema,
            "dataset": self.dataset,
            "checks": [c.to_dict() for c in self.checks],
            "fingerprints": self.fingerprints,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
        }

    def summary(self) -> str:
        failed = len(self.failures)
        verdict = "OK" if self.ok else f"FAILED ({failed} of {len(self.checks)} checks)"
        lines = [
            f"pgbulk verify: {verdict} — schema {self.schema} on {self.target}",
            f"  dataset {self.dataset}",
        ]
        for c in self.checks:
            status = "ok  " if c.ok else "FAIL"
            lines.append(f"  {status}  {c.name:<20} {c.table or '':<14} {c.detail}")
            lines.extend(f"{'':30}- {e}" for e in c.examples)
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        lines.append(f"  {len(self.checks)} checks, {failed} failed; {timing}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`VerificationFailed` naming every failed check."""
        if not self.ok:
            names = "; ".join(f"{c.table or '-'} {c.name}: {c.detail}" for c in self.failures)
            raise VerificationFailed(
                f"{len(self.failures)} checks failed in schema {self.schema}: {names}"
            )


def verify(
    dsn: str | None = None,
    schema_name: str = "public",
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    pg_bin: str | Path | None = None,
    dataset: Dataset | None = None,
) -> VerifyReport:
    """Verify the dataset loaded in ``schema_name``. Raises PgbulkError if none is recorded.

    ``dataset``: the model of a dataset pgbulk does not know by name (one built in Python);
    its definition must be the one the ledger recorded.

    ``dsn=None`` (and no PGBULK_DSN / DATABASE_URL / PG* variables) uses the embedded
    server in ``data_dir``, as :func:`pgbulk.load.load` does.
    """
    started = time.perf_counter()
    target = resolve_target(dsn, data_dir, pg_bin).dsn
    with dsns.connect(target) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        record = ledger.read(conn, schema_name)
        if record is None:
            raise PgbulkError(
                f"no pgbulk load is recorded for schema {schema_name} in {dsns.redact(target)}: "
                "load one (pgbulk load) or name its schema with --schema"
            )
        report = VerifyReport(
            dsns.redact(target), schema_name, f"{record.describe()} ({record.state})"
        )
        if dataset is not None and dict(dataset.definition) != record.definition:
            raise DatasetMismatch(
                f"schema {schema_name} holds another dataset ({record.describe()}) than the "
                f"one given ({dataset.name})"
            )
        rows = Rows(dataset or record.dataset(), record.scale, seed=record.seed)
        with ThreadPoolExecutor(1) as pool:
            expected = pool.submit(_generate, rows, report.seconds)
            _run_checks(conn, target, schema_name, record, rows, expected, report)
        conn.rollback()
    report.seconds["total"] = time.perf_counter() - started
    return report


def _generate(rows: Rows, seconds: dict[str, float]) -> Fingerprint:
    started = time.perf_counter()
    result = fingerprint.of_dataset(rows)
    seconds["generator fingerprint"] = time.perf_counter() - started
    return result


def _expected_rows(dataset: Dataset, table: Table, scale: int) -> int | None:
    """Rows a top-level table must have; None for a child table (the ledger knows)."""
    return None if isinstance(table.rows, PerParent) else dataset.root_rows(table, scale)


#: Connections the server checks are spread over (each a core of the server's).
VERIFY_JOBS = 2


@dataclass(frozen=True)
class _Task:
    """Server work of one verification, on one connection; ``cost``: rows it reads."""

    name: str
    cost: float
    run: Callable[[psycopg.Connection], list[Check]]


def _run_checks(
    conn: psycopg.Connection,
    dsn: str,
    schema_name: str,
    record: ledger.DatasetRecord,
    rows: Rows,
    expected: Future[Fingerprint],
    report: VerifyReport,
    jobs: int = VERIFY_JOBS,
) -> None:
    started = time.perf_counter()
    dataset = rows.dataset
    _session(conn, schema_name)
    chunks, totals = ledger.totals(conn, schema_name)
    checks = report.checks
    checks.append(_ledger_check(record, dataset, chunks, totals))
    present = [t for t in dataset.tables if _exists(conn, schema_name, t.name)]
    checks.extend(
        Check("exists", t.name, False, "the table is missing")
        for t in dataset.tables
        if t not in present
    )
    checks.extend(_catalog_checks(conn, schema_name, dataset, present))
    names = {t.name for t in present}
    actual: dict[str, fingerprint.TableFingerprint] = {}

    def table_checks(table: Table) -> Callable[[psycopg.Connection], list[Check]]:
        def run(c: psycopg.Connection) -> list[Check]:
            want = _expected_rows(dataset, table, record.scale)
            recorded = totals.get(table.name, 0)
            found = scan(c, dataset, table, want if want is not None else recorded)
            out = scan_checks(c, dataset, table, found, recorded, want)
            out += null_fractions(c, table) + column_laws(c, table)
            if isinstance(table.rows, PerParent) and table.rows.parent in names:
                out += per_parent(c, dataset, table, found.position_sum)
            return out

        return run

    def table_fingerprint(table: Table) -> Callable[[psycopg.Connection], list[Check]]:
        def run(c: psycopg.Connection) -> list[Check]:
            actual[table.name] = fingerprint.database_table(c, schema_name, table.name)
            return []

        return run

    # Every table is read a few times (its scan and checks, each unique key, each
    # reference, its fingerprint): those reads are the tasks, spread over ``jobs``
    # connections that share this transaction's snapshot, largest first.
    tasks: list[_Task] = []
    for table in present:
        n = float(totals.get(table.name, 0) or 1)
        tasks.append(_Task(f"checks {table.name}", 3 * n, table_checks(table)))
        tasks += [
            _Task(
                f"unique {table.name}({', '.join(key)})",
                n,
                _one(check_unique, schema_name, table.name, key),
            )
            for key in unique_keys(table)
        ]
        tasks += [
            _Task(
                f"references {table.name}({', '.join(fk.columns)})",
                n + totals.get(fk.table, 0),
                _one(check_references, dataset, table, fk),
            )
            for fk in table.foreign_keys
            if fk.table in names
        ]
        tasks.append(_Task(f"fingerprint {table.name}", 2 * n, table_fingerprint(table)))
    found, report.step_seconds = _in_parallel(conn, dsn, schema_name, tasks, jobs)
    fingerprint_tasks = {t.name for t in tasks if t.name.startswith("fingerprint ")}
    report.seconds["server checks"] = time.perf_counter() - started
    report.seconds["server fingerprint"] = sum(
        v for k, v in report.step_seconds.items() if k in fingerprint_tasks
    )
    for task in tasks:  # in the order of the tasks, whichever connection ran them
        checks.extend(found[task.name])
    generated = expected.result()
    database = [actual[t.name] for t in present]
    report.fingerprints = {
        "database": {t.table: {"rows": t.rows, "checksum": f"{t.checksum:016x}"} for t in database},
        "dataset": generated.to_dict(),
    }
    for table_fp in database:
        want_fp = generated[table_fp.table]
        if table_fp == want_fp:
            checks.append(
                Check(
                    "fingerprint",
                    table_fp.table,
                    True,
                    f"{table_fp.rows:,} rows, checksum {table_fp.checksum:016x} as generated",
                    0,
                )
            )
        else:
            checks.append(_locate_differences(conn, schema_name, record, rows, table_fp, want_fp))


def _one(check: Callable[..., Check], *args: Any) -> Callable[[psycopg.Connection], list[Check]]:
    """A task of one check: ``check(conn, *args)``."""
    return lambda conn: [check(conn, *args)]


def _session(conn: psycopg.Connection, schema_name: str) -> None:
    conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema_name)))
    # the per-parent grouping hashes one row per parent
    conn.execute("SET LOCAL work_mem = '256MB'")


def _in_parallel(
    conn: psycopg.Connection, dsn: str, schema_name: str, tasks: list[_Task], jobs: int
) -> tuple[dict[str, list[Check]], dict[str, float]]:
    """Run the tasks over ``conn`` and ``jobs - 1`` more connections in its snapshot.

    Each connection takes the next task, costliest first. Returns each task's checks and
    seconds, by name.
    """
    snapshot = str(dsns.scalar(conn, "SELECT pg_export_snapshot()"))
    queue = sorted(tasks, key=lambda t: -t.cost)
    lock = threading.Lock()
    found: dict[str, list[Check]] = {}
    seconds: dict[str, float] = {}

    def work(c: psycopg.Connection) -> None:
        while True:
            with lock:
                if not queue:
                    return
                task = queue.pop(0)
            started = time.perf_counter()
            result = task.run(c)
            with lock:
                found[task.name] = result
                seconds[task.name] = time.perf_counter() - started

    others: list[psycopg.Connection] = []
    try:
        for _ in range(max(0, min(jobs, len(tasks)) - 1)):
            other = dsns.connect(dsn, application_name="pgbulk verify")
            other.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            other.read_only = True
            # the first statement of its transaction (SET takes no bind parameters)
            other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            _session(other, schema_name)
            others.append(other)
        with ThreadPoolExecutor(len(others) + 1) as pool:
            for f in [pool.submit(work, c) for c in (conn, *others)]:
                f.result()
    finally:
        for other in others:
            other.rollback()
            other.close()
    return found, seconds


def _exists(conn: psycopg.Connection, schema_name: str, table: str) -> bool:
    return bool(
        dsns.scalar(
            conn,
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
            (schema_name, table),
        )
    )


def _ledger_check(
    record: ledger.DatasetRecord, dataset: Dataset, chunks: int, totals: dict[str, int]
) -> Check:
    problems = []
    if record.state != "complete":
        problems.append(
            f"the load is {record.state}, not complete (pgbulk resume, or pgbulk finalize)"
        )
    if chunks != record.chunks:
        problems.append(f"{chunks} of {record.chunks} chunks are recorded")
    for table in dataset.roots:
        want = dataset.root_rows(table, record.scale)
        if totals.get(table.name, 0) != want:
            problems.append(
                f"the chunks hold {totals.get(table.name, 0):,} {table.name}, the dataset {want:,}"
            )
    detail = "; ".join(problems) or f"complete: {record.chunks} of {record.chunks} chunks recorded"
    return Check("ledger", None, not problems, detail)


# ---------------------------------------------------------------------- catalog


def _catalog_checks(
    conn: psycopg.Connection, schema_name: str, dataset: Dataset, tables: list[Table]
) -> list[Check]:
    """Every constraint and index of the model is there and valid; NOT NULL and types as modelled."""
    constraints = {
        name: (table, kind, validated, index_valid, referenced, on_delete, enforced)
        for name, table, kind, validated, index_valid, referenced, on_delete, enforced in conn.execute(
            "SELECT c.conname, t.relname, c.contype::text, c.convalidated, x.indisvalid,"
            " r.relname, c.confdeltype::text,"
            " NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgconstraint = c.oid AND g.tgenabled = 'D')"
            " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace"
            " LEFT JOIN pg_index x ON x.indexrelid = c.conindid"
            " LEFT JOIN pg_class r ON r.oid = c.confrelid WHERE n.nspname = %s",
            (schema_name,),
        )
    }
    indexes = {
        name: (table, valid and ready)
        for name, table, valid, ready in conn.execute(
            "SELECT i.relname, t.relname, x.indisvalid, x.indisready FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s",
            (schema_name,),
        )
    }
    columns = {
        (table, name): (type_, not_null)
        for table, name, type_, not_null in conn.execute(
            "SELECT t.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
            " FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE n.nspname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (schema_name,),
        )
    }
    wanted = ddl.expected(dataset)
    checks = []
    for table in tables:
        problems = []
        mine = [e for e in wanted if e.table == table.name]
        for e in (e for e in mine if e.kind != "i"):
            found = constraints.get(e.name)
            if found is None or found[:2] != (table.name, e.kind):
                problems.append(f"constraint {e.name} is missing")
            elif not found[2]:
                problems.append(f"constraint {e.name} is not validated (NOT VALID)")
            elif found[3] is False:
                problems.append(f"the index of constraint {e.name} is invalid")
            elif e.kind == "f" and found[4:6] != (e.references, e.on_delete):
                problems.append(
                    f"constraint {e.name} does not reference {e.references} as modelled"
                )
            elif e.kind == "f" and not found[6]:
                problems.append(
                    f"the triggers of constraint {e.name} are disabled: it is not enforced"
                )
        for e in (e for e in mine if e.kind == "i"):
            idx = indexes.get(e.name)
            if idx is None or idx[0] != table.name:
                problems.append(f"index {e.name} is missing")
            elif not idx[1]:
                problems.append(f"index {e.name} is invalid (a failed or running CREATE INDEX)")
        for c in table.columns:
            found_column = columns.get((table.name, c.name))
            if found_column is None:
                problems.append(f"column {c.name} is missing")
                continue
            if found_column[0] != c.type.sql:
                problems.append(f"column {c.name} is {found_column[0]}, not {c.type.sql}")
            if not c.nullable and not found_column[1]:
                problems.append(f"column {c.name} is nullable")
        kinds = Counter("indexes" if e.kind == "i" else "constraints" for e in mine)
        detail = (
            f"{kinds['constraints']} constraints and {kinds['indexes']} indexes present and valid;"
            " columns of the modelled types, NOT NULL as modelled"
            if not problems
            else f"{len(problems)} problems"
        )
        checks.append(Check("constraints", table.name, not problems, detail, None, problems))
    return checks


# ---------------------------------------------------------------------- fingerprint


def _locate_differences(
    conn: psycopg.Connection,
    schema_name: str,
    record: ledger.DatasetRecord,
    rows: Rows,
    actual: fingerprint.TableFingerprint,
    expected: fingerprint.TableFingerprint,
) -> Check:
    """Find which rows differ: compare per-bucket sums, then the rows of a few buckets."""
    table = actual.table
    label = fingerprint.label_column(rows.dataset, table)
    server = fingerprint.database_buckets(conn, schema_name, table)
    generated = fingerprint.dataset_buckets(rows, table)
    differing = sorted(
        b for b in server.keys() | generated.keys() if server.get(b) != generated.get(b)
    )
    listed = differing[:_BUCKETS_TO_LIST]
    server_rows = fingerprint.database_rows(conn, schema_name, table, label, listed)
    generated_rows = fingerprint.dataset_rows(rows, table, label, listed)
    extra = Counter(h for h, _ in server_rows) - Counter(h for h, _ in generated_rows)
    missing = Counter(h for h, _ in generated_rows) - Counter(h for h, _ in server_rows)
    extra_ids = {i for h, i in server_rows if h in extra}
    missing_ids = {i for h, i in generated_rows if h in missing}
    changed = extra_ids & missing_ids
    name = label or "row"
    examples = [f"{name}={i}: the row differs from the generated one" for i in sorted(changed)]
    examples += [f"{name}={i}: not a row of the dataset" for i in sorted(extra_ids - changed)]
    examples += [f"{name}={i}: missing" for i in sorted(missing_ids - changed)]
    exact = len(listed) == len(differing)
    bad = sum(extra.values()) + sum(missing.values()) - len(changed)
    detail = (
        f"{actual.rows:,} rows, checksum {actual.checksum:016x}; the generator gives "
        f"{expected.rows:,} rows, {expected.checksum:016x}"
    )
    if not exact:
        detail += f" (rows differ in {len(differing)} of 256 hash buckets; {len(listed)} listed)"
    if record.pgbulk_version != __version__:
        detail += (
            f"; loaded by pgbulk {record.pgbulk_version}, verified by {__version__}, whose "
            "generator may differ"
        )
    return Check("fingerprint", table, False, detail, bad if exact else None, examples[:EXAMPLES])
