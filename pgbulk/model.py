"""The dataset model: tables, columns, types, keys and row counts as plain, immutable data.

Everything that needs to know what a table is reads a :class:`Dataset`: the DDL and the
post-load steps (:mod:`pgbulk.ddl`), the COPY column lists and the ledger's counts (the
loader), the verify checks, the fingerprint, the export's Arrow schema, the analysis
and the change capture. Nothing else names a dataset's tables.

A dataset's rows are a pure function of (dataset, seed, scale): the scale sets the
number of rows of the tables counted :class:`PerScale`; a table counted
:class:`PerParent` has, under each row of its parent, a number of rows drawn from a
law; :class:`Fixed` tables have the same number of rows at any scale. Rows are made
in *units*: a unit is ``chunk_rows`` consecutive rows of one top-level table and every
row that descends from them, so a unit is the same wherever and whenever it is made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pgbulk.errors import ParameterError
from pgbulk.types import PgType

if TYPE_CHECKING:
    from pgbulk.generators import CountLaw, Generator

OnDelete = Literal["no action", "restrict", "cascade", "set null", "set default"]
ON_DELETE: tuple[OnDelete, ...] = ("no action", "restrict", "cascade", "set null", "set default")

# PostgreSQL truncates identifiers to 63 bytes; pgbulk refuses longer ones rather than
# let two names collide after truncation.
_MAX_IDENTIFIER = 63
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ParameterError(
            kind, name, "must be a plain identifier (letters, digits, _ and $; not first a digit)"
        )
    if len(name.encode()) > _MAX_IDENTIFIER:
        raise ParameterError(kind, name, f"must be at most {_MAX_IDENTIFIER} bytes")
    return name


# ---------------------------------------------------------------------- columns and keys


@dataclass(frozen=True)
class Column:
    """A column: its name, PostgreSQL type and the generator that fills it.

    ``generator`` is None for a column that pgbulk does not generate (a table made for
    ingested data). ``default`` is the SQL default of the final schema, which a load
    never evaluates (binary COPY gives every column).
    """

    name: str
    type: PgType
    generator: Generator | None = None
    nullable: bool = False
    collation: str | None = None
    default: str | None = None

    def __post_init__(self) -> None:
        check_name("column name", self.name)
        if not isinstance(self.type, PgType):
            raise ParameterError(f"type of column {self.name}", self.type, "must be a PgType")


@dataclass(frozen=True)
class Unique:
    columns: tuple[str, ...]
    name: str = ""  # "": PostgreSQL's own choice, table_col1_col2_key


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` reference ``ref_columns`` of ``table`` (its primary key by default)."""

    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...] = ()
    on_delete: OnDelete = "no action"
    name: str = ""  # "": table_col1_col2_fkey

    def __post_init__(self) -> None:
        if self.on_delete not in ON_DELETE:
            raise ParameterError(
                "on_delete", self.on_delete, f"must be one of {', '.join(ON_DELETE)}"
            )


@dataclass(frozen=True)
class Index:
    """An index that is not a constraint (a lookup path, e.g. on a foreign key)."""

    columns: tuple[str, ...]
    name: str = ""  # "": table_col1_col2_idx
    unique: bool = False


# ---------------------------------------------------------------------- row counts


@dataclass(frozen=True)
class PerScale:
    """``factor`` rows per unit of scale (the scale table has factor 1)."""

    factor: int = 1


@dataclass(frozen=True)
class Fixed:
    """The same number of rows at any scale."""

    rows: int


@dataclass(frozen=True)
class PerParent:
    """Under each row of ``parent``, a number of rows drawn from ``law``.

    The rows of a parent are made with it, in its unit: a child row is known by its
    parent's row and its position ``n = 0, 1, ...`` under that parent.
    """

    parent: str
    law: CountLaw


RowCount = PerScale | Fixed | PerParent


