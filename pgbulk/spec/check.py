"""What a spec must hold beyond each column alone: references to real columns of the
right type, values that can be unique for the rows the table has, and foreign keys whose
cycles can be broken. Each failure is one :class:`SpecError` line naming table and column."""

from __future__ import annotations

import dataclasses

from pgbulk.generators import FromParent, Template, UniqueText, Uuid
from pgbulk.generators.arithmetic import Expr, check_expr
from pgbulk.generators.base import Generator, Stream
from pgbulk.generators.empirical import ChildRef, SiblingRef
from pgbulk.generators.ids import Uuid7At
from pgbulk.generators.numbers import TEXTS, Categorical, Drawn, Position
from pgbulk.generators.relations import Lookup, Nullable, Reference, Tree
from pgbulk.generators.structured import ArrayOf, Json
from pgbulk.model import Column, Dataset, Fixed, PerParent, PerScale, Table
from pgbulk.spec.parse import SpecError, _where

#: More rows than any table can hold: "unique at any scale".
UNBOUNDED = 2**62


def _bare(generator: Generator | None) -> Generator | None:
    while isinstance(generator, Nullable):
        generator = generator.inner
    return generator


def _rows_per_scale(dataset: Dataset, table: Table) -> float | None:
    """Most rows per unit of scale (slots, for a child table: parents x the law's most);
    None for a fixed table (its own count is the bound)."""
    if isinstance(table.rows, PerScale):
        return float(table.rows.factor)
    if isinstance(table.rows, PerParent):
        parent = _rows_per_scale(dataset, dataset.table(table.rows.parent))
        return None if parent is None else parent * table.rows.law.most
    return None


def _slots(dataset: Dataset, table: Table) -> int:
    """Most slots of a table counted under fixed tables only."""
    if isinstance(table.rows, PerParent):
        return _slots(dataset, dataset.table(table.rows.parent)) * table.rows.law.most
    return dataset.root_rows(table, 1)


def unique_capacity(column: Column, table: Table, dataset: Dataset) -> int | None:
    """How many rows the column's generator can make all distinct; None: it cannot promise."""
    g = _bare(column.generator)
    if isinstance(g, Drawn):
        return g.unique_rows()
    if isinstance(g, UniqueText):
        return g.domain
    if isinstance(g, Uuid):
        return UNBOUNDED
    if isinstance(g, Template):
        fields = {p.field for p in g.pieces if p.field}
        if fields & {"row", "number"}:
            return UNBOUNDED
        if len(fields) == 1:  # constants around one column's text: as unique as that column
            (only,) = fields
            if only in table.column_names and only != column.name:
                return unique_capacity(table.column(only), table, dataset)
        if "n" in fields and table.parent is not None:
            parent = dataset.table(table.parent)
            parent_fields = {f.removeprefix("parent.") for f in fields if f.startswith("parent.")}
            if any(
                _unique_alone(parent.column(f), parent, dataset)
                for f in parent_fields
                if f in parent.column_names
            ):
                return UNBOUNDED
        return None
    if isinstance(g, FromParent) and table.parent is not None and isinstance(table.rows, PerParent):
        return None
    return None


def _draws_streams(table: Table, name: str, seen: frozenset[str] = frozenset()) -> bool:
    """The column's values come from the unit's streams, directly or through the columns
    its template or instant reads: what only the unit that makes the row can compute."""
    seen |= {name}
    g = _bare(table.column(name).generator)
    if isinstance(getattr(g, "key", None), Stream):
        return True
    reads: list[str] = []
    if isinstance(g, Template):
        reads = [p.field for p in g.pieces if p.field and p.parent_column is None]
    elif isinstance(g, Uuid7At):
        reads = [g.column]
    return any(
        r in table.column_names and r not in seen and _draws_streams(table, r, seen) for r in reads
    )


def _unique_alone(column: Column, table: Table, dataset: Dataset) -> bool:
    return unique_capacity(column, table, dataset) is not None


def _unique_sets(table: Table) -> list[tuple[str, tuple[str, ...]]]:
    sets = [("primary key", table.primary_key)] if table.primary_key else []
    sets += [("unique", u.columns) for u in table.unique]
    sets += [("unique index", i.columns) for i in table.indexes if i.unique]
    return sets


