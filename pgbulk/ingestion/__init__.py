"""``pgbulk.ingest``: Arrow, Parquet, Arrow IPC and CSV into a PostgreSQL table, in parallel.

Phases, as ``load``'s: *prepare* (check or create the table and record the ingest, one
transaction), *load* (units of the source on worker processes or threads, each unit
committed with its ledger row: :mod:`.supervise`, :mod:`.worker`), *constraints* (the
primary key of a created table and the indexes ``rebuild_indexes`` dropped, over several
connections) and *analyze*. An interrupted or stopped ingest keeps its committed units;
the same call with ``if_exists="append"`` loads only the missing ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import psycopg
import pyarrow as pa
from psycopg import sql

from pgbulk import constraints, ddl
from pgbulk import dsn as dsns
from pgbulk.errors import LoadFailed, ParameterError, PgbulkError, TargetNotEmpty, TypeMismatch
from pgbulk.ingestion import ledger, mapping
from pgbulk.ingestion.report import IngestReport
from pgbulk.ingestion.source import BATCH_ROWS, UNIT_ROWS, Source, Unit, csv_types_for, open_source
from pgbulk.ingestion.supervise import WorkerError, run_units
from pgbulk.ingestion.worker import RowsRejected, WorkerConfig
from pgbulk.progress import Progress
from pgbulk.target import DEFAULT_DATA_DIR, resolve_target
from pgbulk.types import PgType

__all__ = ["IfExists", "IngestReport", "RowsRejected", "ingest"]

IfExists = Literal["fail", "append", "replace"]
IF_EXISTS: tuple[str, ...] = ("fail", "append", "replace")
MAINTENANCE_WORK_MEM = "1GB"

_TARGET_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# Indexes of the table that no constraint owns: what --rebuild-indexes drops and rebuilds.
_PLAIN_INDEXES = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY ic.relname
"""


def _version() -> str:
    from pgbulk import __version__

    return __version__


def ingest(
    dsn: str | None,
    table: str,
    source: object,
    *,
    workers: int = 2,
    schema: str = "public",
    create: bool = False,
    if_exists: IfExists = "fail",
    columns: Sequence[str] | None = None,
    file_format: str | None = None,
    primary_key: Sequence[str] | None = None,
    rebuild_indexes: bool = False,
    source_name: str | None = None,
    unit_rows: int = UNIT_ROWS,
    batch_rows: int | None = None,
    progress: Progress | None = None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    pg_bin: str | Path | None = None,
) -> IngestReport:
    """Load ``source`` into ``schema.table``; return what was done.

    ``source``: a pyarrow Table, RecordBatch or RecordBatchReader; anything with
    ``__arrow_c_stream__`` (pandas >= 2.2, polars, DuckDB relations); or paths, directories
    and globs of Parquet, Arrow IPC / Feather or CSV files (``file_format`` when the names
    do not say). ``columns``: the source columns to load (default: all), by name.

    The table must exist, or ``create=True`` creates it from the Arrow schema (its
    ``primary_key`` is added after the load). ``if_exists``: when the table holds rows,
    ``fail`` refuses, ``append`` adds to them (and finishes an interrupted ingest of the
    same source, loading only its missing units), ``replace`` drops the table and creates
    it again from the source. ``rebuild_indexes`` drops the table's indexes that no
    constraint owns before the load and builds them again after it.
    """
    started = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ParameterError("workers", workers, "must be an integer in 1..64")
    if if_exists not in IF_EXISTS:
        raise ParameterError("if_exists", if_exists, "must be fail, append or replace")
    if not isinstance(table, str) or not table:
        raise ParameterError("table", table, "must be a table name")
    if unit_rows < 1:
        raise ParameterError("unit_rows", unit_rows, "must be at least 1")
    progress = progress or Progress()
    src = open_source(source, file_format=file_format, unit_rows=unit_rows, name=source_name)
    fields = mapping.select_fields(src.schema, columns)
    target = resolve_target(dsn, data_dir, pg_bin)
    with dsns.connect(target.dsn) as conn:
        version = str(dsns.scalar(conn, "SHOW server_version"))
        plan = _prepare(
            conn,
            schema,
            table,
            src,
            fields,
            create=create,
            if_exists=if_exists,
            primary_key=primary_key,
            rebuild_indexes=rebuild_indexes,
        )
        conn.commit()
    report = IngestReport(
        target=dsns.redact(target.dsn),
        schema=schema,
        table=table,
        server_version=version,
        source=src.description,
        source_id=src.identity,
        workers=workers,
        state="loading",
        created=plan.created,
        columns=[f.name for f in fields],
        units_total=plan.units_total,
        warnings=mapping.truncation_warnings(fields),
        notes=list(plan.notes),
    )
    report.seconds["prepare"] = time.perf_counter() - started
    if plan.state == "complete":
        report.state = "complete"
        report.units_already_loaded = len(plan.done)
        report.notes.append("this source was already ingested completely; nothing to do")
    else:
        if plan.state == "loading":
            _load(target.dsn, src, fields, plan, workers, batch_rows, progress, report)
        _finalize(target.dsn, schema, table, src.identity, plan, workers, progress, report)
    with dsns.connect(target.dsn, autocommit=True) as conn:
        _, report.rows = ledger.totals(conn, schema, table, src.identity)
    report.seconds["total"] = time.perf_counter() - started
    progress.close()
    return report


