"""SQL from the model: bare tables for the load, then keys, constraints, indexes and statistics.

Statements are unqualified; the session's ``search_path`` names the target schema.
Identifiers go through :mod:`psycopg.sql`. Tables are created bare — columns ``NOT
NULL`` where the model says so, no keys — because COPY into indexed tables is many
times slower; the post-load steps then build what the model declares, as a small
dependency graph that :mod:`pgbulk.constraints` schedules over several connections.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from psycopg import sql

from pgbulk.model import Dataset, ForeignKey, Table


@dataclass(frozen=True)
class Step:
    """One post-load statement; ``after`` names the steps that must finish first.

    ``tables`` are the tables the statement holds a conflicting lock on: two steps that
    share a table would only wait for each other, so the scheduler never runs them at
    the same time. ``cost`` ranks ready steps (longest first): an estimate from the rows
    and key widths, whose scale does not matter, only its order. ``sort_bytes``: for an
    index build, the memory its sort needs to stay in memory (estimated; 0 for others).
    """

    name: str
    statements: tuple[sql.SQL | sql.Composed, ...]
    tables: tuple[str, ...]
    after: tuple[str, ...] = ()
    cost: float = 1.0
    sort_bytes: float = 0.0


@dataclass(frozen=True)
class Expected:
    """A constraint or index the finished schema has (what verify looks for)."""

    name: str
    table: str
    kind: str  # p(rimary key), u(nique), f(oreign key), i(ndex)
    columns: tuple[str, ...]
    references: str | None = None
    on_delete: str | None = None


# pg_constraint.confdeltype of each ON DELETE action.
CONFDELTYPE = {
    "no action": "a",
    "restrict": "r",
    "cascade": "c",
    "set null": "n",
    "set default": "d",
}


def quote(name: str) -> str:
    """An identifier as SQL text (double-quoted where needed), for SQL written as text."""
    return sql.Identifier(name).as_string(None)


def create_table(table: Table) -> sql.Composed:
    """The bare table: its columns NOT NULL where the model says so, no keys, no indexes.

    NOT NULL from the start: ADD PRIMARY KEY on a nullable column would scan the table
    once more to check it. autovacuum is off during the load (the insert-driven
    autovacuum would compete with the load for the same cores) and reset by ANALYZE.
    """
    columns = []
    for c in table.columns:
        parts = [sql.Identifier(c.name), sql.SQL(c.type.sql)]
        if c.collation:
            parts += [sql.SQL("COLLATE"), sql.Identifier(c.collation)]
        if not c.nullable:
            parts.append(sql.SQL("NOT NULL"))
        if c.default:
            parts += [sql.SQL("DEFAULT"), sql.SQL(c.default)]
        columns.append(sql.SQL(" ").join(parts))
    return sql.SQL("CREATE TABLE {} ({}) WITH (autovacuum_enabled = false)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(columns)
    )


def copy_statement(schema: str, table: Table) -> sql.Composed:
    """``COPY schema.table (columns) FROM STDIN (FORMAT binary)``, the model's column order."""
    return copy_into(schema, table.name, table.column_names)