def _composite_by_position(columns: tuple[str, ...], table: Table, dataset: Dataset) -> bool:
    """(the parent's unique key copied, the position n or a reference distinct among the
    parent's children): unique by construction."""
    if table.parent is None:
        return False
    parent = dataset.table(table.parent)
    has_position = any(
        isinstance(_bare(table.column(c).generator), Position | SiblingRef) for c in columns
    )
    copied = [
        g.column for c in columns if isinstance(g := _bare(table.column(c).generator), FromParent)
    ]
    return has_position and any(_unique_alone(parent.column(c), parent, dataset) for c in copied)


def check_uniques(dataset: Dataset) -> int:
    """Refuse a unique column or key the generators cannot keep unique; the largest scale
    at which every one of them is (the dataset's ``max_scale``)."""
    max_scale = dataset.max_scale
    for table in dataset.tables:
        for what, columns in _unique_sets(table):
            capacities = {c: unique_capacity(table.column(c), table, dataset) for c in columns}
            bounded = [v for v in capacities.values() if v is not None]
            if not bounded:
                if len(columns) > 1 and _composite_by_position(columns, table, dataset):
                    continue
                c = columns[0]
                kind = getattr(_bare(table.column(c).generator), "kind", "none")
                raise SpecError(
                    f"{_where(table.name, c)}{what} ({', '.join(columns)}) cannot be unique: generator "
                    f"{kind} may repeat values; use sequence, unique_int, unique_text, uuid, a template "
                    "with {row}, or (parent key, position) in a child table"
                )
            capacity = max(bounded)
            per_scale = _rows_per_scale(dataset, table)
            if per_scale is None:
                if _slots(dataset, table) > capacity:
                    raise SpecError(
                        f"{_where(table.name, columns[0])}{what} cannot be unique: {_slots(dataset, table):,} "
                        f"rows but only {capacity:,} distinct values; widen the generator's range"
                    )
                continue
            limit = int(capacity // per_scale)
            if limit < 1:
                raise SpecError(
                    f"{_where(table.name, columns[0])}{what} cannot be unique: {per_scale:,.0f} rows per "
                    f"unit of scale but only {capacity:,} distinct values; widen the generator's range"
                )
            max_scale = min(max_scale, limit)
    return max_scale


def _referenced(dataset: Dataset, where: str, kind: str, name: str) -> Table:
    if name not in dataset.table_names:
        raise SpecError(f"{where}{kind} table {name!r} is not a table of the spec")
    return dataset.table(name)


def check_references(dataset: Dataset) -> None:
    for table in dataset.tables:
        for column in table.columns:
            where = _where(table.name, column.name)
            g = _bare(column.generator)
            source: tuple[Table, str] | None = None
            if isinstance(g, Reference | SiblingRef):
                target = _referenced(dataset, where, g.kind, g.table)
                if target.parent is not None:
                    raise SpecError(
                        f"{where}ref to {g.table}, whose rows are made under {target.parent}: "
                        "reference a top-level table (its rows are computed from their number)"
                    )
                if isinstance(target.rows, Fixed) and target.rows.rows == 0:
                    raise SpecError(f"{where}ref to {g.table}, which has no rows: give it rows")
                source = (target, g.target_column(dataset))
                if isinstance(g, SiblingRef) and table.parent is None:
                    raise SpecError(
                        f'{where}sibling_ref needs rows = {{ parent = "<table>", ... }} on {table.name}'
                    )
            elif isinstance(g, ChildRef):
                target = _referenced(dataset, where, g.kind, g.table)
                if target.parent is None or dataset.table(target.parent).parent is not None:
                    raise SpecError(
                        f"{where}child_ref to {g.table}: it needs a table made under a top-level table"
                    )
                if g.column not in target.column_names:
                    raise SpecError(
                        f"{where}child_ref column {g.column!r} is not a column of {g.table}"
                    )
                source = (target, g.column)
            elif isinstance(g, Lookup):
                if g.ref not in table.column_names or not isinstance(
                    ref := _bare(table.column(g.ref).generator), Reference
                ):
                    raise SpecError(
                        f"{where}lookup ref {g.ref!r} must be a ref column of {table.name}"
                    )
                source = (dataset.table(ref.table), g.column)
            elif isinstance(g, FromParent):
                if table.parent is None:
                    raise SpecError(
                        f'{where}generator parent needs rows = {{ parent = "<table>", ... }} on {table.name}'
                    )
                source = (dataset.table(table.parent), g.column)
            elif isinstance(g, Tree):
                if table.parent is not None:
                    raise SpecError(
                        f"{where}tree needs a top-level table; {table.name} is made under {table.parent}"
                    )
                source = (table, g.column)
            elif isinstance(g, Template):
                for p in g.pieces:
                    name = p.parent_column
                    if p.field in ("row", "number") and table.parent is not None:
                        raise SpecError(
                            f"{where}{{{p.field}}} is not known in a child table: use {{n}} and the parent's columns"
                        )
                    if name is not None and (
                        table.parent is None or name not in dataset.table(table.parent).column_names
                    ):
                        raise SpecError(
                            f"{where}template field {{parent.{name}}} names no column of a parent table"
                        )
                    if (
                        p.field
                        and name is None
                        and p.field not in ("row", "number", "n")
                        and p.field not in table.column_names
                    ):
                        raise SpecError(
                            f"{where}template field {{{p.field}}} names no column of {table.name}"
                        )
            elif isinstance(g, Uuid7At):
                if g.column not in table.column_names:
                    raise SpecError(
                        f"{where}uuid7_at column {g.column!r} is not a column of {table.name}"
                    )
                if table.column(g.column).type.name not in ("timestamp", "timestamptz", "date"):
                    raise SpecError(
                        f"{where}uuid7_at column {g.column!r} must be a timestamp, not "
                        f"{table.column(g.column).type.sql}"
                    )
            elif isinstance(g, Categorical) and g.texts != (column.type.name in TEXTS):
                kind = "strings" if g.texts else "numbers"
                raise SpecError(
                    f"{where}categorical values are {kind}: they cannot fill {column.type.sql}"
                )
            elif isinstance(g, Expr):
                problem = check_expr(g, column, table)
                if problem:
                    raise SpecError(f"{where}{problem}")
            elif isinstance(g, Json | ArrayOf):
                pass
            if source is not None:
                target, name = source
                if name not in target.column_names:
                    raise SpecError(f"{where}{target.name} has no column {name!r}")
                if not isinstance(g, FromParent) and _draws_streams(target, name):
                    raise SpecError(
                        f"{where}{target.name}.{name} draws from the unit's streams "
                        "(key = { stream = N }): a row of it cannot be recomputed from its "
                        "number; give it an integer key"
                    )
                wanted = target.column(name).type
                if dataclasses.replace(wanted) != column.type:
                    raise SpecError(
                        f"{where}type {column.type.sql} differs from {target.name}.{name}'s "
                        f"{wanted.sql}: make them the same"
                    )


def _check_template(g: Template, table: Table, dataset: Dataset, where: str) -> None:
    parent = dataset.table(table.parent) if table.parent is not None else None
    for p in g.pieces:
        name = p.parent_column
        if p.field in ("row", "number") and parent is not None:
            raise SpecError(
                f"{where}{{{p.field}}} is not known in a child table: use {{n}} and the parent's columns"
            )
        if name is not None and (parent is None or name not in parent.column_names):
            raise SpecError(
                f"{where}template field {{parent.{name}}} names no column of a parent table"
            )
        numbers = ("row", "number", "n")
        if (
            p.field
            and name is None
            and p.field not in numbers
            and p.field not in table.column_names
        ):
            raise SpecError(f"{where}template field {{{p.field}}} names no column of {table.name}")


def check_cycles(dataset: Dataset) -> None:
    """A cycle of foreign keys must have a nullable edge, or no row could be inserted first."""
    edges: dict[str, list[tuple[str, bool, str]]] = {t.name: [] for t in dataset.tables}
    for t in dataset.tables:
        for fk in t.foreign_keys:
            nullable = all(t.column(c).nullable for c in fk.columns)
            edges[t.name].append((fk.table, nullable, ",".join(fk.columns)))

    def visit(node: str, path: list[tuple[str, bool, str]]) -> None:
        for target, nullable, cols in edges[node]:
            names = [p[0] for p in path]
            step = (*path, (node, nullable, cols))
            if target in names or target == node:
                cycle = list(step[names.index(target) :]) if target in names else [step[-1]]
                if not any(n for _, n, _ in cycle):
                    first = cycle[0]
                    route = " -> ".join([*(c[0] for c in cycle), target])
                    raise SpecError(
                        f"{_where(first[0], first[2])}foreign keys form a cycle {route} with no nullable "
                        "column: make one of its columns nullable (null = 0.0 or nullable = true)"
                    )
                continue
            visit(target, list(step))

    for t in dataset.tables:
        visit(t.name, [])


def check(dataset: Dataset) -> Dataset:
    """The dataset, checked, with ``max_scale`` the largest scale its unique keys allow."""
    check_references(dataset)
    check_cycles(dataset)
    max_scale = check_uniques(dataset)
    return dataclasses.replace(dataset, max_scale=max_scale)