class _Plan:
    def __init__(self) -> None:
        self.created = False
        self.state = "loading"
        self.done: set[str] = set()
        self.post_load: list[dict[str, str]] = []
        self.target_types: dict[str, PgType] = {}
        self.units_total: int | None = None
        self.notes: list[str] = []


def _table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema, table)
    ).fetchone()
    return bool(row and row[0] is not None)


def _has_rows(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, table))
    ).fetchone()
    return bool(row and row[0])


def _target_types(
    conn: psycopg.Connection, schema: str, table: str, fields: Sequence[pa.Field]
) -> dict[str, PgType]:
    """The target's type of each source column; TypeMismatch (one line per column) if any
    column is missing or cannot take the source's values."""
    found = {str(n): str(t) for n, t in conn.execute(_TARGET_COLUMNS, (schema, table))}
    types: dict[str, PgType] = {}
    lines = []
    for f in fields:
        if f.name not in found:
            continue  # mapping.mismatches says it
        try:
            types[f.name] = PgType.parse(found[f.name])
        except ParameterError:
            lines.append(
                f"{schema}.{table}.{f.name}: type {found[f.name]} is not one pgbulk encodes"
            )
    lines.extend(
        mapping.mismatches(
            schema, table, [f for f in fields if f.name not in found or f.name in types], types
        )
    )
    if lines:
        raise TypeMismatch("\n".join(lines))
    return types


