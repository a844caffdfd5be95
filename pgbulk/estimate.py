"""Rows and bytes on disk of a dataset before it is made: from the model and measured widths.

Rows: exact for top-level tables, the count law's mean per parent row for the others.
Bytes: each table's heap and indexes laid out as PostgreSQL lays them out — a 23-byte
tuple header (plus the NULL bitmap) padded to 8 bytes, columns at their type's
alignment, a 4-byte line pointer per tuple, 8 kB pages; B-tree leaves filled to 90% at
build time, equal keys of a non-unique index merged into posting lists (PostgreSQL 13+
deduplication) — with the widths of text and other varying values measured on the
first unit of the dataset. Release 0.1.0 guessed 700 bytes per user and said 6.52 GiB
for a 10M-user load that measured 8.95 GiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pgbulk import types
from pgbulk.chunks import Chunk, Rows, Values, is_arrow
from pgbulk.copy_format import Packed
from pgbulk.generate import Text
from pgbulk.model import Column, Dataset, PerParent, Table

PAGE = 8192
_HEAP_USABLE = PAGE - 24  # page header
_BTREE_USABLE = PAGE - 24 - 16  # page header and B-tree special space
_BTREE_FILL = 0.90  # CREATE INDEX fills leaves to the default fillfactor
_LINE_POINTER = 4
_TUPLE_HEADER = 23
_INDEX_TUPLE_HEADER = 8
_HEAP_TID = 6  # bytes per extra heap pointer in a deduplicated posting list
_SHORT_VARLENA = 127  # values shorter than this have a 1-byte header and no alignment
# Alignment of each type's values in a tuple (pg_type.typalign).
_ALIGN = {
    "bool": 1, "int2": 2, "int4": 4, "int8": 8, "float4": 4, "float8": 8, "numeric": 4,
    "text": 4, "varchar": 4, "bpchar": 4, "bytea": 4, "uuid": 1, "date": 4, "time": 8,
    "timestamp": 8, "timestamptz": 8, "interval": 8, "json": 4, "jsonb": 4,
}  # fmt: skip


def _align(offset: npt.NDArray[np.int64] | int, to: int) -> npt.NDArray[np.int64] | int:
    return (offset + to - 1) // to * to


@dataclass(frozen=True)
class TableEstimate:
    table: str
    rows: float
    heap_bytes: float
    index_bytes: float

    @property
    def bytes(self) -> float:
        return self.heap_bytes + self.index_bytes


@dataclass(frozen=True)
class Estimate:
    tables: tuple[TableEstimate, ...]

    @property
    def rows(self) -> float:
        return sum(t.rows for t in self.tables)

    @property
    def bytes(self) -> float:
        return sum(t.bytes for t in self.tables)

    def rows_of(self) -> dict[str, float]:
        return {t.table: t.rows for t in self.tables}


def estimate(rows: Rows) -> Estimate:
    """Rows and bytes of (dataset, seed, scale), measuring widths on its first unit."""
    dataset = rows.dataset
    counts = expected_rows(dataset, rows.scale)
    samples = {t.name: _sample(rows, t) for t in dataset.tables}
    out = []
    for table in dataset.tables:
        n = counts[table.name]
        sample = samples[table.name]
        heap = _heap_bytes(table, sample, n)
        index = sum(
            _index_bytes(dataset, table, cols, unique, sample, n)
            for cols, unique in _indexes(table)
        )
        out.append(TableEstimate(table.name, n, heap, index))
    return Estimate(tuple(out))


def mean_widths(rows: Rows) -> dict[str, dict[str, float]]:
    """Mean bytes of each column's values, measured on the first unit with rows of it."""
    return {
        t.name: {c: float(w.mean()) for c, w in _column_widths(t, _sample(rows, t)).items()}
        for t in rows.dataset.tables
    }


def expected_rows(dataset: Dataset, scale: int) -> dict[str, float]:
    counts: dict[str, float] = {}
    for t in dataset.tables:
        if isinstance(t.rows, PerParent):
            counts[t.name] = counts[t.rows.parent] * t.rows.law.mean
        else:
            counts[t.name] = float(dataset.root_rows(t, scale))
    return counts


def _sample(rows: Rows, table: Table) -> Chunk | None:
    """The first unit that has rows of ``table``."""
    for number in range(min(rows.chunks, 64)):
        chunk = rows.chunk(number)
        if chunk.rows(table.name):
            return chunk
    return None


