"""Arrow schema -> PostgreSQL table, and the checks before the first row. Pure: no I/O.

``create_table`` writes the ``CREATE TABLE`` of ``--create`` from the Arrow schema (a
field's ``pgbulk.type`` metadata, written by ``pgbulk export``, wins over the mapping,
so an exported ``varchar(20)`` or a uuid sent as text comes back as it was).
``mismatches`` says, one line per column, which source columns cannot go into the
target's types. The oracle is the type layer itself: a column is accepted when
:func:`pgbulk.types.encode` takes a NULL of its Arrow type for the target type, so the
check and the load can never disagree. Narrowing (int64 into integer, float8 into real)
is accepted here and checked on the values by the encoders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
from psycopg import sql

from pgbulk import types
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.types import PgType

#: Field metadata ``pgbulk export`` writes: the column's PostgreSQL type.
PG_TYPE = b"pgbulk.type"

_NANOSECOND_UNITS = ("ns",)


def pg_type_of(field: pa.Field) -> PgType:
    """The PostgreSQL type ``--create`` gives a field (ParameterError when it has none)."""
    meta = field.metadata or {}
    if PG_TYPE in meta:
        return PgType.parse(meta[PG_TYPE].decode())
    try:
        return types.pg_type_for_arrow(field.type)
    except ParameterError:
        raise ParameterError(
            "column", field.name, f"Arrow type {field.type} has no PostgreSQL type in pgbulk"
        ) from None


def create_table(schema: str, table: str, fields: Sequence[pa.Field]) -> sql.Composed:
    """A bare ``CREATE TABLE`` (no key, no index: they come after the load).

    A field Arrow declares non-nullable becomes NOT NULL: a primary key built later then
    need not scan for NULLs.
    """
    if not fields:
        raise ParameterError("source", "no columns", "the source has no columns to create")
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name),
            sql.SQL(pg_type_of(f).sql),
            sql.SQL("" if f.nullable else " NOT NULL"),
        )
        for f in fields
    ]
    return sql.SQL("CREATE TABLE {} ({}) WITH (autovacuum_enabled = false)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(columns)
    )


def accepts(arrow: pa.DataType, target: PgType) -> bool:
    """Whether the type layer encodes values of ``arrow`` as ``target``."""
    try:
        types.encode(target, pa.nulls(1, arrow))
    except PgbulkError:
        return False
    return True


def mismatches(
    schema: str,
    table: str,
    fields: Sequence[pa.Field],
    target: Mapping[str, PgType],
) -> list[str]:
    """One line per source column that the target cannot take: missing, or of another type."""
    lines = []
    for f in fields:
        where = f"{schema}.{table}.{f.name}"
        want = target.get(f.name)
        if want is None:
            lines.append(f"{where}: the target has no such column (Arrow type {f.type})")
        elif not accepts(f.type, want):
            lines.append(f"{where}: Arrow type {f.type} cannot be loaded into {want.sql}")
    return lines


def truncation_warnings(fields: Sequence[pa.Field]) -> list[str]:
    """Columns whose values lose digits on the way: nanoseconds become microseconds."""
    notes = []
    for f in fields:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            t = t.value_type
        unit = getattr(t, "unit", None)
        if (pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t)) and (
            unit in _NANOSECOND_UNITS
        ):
            notes.append(
                f"column {f.name} is {f.type}: PostgreSQL keeps microseconds, the last three "
                "digits of each value are dropped (truncated, not rounded)"
            )
    return notes


def primary_key_sql(schema: str, table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def select_fields(schema: pa.Schema, columns: Sequence[str] | None) -> list[pa.Field]:
    """The source's fields to load: all of them, or ``columns`` in that order."""
    if columns is None:
        return list(schema)
    names = set(schema.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ParameterError(
            "columns",
            list(columns),
            f"the source has no column {', '.join(missing)}; it has {', '.join(schema.names)}",
        )
    if len(set(columns)) != len(columns):
        raise ParameterError("columns", list(columns), "a column is named twice")
    return [schema.field(c) for c in columns]