def _prepare(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    src: Source,
    fields: Sequence[pa.Field],
    *,
    create: bool,
    if_exists: str,
    primary_key: Sequence[str] | None,
    rebuild_indexes: bool,
) -> _Plan:
    plan = _Plan()
    ns = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if ns is None:
        raise PgbulkError(
            f"schema {schema} does not exist: create it (CREATE SCHEMA {schema}) "
            "or choose another with --schema"
        )
    try:
        ledger.ensure(conn)
    except psycopg.errors.InsufficientPrivilege:
        raise PgbulkError(
            "no privilege to create the pgbulk metadata schema: GRANT CREATE ON DATABASE ... "
            "TO this user, or CREATE SCHEMA pgbulk AUTHORIZATION this user"
        ) from None
    ledger.lock(conn, schema, table)
    exists = _table_exists(conn, schema, table)
    if primary_key:
        names = {f.name for f in fields}
        unknown = [c for c in primary_key if c not in names]
        if unknown:
            raise ParameterError(
                "primary_key", list(primary_key), f"no source column {', '.join(unknown)}"
            )
    if if_exists == "replace" and exists:
        try:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, table)))
        except psycopg.errors.DependentObjectsStillExist as e:
            raise PgbulkError(
                f"cannot drop {schema}.{table}: {e.diag.message_primary}; "
                f"{e.diag.message_detail or ''} Drop those objects first."
            ) from None
        ledger.forget_table(conn, schema, table)
        exists = False
    if not exists:
        if not create and if_exists != "replace":
            raise PgbulkError(
                f"table {schema}.{table} does not exist: create it, or add --create to create "
                "it from the source's columns"
            )
        conn.execute(mapping.create_table(schema, table, fields))
        plan.created = True
        plan.target_types = {f.name: mapping.pg_type_of(f) for f in fields}
        if primary_key:
            plan.post_load.append(
                {
                    "name": f"{table}_pkey",
                    "sql": mapping.primary_key_sql(schema, table, primary_key).as_string(conn),
                }
            )
        plan.post_load.append(
            {
                "name": f"analyze {schema}.{table}",
                "sql": sql.SQL("ANALYZE {}; ALTER TABLE {} RESET (autovacuum_enabled)")
                .format(sql.Identifier(schema, table), sql.Identifier(schema, table))
                .as_string(conn),
            }
        )
    else:
        if src.csv_schema is not None:
            # CSV has no types of its own: parse each column as the target's type says.
            found = conn.execute(_TARGET_COLUMNS, (schema, table)).fetchall()
            parse = _csv_parse_types({str(n): str(t) for n, t in found})
            src.csv_schema = csv_types_for(src.csv_schema, parse)
            fields = [pa.field(f.name, parse.get(f.name, f.type), f.nullable) for f in fields]
        plan.target_types = _target_types(conn, schema, table, fields)
        record = ledger.read(conn, schema, table, src.identity)
        if primary_key and record is None:  # when finishing an ingest, its record has the key
            raise ParameterError(
                "primary_key",
                list(primary_key),
                f"{schema}.{table} exists: a primary key is added only to a table the ingest "
                "creates (--create, or --if-exists replace)",
            )
        if record is not None:
            if if_exists == "fail":
                hint = (
                    "it holds this source already"
                    if record.state == "complete"
                    else "an interrupted ingest of this source: add --if-exists append to "
                    "load only its missing units"
                )
                raise TargetNotEmpty(
                    f"{schema}.{table}: {hint} (or --if-exists replace to start over)"
                )
            plan.state = "loading" if record.state == "loading" else record.state
            plan.done = ledger.loaded_units(conn, schema, table, src.identity)
            plan.post_load = record.post_load
            if plan.done and record.state == "loading":
                plan.notes.append(
                    f"finishing an earlier ingest of this source: {len(plan.done)} units "
                    "were already loaded"
                )
            plan.units_total = record.units if record.units is not None else None
            if src.units_known:
                plan.units_total = len(list(src.units()))
            return plan
        if if_exists == "fail" and _has_rows(conn, schema, table):
            raise TargetNotEmpty(
                f"{schema}.{table} already holds rows: --if-exists append adds to them, "
                "--if-exists replace drops the table and creates it from the source"
            )
        indexes = conn.execute(_PLAIN_INDEXES, (schema, table)).fetchall()
        if rebuild_indexes:
            for name, definition in indexes:
                plan.post_load.append({"name": str(name), "sql": str(definition)})
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
            if indexes:
                plan.notes.append(
                    f"{len(indexes)} indexes dropped for the load and rebuilt after it"
                )
        else:
            total = conn.execute(
                "SELECT count(*) FROM pg_index WHERE indrelid = "
                "to_regclass(format('%%I.%%I', %s::text, %s::text))",
                (schema, table),
            ).fetchone()
            if total and total[0]:
                plan.notes.append(
                    f"{total[0]} indexes were kept up to date row by row during the load"
                    + (
                        " (--rebuild-indexes drops and rebuilds those no constraint owns)"
                        if indexes
                        else ""
                    )
                )
        plan.post_load.append(
            {
                "name": f"analyze {schema}.{table}",
                "sql": sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)).as_string(conn),
            }
        )
    if src.units_known:
        plan.units_total = len(list(src.units()))
    ledger.register(
        conn,
        schema,
        table,
        src.identity,
        src.description,
        plan.units_total,
        plan.post_load,
        _version(),
    )
    return plan


def _csv_parse_types(target: dict[str, str]) -> dict[str, pa.DataType]:
    """The Arrow type to parse each CSV column as, from the target column's type."""
    wanted: dict[str, pa.DataType] = {}
    for name, text in target.items():
        try:
            t = PgType.parse(text)
        except ParameterError:
            continue
        if t.array:
            continue
        if t.name in ("text", "varchar", "bpchar", "uuid", "json", "jsonb"):
            wanted[name] = pa.string()
        elif t.name in ("int2", "int4", "int8"):
            wanted[name] = pa.int64()
        elif t.name in ("float4", "float8"):
            wanted[name] = pa.float64()
        elif t.name == "numeric" and t.modifiers and t.modifiers[1] >= 0 and t.modifiers[0] <= 38:
            wanted[name] = pa.decimal128(t.modifiers[0], t.modifiers[1])
        elif t.name == "bool":
            wanted[name] = pa.bool_()
        elif t.name == "date":
            wanted[name] = pa.date32()
        elif t.name == "timestamp":
            wanted[name] = pa.timestamp("us")
        elif t.name == "timestamptz":
            wanted[name] = pa.timestamp("us", tz="UTC")
    return wanted


