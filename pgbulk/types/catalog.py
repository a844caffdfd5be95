"""A target table's column types, read from PostgreSQL's catalog, and the check before a COPY.

Types come from ``format_type(atttypid, atttypmod)``, the spelling :attr:`PgType.sql`
prints, so an expected and a found type compare as values. This module does I/O (one
query on a psycopg 3 connection); the encoders beside it do none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from pgbulk.errors import ParameterError, TypeMismatch
from pgbulk.types.pgtype import PgType

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def _raw_columns(
    conn: psycopg.Connection[Any], schema: str, table: str
) -> list[tuple[str, str, bool]]:
    with conn.cursor() as cur:
        cur.execute(_COLUMNS, (schema, table))
        return [(str(name), str(sql_type), bool(nn)) for name, sql_type, nn in cur.fetchall()]


def _where(schema: str, table: str, column: str | None = None) -> str:
    return ".".join(p for p in (schema, table, column) if p is not None)


def table_columns(
    conn: psycopg.Connection[Any], schema: str, table: str
) -> list[tuple[str, PgType, bool]]:
    """(name, type, NOT NULL) of each column of ``schema.table``, in column order.

    Raises TypeMismatch when the table does not exist or a column's type is one pgbulk
    does not encode.
    """
    raw = _raw_columns(conn, schema, table)
    if not raw:
        raise TypeMismatch(f"{_where(schema, table)}: no such table (or it has no columns)")
    out = []
    for name, sql_type, not_null in raw:
        try:
            out.append((name, PgType.parse(sql_type), not_null))
        except ParameterError:
            raise TypeMismatch(
                f"{_where(schema, table, name)}: type {sql_type} is not one pgbulk encodes"
            ) from None
    return out


def mismatches(
    schema: str,
    table: str,
    expected: Sequence[tuple[str, PgType]],
    found: Sequence[tuple[str, str, bool]],
) -> list[str]:
    """One line per expected column whose type differs from the found one, or that is missing."""
    found_types = {name: sql_type for name, sql_type, _ in found}
    lines = []
    for name, want in expected:
        where = _where(schema, table, name)
        have = found_types.get(name)
        if have is None:
            lines.append(f"{where}: expected {want.sql}, found no such column")
        elif _parsed(have) != want:
            lines.append(f"{where}: expected {want.sql}, found {have}")
    return lines


def _parsed(sql_type: str) -> PgType | None:
    try:
        return PgType.parse(sql_type)
    except ParameterError:
        return None


def check_columns(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    expected: Sequence[tuple[str, PgType]],
) -> None:
    """Raise TypeMismatch, one line per bad column, unless every expected column has its type.

    Columns of the table that are not expected are left alone (they take their defaults).
    """
    found = _raw_columns(conn, schema, table)
    if not found:
        raise TypeMismatch(f"{_where(schema, table)}: no such table (or it has no columns)")
    lines = mismatches(schema, table, expected, found)
    if lines:
        raise TypeMismatch("\n".join(lines))
