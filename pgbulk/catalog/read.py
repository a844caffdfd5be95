"""What ``pgbulk spec import`` and ``spec compare`` read from a live database: the catalog
(tables, columns, types, keys, constraints), ``pg_stats`` per column, row counts, and one
aggregate per foreign key (how many children each parent row has). Plain data out, so
fitting (:mod:`pgbulk.catalog.fit`) is a pure function of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

#: Enough of a session for statistics to print the same everywhere.
SESSION = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'", "SET extra_float_digits = 1")


@dataclass
class ColumnStats:
    """One row of pg_stats (values as PostgreSQL prints them)."""

    null_frac: float
    n_distinct: float  # < 0: minus a fraction of the rows
    avg_width: int
    common: list[str] = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)
    bounds: list[str] = field(default_factory=list)
    correlation: float | None = None


@dataclass
class ColumnInfo:
    name: str
    type_sql: str  # format_type of the column, or of a domain's base type
    declared: str  # format_type as declared (the domain's name)
    not_null: bool
    default: str | None
    identity: bool
    kind: str  # pg_type.typtype of the base type: b base, e enum, d domain, ...
    stats: ColumnStats | None = None


@dataclass
class ForeignKeyInfo:
    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]
    on_delete: str
    #: children per parent row -> how many parent rows have that many (0 included).
    children: dict[int, int] | None = None


@dataclass
class TableInfo:
    schema: str
    name: str
    columns: list[ColumnInfo] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)
    foreign_keys: list[ForeignKeyInfo] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    rows: int = 0
    readable: bool = True
    analyzed: bool = True

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo:
        return next(c for c in self.columns if c.name == name)


_TABLES = """
SELECT c.oid, n.nspname, c.relname, has_table_privilege(c.oid, 'SELECT'),
       c.reltuples >= 0 OR EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname
                                   AND s.tablename = c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname = ANY(%s) AND (cardinality(%s::text[]) = 0 OR c.relname = ANY(%s))
ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
SELECT a.attname, format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid),
                              CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
       format_type(a.atttypid, a.atttypmod), a.attnotnull OR coalesce(t.typnotnull, false),
       pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', coalesce(b.typtype, t.typtype)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type b ON b.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

_CONSTRAINTS = """
SELECT con.conname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
       rn.nspname, rc.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
       con.confdeltype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = %s AND con.contype IN ('p', 'u', 'f', 'c')
ORDER BY con.contype, con.conname
"""

_STATS = """
SELECT attname, null_frac, n_distinct, avg_width,
       most_common_vals::text::text[], most_common_freqs,
       histogram_bounds::text::text[], correlation
FROM pg_stats WHERE schemaname = %s AND tablename = %s AND NOT inherited
"""

_ON_DELETE = {
    "a": "no action",
    "r": "restrict",
    "c": "cascade",
    "n": "set null",
    "d": "set default",
}


def session(conn: psycopg.Connection) -> None:
    for statement in SESSION:
        conn.execute(statement)


def read_tables(
    conn: psycopg.Connection,
    schemas: list[str],
    tables: list[str] | None = None,
    *,
    analyze: bool = False,
    children: bool = True,
) -> list[TableInfo]:
    """The tables of ``schemas`` (or those named), with their columns, constraints, row
    counts, statistics and, when ``children``, each foreign key's children-per-parent law."""
    session(conn)
    names = list(tables or [])
    found = conn.execute(_TABLES, (schemas, names, names)).fetchall()
    out: list[TableInfo] = []
    for oid, schema, name, readable, analyzed in found:
        table = TableInfo(schema, name, readable=bool(readable), analyzed=bool(analyzed))
        out.append(table)
        for row in conn.execute(_COLUMNS, (oid,)).fetchall():
            table.columns.append(ColumnInfo(*row))
        for cname, kind, cols, rschema, rtable, rcols, deltype, definition in conn.execute(
            _CONSTRAINTS, (oid,)
        ).fetchall():
            if kind == "p":
                table.primary_key = list(cols)
            elif kind == "u":
                table.unique.append(list(cols))
            elif kind == "f":
                table.foreign_keys.append(
                    ForeignKeyInfo(
                        cname, list(cols), rschema, rtable, list(rcols), _ON_DELETE[deltype]
                    )
                )
            else:
                table.checks.append(definition)
        if not table.readable:
            continue
        if analyze:
            conn.execute(
                sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            )
            table.analyzed = True
        table.rows = count_rows(conn, schema, name)
        for row in conn.execute(_STATS, (schema, name)).fetchall():
            col, null_frac, n_distinct, width, common, freqs, bounds, corr = row
            stats = ColumnStats(
                float(null_frac), float(n_distinct), int(width), list(common or []),
                [float(f) for f in freqs or []], list(bounds or []),
                None if corr is None else float(corr),
            )  # fmt: skip
            for c in table.columns:
                if c.name == col:
                    c.stats = stats
    if children:
        by_name = {(t.schema, t.name): t for t in out}
        for table in out:
            for fk in table.foreign_keys:
                parent = by_name.get((fk.ref_schema, fk.ref_table))
                if table.readable and parent is not None and parent.readable:
                    fk.children = children_per_parent(conn, table, fk, parent.rows)
    return out


def count_rows(conn: psycopg.Connection, schema: str, name: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(name)
    )
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def children_per_parent(
    conn: psycopg.Connection, table: TableInfo, fk: ForeignKeyInfo, parent_rows: int
) -> dict[int, int]:
    """One aggregate: how many parent rows have k children, for each k (0: the parents
    no child row references)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in fk.columns)
    not_null = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns
    )
    query = sql.SQL(
        "SELECT k, count(*) FROM (SELECT count(*) AS k FROM {}.{} WHERE {} GROUP BY {}) s"
        " GROUP BY k ORDER BY k"
    ).format(sql.Identifier(table.schema), sql.Identifier(table.name), not_null, cols)
    law = {int(k): int(n) for k, n in conn.execute(query).fetchall()}
    referenced = sum(law.values())
    if parent_rows > referenced:
        law[0] = parent_rows - referenced
    return dict(sorted(law.items()))