def _load(
    dsn: str,
    src: Source,
    fields: Sequence[pa.Field],
    plan: _Plan,
    workers: int,
    batch_rows: int | None,
    progress: Progress,
    report: IngestReport,
) -> None:
    columns = tuple(f.name for f in fields)
    config = WorkerConfig(
        dsn=dsn,
        schema=report.schema,
        table=report.table,
        source_id=src.identity,
        columns=columns,
        pg_types=tuple(plan.target_types[c].sql for c in columns),
        csv_schema=src.csv_schema,
        batch_rows=batch_rows or BATCH_ROWS,
    )
    done = plan.done
    todo: Iterator[Unit] = (u for u in src.units() if u.key not in done)
    if src.units_known:
        todo_list = [u for u in src.units() if u.key not in done]
        report.units_already_loaded = (plan.units_total or 0) - len(todo_list)
        remaining = sum(u.rows or 0 for u in todo_list)
        progress.phase("load", total_rows=remaining or None)
        todo = iter(todo_list)
        nworkers = max(1, min(workers, len(todo_list)))
    else:
        progress.phase("load")
        nworkers = workers
    try:
        if src.units_known and not todo_list:
            report.seconds["load"] = 0.0
        else:
            run_units(
                config,
                todo,
                workers=nworkers,
                in_memory=src.in_memory,
                progress=progress,
                report=report,
            )
    except (WorkerError, PgbulkError) as e:
        missing = _missing(dsn, report, src)
        report.missing_units = missing
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        kept = report.units_loaded + report.units_already_loaded
        what = f"{kept} units are committed and recorded"
        if missing:
            what += f"; missing: {shown}"
        fix = (
            "fix the source, then run the same ingest with --if-exists append to load the "
            "missing units"
        )
        if src.in_memory:
            fix = (
                "give the same rows again with the same source_name and if_exists='append' to "
                "load only the missing units"
                + ("" if src.description.get("name") else " (this ingest had no source_name)")
            )
        err_cls: type[PgbulkError] = type(e)
        if isinstance(e, WorkerError):
            err_cls = RowsRejected if e.rejected else LoadFailed
        err = err_cls(f"{e}. {what}; {fix}")
        err.report = report  # type: ignore[attr-defined]
        raise err from None
    if not src.units_known:
        with dsns.connect(dsn, autocommit=True) as conn:
            n, _ = ledger.totals(conn, report.schema, report.table, src.identity)
            ledger.set_units(conn, report.schema, report.table, src.identity, n)
            report.units_total = n


def _missing(dsn: str, report: IngestReport, src: Source) -> list[str]:
    if not src.units_known:
        return []
    with dsns.connect(dsn, autocommit=True) as conn:
        done = ledger.loaded_units(conn, report.schema, report.table, src.identity)
    return [u.key for u in src.units() if u.key not in done]


def _finalize(
    dsn: str,
    schema: str,
    table: str,
    source_id: str,
    plan: _Plan,
    workers: int,
    progress: Progress,
    report: IngestReport,
) -> None:
    with dsns.connect(dsn, autocommit=True) as conn:
        ledger.set_state(conn, schema, table, source_id, "finalizing")
    keys = [s for s in plan.post_load if not s["name"].startswith("analyze ")]
    analyze = [s for s in plan.post_load if s["name"].startswith("analyze ")]
    settings = {"synchronous_commit": "off", "maintenance_work_mem": MAINTENANCE_WORK_MEM}
    for phase, steps in (("constraints", keys), ("analyze", analyze)):
        began = time.perf_counter()
        if steps:
            progress.phase(phase)
            report.step_seconds.update(
                constraints.run_steps(
                    dsn,
                    schema,
                    [_step(s, table) for s in steps],
                    jobs=min(max(workers, 2), 3),
                    settings=settings,
                )
            )
        report.seconds[phase] = time.perf_counter() - began
    with dsns.connect(dsn, autocommit=True) as conn:
        ledger.set_state(conn, schema, table, source_id, "complete")
    report.state = "complete"


def _step(step: dict[str, str], table: str) -> ddl.Step:
    return ddl.Step(step["name"], (sql.Composed([sql.SQL(step["sql"])]),), (table,))