# ---------------------------------------------------------------------- tables and datasets


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    rows: RowCount
    primary_key: tuple[str, ...] = ()
    unique: tuple[Unique, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()

    def __post_init__(self) -> None:
        check_name("table name", self.name)
        names = [c.name for c in self.columns]
        if not names:
            raise ParameterError(f"table {self.name}", "no columns", "needs at least one column")
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ParameterError(f"table {self.name}", dupes, "has duplicate column names")
        keyed = [
            *([("primary key", self.primary_key)] if self.primary_key else []),
            *(("unique", u.columns) for u in self.unique),
            *(("foreign key", f.columns) for f in self.foreign_keys),
            *(("index", i.columns) for i in self.indexes),
        ]
        for what, columns in keyed:
            unknown = [c for c in columns if c not in names]
            if unknown or not columns:
                raise ParameterError(
                    f"{what} of table {self.name}",
                    list(columns),
                    f"must name columns of the table ({', '.join(names)})",
                )

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def parent(self) -> str | None:
        return self.rows.parent if isinstance(self.rows, PerParent) else None

    def foreign_key_to(self, table: str) -> ForeignKey | None:
        return next((f for f in self.foreign_keys if f.table == table), None)

    # PostgreSQL's names for constraints and indexes it is not given names for.
    @property
    def primary_key_name(self) -> str:
        return f"{self.name}_pkey"

    def unique_name(self, u: Unique) -> str:
        return u.name or f"{self.name}_{'_'.join(u.columns)}_key"

    def foreign_key_name(self, f: ForeignKey) -> str:
        return f.name or f"{self.name}_{'_'.join(f.columns)}_fkey"

    def index_name(self, i: Index) -> str:
        return i.name or f"{self.name}_{'_'.join(i.columns)}_idx"


@dataclass(frozen=True)
class Dataset:
    """A whole dataset: its tables (parents before children) and how they are made.

    ``definition`` is what the ledger records to make the same dataset again (the
    parameters of a built-in dataset, or a whole spec); two datasets with equal
    definitions, seeds and scales have the same rows.
    """

    name: str
    tables: tuple[Table, ...]
    scale_table: str
    chunk_rows: int
    definition: Mapping[str, Any] = field(default_factory=dict)
    max_scale: int = 2**62

    def __post_init__(self) -> None:
        check_name("dataset name", self.name)
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ParameterError(f"dataset {self.name}", names, "has duplicate table names")
        if self.scale_table not in names:
            raise ParameterError(
                "scale_table", self.scale_table, f"must be one of {', '.join(names)}"
            )
        if not isinstance(self.table(self.scale_table).rows, PerScale):
            raise ParameterError(
                "scale_table", self.scale_table, "must be a table counted PerScale"
            )
        if (
            isinstance(self.chunk_rows, bool)
            or not isinstance(self.chunk_rows, int)
            or not 1 <= self.chunk_rows <= 10_000_000
        ):
            raise ParameterError(
                "chunk_rows", self.chunk_rows, "must be an integer in 1..10,000,000"
            )
        seen: set[str] = set()
        for t in self.tables:
            parent = t.parent
            if parent is not None and parent not in seen:
                raise ParameterError(
                    f"table {t.name}",
                    parent,
                    "is counted per rows of a table that must come before it",
                )
            for fk in t.foreign_keys:
                if fk.table not in names:
                    raise ParameterError(
                        f"foreign key of table {t.name}",
                        fk.table,
                        "must reference a table of the dataset",
                    )
                target = self.table(fk.table)
                ref = fk.ref_columns or target.primary_key
                if len(ref) != len(fk.columns) or any(c not in target.column_names for c in ref):
                    raise ParameterError(
                        f"foreign key {t.foreign_key_name(fk)}",
                        list(ref),
                        f"must name as many columns of {fk.table} as it has",
                    )
            seen.add(t.name)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(
            f"dataset {self.name} has no table {name!r}; its tables are {', '.join(self.table_names)}"
        )

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    @property
    def roots(self) -> tuple[Table, ...]:
        """The tables whose rows are not made under a parent's: each is split into units."""
        return tuple(t for t in self.tables if t.parent is None)

    def children(self, parent: str) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if t.parent == parent)

    def descendants(self, table: str) -> Iterator[Table]:
        for child in self.children(table):
            yield child
            yield from self.descendants(child.name)

    def root_rows(self, table: Table, scale: int) -> int:
        """Rows of a top-level table at ``scale``."""
        if isinstance(table.rows, PerScale):
            return table.rows.factor * scale
        if isinstance(table.rows, Fixed):
            return table.rows.rows
        raise ValueError(f"table {table.name} has its rows under {table.rows.parent}")

    def check_scale(self, scale: object) -> int:
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int)
            or not 1 <= scale <= self.max_scale
        ):
            raise ParameterError(
                "scale",
                scale,
                f"must be an integer in 1..{self.max_scale:,} ({self.scale_table} rows)",
            )
        return scale