def _widths(values: Values, column: Column) -> npt.NDArray[np.int64]:
    """Bytes of each value on disk, its varlena header included."""
    width = column.type.width
    if width is not None:
        n = values.chars.shape[0] if isinstance(values, Text) else len(values)
        return np.full(max(n, 1), width, dtype=np.int64)
    if isinstance(values, Text):
        lengths = values.row_lengths().astype(np.int64)
    elif is_arrow(values):
        encoded = types.encode(column.type, values)
        if isinstance(encoded, Packed):
            lengths = encoded.lengths().astype(np.int64)
        else:
            return _widths(encoded, column)
    elif isinstance(values, np.ndarray):
        lengths = np.full(len(values), values.dtype.itemsize, dtype=np.int64)
    else:
        lengths = np.zeros(1, dtype=np.int64)
        for p in values:
            lengths = lengths + (len(p) if isinstance(p, bytes) else p.row_lengths())
    return np.where(lengths < 0, 0, lengths + np.where(lengths < _SHORT_VARLENA, 1, 4))


def _column_widths(table: Table, sample: Chunk | None) -> dict[str, npt.NDArray[np.int64]]:
    if sample is None:  # no rows to measure: fixed widths, and 16 bytes for the others
        return {c.name: np.array([c.type.width or 16], dtype=np.int64) for c in table.columns}
    frame = sample.frame(table.name)
    return {c.name: _widths(frame.values(c.name), c) for c in table.columns}


def _tuple_bytes(
    table: Table, columns: tuple[str, ...], widths: dict[str, npt.NDArray[np.int64]], header: int
) -> float:
    """Mean bytes of a tuple of ``columns``: header, then each value at its alignment."""
    offset: npt.NDArray[np.int64] | int = header
    for name in columns:
        column = table.column(name)
        w = widths[name]
        align = _ALIGN[column.type.name] if not column.type.array else 8
        if column.type.width is None:  # varlena: short ones are not aligned
            aligned = _align(offset, align)
            offset = np.where(w < _SHORT_VARLENA + 1, offset, aligned) + w
        else:
            offset = _align(offset, align) + w
    return float(np.mean(_align(offset, 8)))


def _heap_bytes(table: Table, sample: Chunk | None, rows: float) -> float:
    widths = _column_widths(table, sample)
    nullable = any(c.nullable for c in table.columns)
    header = _TUPLE_HEADER + (math.ceil(len(table.columns) / 8) if nullable else 0)
    tuple_bytes = _tuple_bytes(table, table.column_names, widths, int(_align(header, 8)))
    per_page = max(1, int(_HEAP_USABLE // (tuple_bytes + _LINE_POINTER)))
    pages = math.ceil(rows / per_page)
    return pages * PAGE


def _indexes(table: Table) -> list[tuple[tuple[str, ...], bool]]:
    found = [(table.primary_key, True)] if table.primary_key else []
    found += [(u.columns, True) for u in table.unique]
    found += [(i.columns, i.unique) for i in table.indexes]
    return found


def _index_bytes(
    dataset: Dataset,
    table: Table,
    columns: tuple[str, ...],
    unique: bool,
    sample: Chunk | None,
    rows: float,
) -> float:
    widths = _column_widths(table, sample)
    key = _tuple_bytes(table, columns, widths, _INDEX_TUPLE_HEADER)
    leaf_tuples = rows
    leaf_bytes = key
    law = None
    if not unique and isinstance(table.rows, PerParent):
        fk = table.foreign_key_to(table.rows.parent)
        if fk is not None and fk.columns == columns:
            law = table.rows.law
    if law is not None:
        # Deduplicated: one tuple per parent with children, holding all their heap pointers.
        support, p = law.pmf()
        with_children = support > 0
        sizes = np.where(support > 1, (key + _HEAP_TID * support + 7) // 8 * 8, key)
        parents = rows / law.mean
        leaf_tuples = parents * float(p[with_children].sum())
        leaf_bytes = float((sizes * p)[with_children].sum() / p[with_children].sum())
    per_page = max(1, int(_BTREE_USABLE * _BTREE_FILL // (leaf_bytes + _LINE_POINTER)))
    leaves = math.ceil(leaf_tuples / per_page)
    # Inner pages: one downlink per page below, fuller than leaves (70% is typical).
    fanout = max(2, int(_BTREE_USABLE * 0.7 // (key + _LINE_POINTER)))
    inner = 1
    level = leaves
    while level > 1:
        level = math.ceil(level / fanout)
        inner += level
    return (leaves + inner + 1) * PAGE  # + the metapage