def copy_into(schema: str, table: str, columns: Sequence[str]) -> sql.Composed:
    """``COPY schema.table (columns) FROM STDIN (FORMAT binary)`` for any table."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def drop_order(dataset: Dataset) -> tuple[str, ...]:
    """Children before the tables they reference."""
    return tuple(reversed(dataset.table_names))


def _columns(names: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in names)


def expected(dataset: Dataset) -> list[Expected]:
    """Every constraint and index the finished schema has, by name."""
    found: list[Expected] = []
    for t in dataset.tables:
        if t.primary_key:
            found.append(Expected(t.primary_key_name, t.name, "p", t.primary_key))
        found += [Expected(t.unique_name(u), t.name, "u", u.columns) for u in t.unique]
        found += [
            Expected(
                t.foreign_key_name(f), t.name, "f", f.columns, f.table, CONFDELTYPE[f.on_delete]
            )
            for f in t.foreign_keys
        ]
        found += [Expected(t.index_name(i), t.name, "i", i.columns) for i in t.indexes]
    return found


Widths = Mapping[str, Mapping[str, float]]  # table -> column -> mean bytes of a value


def post_load(
    dataset: Dataset,
    rows: dict[str, float],
    widths: Widths | None = None,
    frozen: Iterable[str] = (),
) -> tuple[Step, ...]:
    """The statements that finish a load, from the model.

    ``rows`` (estimated) and ``widths`` (mean bytes per value, measured on a sample; text
    keys are taken as 32 bytes without them) set each step's cost: its expected seconds
    on one core, which is how the scheduler orders the ready steps. ``frozen``: tables a
    fresh load wrote frozen, all-visible in the visibility map (their foreign keys are
    validated from the indexes alone, see :func:`_foreign_key`).
    """
    return tuple(_steps(dataset, rows, widths or {}, set(frozen)))


def _steps(
    dataset: Dataset, rows: dict[str, float], widths: Widths, frozen: set[str]
) -> Iterator[Step]:
    for t in dataset.tables:
        n = rows.get(t.name, 0.0)
        ident = sql.Identifier(t.name)
        if t.primary_key:
            yield Step(
                t.primary_key_name,
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                        ident, sql.Identifier(t.primary_key_name), _columns(t.primary_key)
                    ),
                ),
                (t.name,),
                cost=_build_cost(t, t.primary_key, n, widths),
                sort_bytes=_sort_bytes(t, t.primary_key, n, widths),
            )
        for u in t.unique:
            name = t.unique_name(u)
            yield Step(
                name,
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
                        ident, sql.Identifier(name), _columns(u.columns)
                    ),
                ),
                (t.name,),
                cost=_build_cost(t, u.columns, n, widths),
                sort_bytes=_sort_bytes(t, u.columns, n, widths),
            )
        for i in t.indexes:
            name = t.index_name(i)
            unique = sql.SQL("UNIQUE ") if i.unique else sql.SQL("")
            yield Step(
                name,
                (
                    sql.SQL("CREATE {}INDEX {} ON {} ({})").format(
                        unique, sql.Identifier(name), ident, _columns(i.columns)
                    ),
                ),
                (t.name,),
                cost=_build_cost(t, i.columns, n, widths),
                sort_bytes=_sort_bytes(t, i.columns, n, widths),
            )
        for f in t.foreign_keys:
            by_index = {t.name, f.table} <= frozen
            yield from _foreign_key(dataset, t, f, n, rows.get(f.table, 0.0), by_index)


def _foreign_key(
    dataset: Dataset,
    t: Table,
    f: ForeignKey,
    child_rows: float,
    parent_rows: float,
    all_visible: bool = False,
) -> Iterator[Step]:
    """Added NOT VALID (instant), then validated: VALIDATE takes a lock on the referenced
    table that does not conflict with itself, so two children validate at the same time,
    where ADD FOREIGN KEY would serialise them on the parent.

    The validation is an anti-join of every child row against the parents. On tables
    whose pages are all-visible (written frozen) and with an index on the child's
    columns, a merge anti-join of two index-only scans reads the indexes alone: at 10M
    contacts (emails against users, no statistics yet) 2.9 s, where the planner's choice,
    a parallel hash anti-join of the two tables, took 12-16 s. So the validation then
    waits for that index and runs without hash joins."""
    name = t.foreign_key_name(f)
    target = dataset.table(f.table)
    ref = f.ref_columns or target.primary_key
    # The referenced columns need their unique index first: the primary key or a UNIQUE.
    keys = (
        [target.primary_key_name]
        if ref == target.primary_key
        else [target.unique_name(u) for u in target.unique if u.columns == ref]
    )
    yield Step(
        name,
        (
            sql.SQL(
                "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})"
                " ON DELETE {} NOT VALID"
            ).format(
                sql.Identifier(t.name),
                sql.Identifier(name),
                _columns(f.columns),
                sql.Identifier(f.table),
                _columns(ref),
                sql.SQL(f.on_delete.upper()),
            ),
        ),
        tuple(dict.fromkeys((t.name, f.table))),
        after=tuple(keys),
        cost=0.1,
    )
    validate = sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
        sql.Identifier(t.name), sql.Identifier(name)
    )
    child_index = next((i for i in t.indexes if i.columns[: len(f.columns)] == f.columns), None)
    if all_visible and child_index is not None:
        yield Step(
            f"validate {name}",
            (sql.SQL("SET enable_hashjoin = off"), validate, sql.SQL("RESET enable_hashjoin")),
            (t.name,),
            after=(name, t.index_name(child_index)),
            cost=(child_rows + parent_rows) * 1e-7,
        )
        return
    yield Step(
        f"validate {name}",
        (validate,),
        (t.name,),
        after=(name,),
        # A hash anti-join: every child row against a hash of the parents (10M contacts:
        # 12.5 s for 20M emails against 10M users).
        cost=(child_rows + 0.5 * parent_rows) * 5e-7,
    )


def _build_cost(table: Table, columns: tuple[str, ...], rows: float, widths: Widths) -> float:
    """Seconds to sort ``rows`` keys and write the index: n log n comparisons, each dearer
    for a wider key. Calibrated on 10M contacts on one core here: users' uuid primary key
    7.6 s; on 20M rows, UNIQUE(email) 1.9x and UNIQUE(phone_number) 1.4x the uuid key."""
    factor = sum(_key_factor(table, c, widths.get(table.name, {})) for c in columns)
    return rows * math.log2(max(rows, 2.0)) * 3.3e-8 * factor


#: Per row of an index build's sort: its SortTuple (24 bytes), twice over because the
#: array of them grows by doubling, and the index tuple (its header, then the key).
_SORT_ROW = 2 * 24
_INDEX_TUPLE_HEADER = 8  # as pgbulk.estimate lays index tuples out


def _sort_bytes(table: Table, columns: tuple[str, ...], rows: float, widths: Widths) -> float:
    """Memory an index build's sort needs to stay in memory. Calibrated on 10M contacts:
    emails(user_id), 20M uuids, used 979 MB in memory; UNIQUE(email) (20M texts of 53
    bytes) spilled 1,325 MB to disk at 1 GB and ran 15% faster in memory."""
    known = widths.get(table.name, {})
    key = sum(_key_width(table, c, known)[0] for c in columns)
    return rows * (_SORT_ROW + math.ceil((_INDEX_TUPLE_HEADER + key) / 8) * 8)


def _key_width(table: Table, column: str, widths: Mapping[str, float]) -> tuple[float, bool]:
    """Bytes of a key column's value (measured, or 32 for a text not measured), and
    whether the type's width is fixed."""
    kind = table.column(column).type
    if kind.width is not None and not kind.array:
        return float(kind.width), True
    return widths.get(column, 32.0), False


def _key_factor(table: Table, column: str, widths: Mapping[str, float]) -> float:
    width, fixed = _key_width(table, column, widths)
    if fixed:
        return (8 + width) / 24  # a uuid: 1
    return 1 + width / 57  # text compares byte by byte, with a header


def analyze(dataset: Dataset) -> tuple[Step, ...]:
    """ANALYZE each table and turn its autovacuum back on."""
    return tuple(
        Step(
            f"analyze {t.name}",
            (
                sql.SQL("ANALYZE {}").format(sql.Identifier(t.name)),
                sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(sql.Identifier(t.name)),
            ),
            (t.name,),
            cost=0.5,
        )
        for t in dataset.tables
    )
