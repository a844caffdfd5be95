"""Columns made from other rows: NULL fractions, references to any row of another table,
columns copied from the referenced row, and trees (self-references).

A reference draws a row *index* of the referenced table (uniformly, or by a Zipf law of
popularity over a keyed shuffle of the rows) and computes that row's key from the index
with the referenced column's own generator (:meth:`pgbulk.chunks.Frame.at_rows`): it
never reads the referenced table, so any unit is made alone, in any order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from pgbulk.copy_format import NULL
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.generate import Text, concat, permutation_keys, permute
from pgbulk.generators.base import WHOLE_COLUMN_ROWS, Generator, Keyed, Rule, default_key
from pgbulk.generators.numbers import Drawn, _integer, _number, zipf_ranks
from pgbulk.generators.words import Words

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table


def with_nulls(
    values: Values, nulls: npt.NDArray[np.bool_], frame: Frame, column: Column
) -> Values:
    """``values`` with the rows of ``nulls`` NULL: text carries it as a length of -1, other
    values through the frame's mask, which the type layer reads."""
    if isinstance(values, np.ndarray) or not isinstance(values, Text | list | tuple):
        previous = frame.nulls.get(column.name)
        frame.nulls[column.name] = nulls if previous is None else nulls | previous
        return values
    text = values if isinstance(values, Text) else _concat_rows(values, nulls)
    lengths = np.where(nulls, NULL, text.row_lengths()).astype(np.int32)
    frame.nulls[column.name] = lengths < 0
    return Text(text.chars, lengths)


def _concat_rows(parts: Sequence[Text | bytes], nulls: npt.NDArray[np.bool_]) -> Text:
    """The parts concatenated on the rows that are not NULL, the others empty: a NULL
    row's bytes are never sent, and joining them is most of a mostly NULL phrase's cost."""
    n, rows = len(nulls), np.flatnonzero(~nulls)
    if len(rows) == n:
        return concat(*parts)
    if not len(rows):
        return Text(np.zeros((n, 0), dtype=np.uint8), np.zeros(n, dtype=np.int32))
    taken = [p if isinstance(p, bytes) or p.chars.shape[0] == 1 else _take(p, rows) for p in parts]
    some = concat(*taken)
    chars = np.zeros((n, some.width), dtype=np.uint8)
    chars[rows] = some.chars
    lengths = np.zeros(n, dtype=np.int32)
    lengths[rows] = some.row_lengths()
    return Text(chars, lengths)


def _words_on(words: Words, frame: Frame, column: Column, nulls: npt.NDArray[np.bool_]) -> Text:
    """The words of the rows that are not NULL, the others empty: words are keyed draws of
    each row's counter, so a frame of those rows alone makes them the same."""
    rows = np.flatnonzero(~nulls)
    chars = np.zeros((len(nulls), 0), dtype=np.uint8)
    lengths = np.full(len(nulls), NULL, dtype=np.int32)
    if len(rows):
        made = words.generate(frame.subset(rows), column)
        text = made if isinstance(made, Text) else concat(*made)
        chars = np.zeros((len(nulls), text.width), dtype=np.uint8)
        chars[rows] = text.chars
        lengths[rows] = text.row_lengths()
    return Text(chars, lengths)


def _take(text: Text, rows: npt.NDArray[np.intp]) -> Text:
    return Text(text.chars[rows], None if text.lengths is None else text.lengths[rows])


@dataclass(frozen=True)
class Nullable(Generator):
    """``inner``'s values with a fraction ``fraction`` of rows NULL (keyed, independent of
    the values)."""

    kind = "nullable"
    inner: Generator
    fraction: float
    key: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= _number("null", self.fraction) <= 1:
            raise ParameterError("null", self.fraction, "must be a fraction in 0..1")

    def generate(self, frame: Frame, column: Column) -> Values:
        key = (
            Keyed(self.key)
            if self.key is not None
            else default_key(frame.table.name, column.name + "#null")
        )
        nulls = frame.uniforms(key) < self.fraction
        if isinstance(self.inner, Words) and 2 * int(nulls.sum()) > len(nulls):
            # Mostly NULL phrases (shop's orders.note): the words of the other rows only.
            return with_nulls(_words_on(self.inner, frame, column, nulls), nulls, frame, column)
        return with_nulls(self.inner.generate(frame, column), nulls, frame, column)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule | None:
        return self.inner.rule(column, table, dataset)

    def params(self) -> dict[str, Any]:
        return {"inner": self.inner.params(), "fraction": self.fraction}


def _target_rows(frame: Frame, table: str) -> int:
    return frame.dataset.root_rows(frame.dataset.table(table), frame.scale)


@dataclass(frozen=True)
class Reference(Drawn):
    """The ``column`` (default: the first column of its primary key) of a row of top-level
    ``table``: any row uniformly (``popularity = "uniform"``), or by a Zipf law of exponent
    ``a`` over the rows in a keyed random order (``"zipf"``: a few rows are referenced
    very often, as products in orders)."""

    kind = "ref"
    types = frozenset()  # any: the referenced column's type
    table: str = ""
    column: str = ""
    popularity: Literal["uniform", "zipf"] = "uniform"
    a: float = 1.1
    key: int | None = None

    def __post_init__(self) -> None:
        if not self.table:
            raise ParameterError("ref table", self.table, "must name the referenced table")
        if self.popularity not in ("uniform", "zipf"):
            raise ParameterError("ref popularity", self.popularity, "must be uniform or zipf")
        if _number("ref a", self.a) <= 0:
            raise ParameterError("ref a", self.a, "must be > 0")

    def target_column(self, dataset: Dataset) -> str:
        target = dataset.table(self.table)
        return self.column or (
            target.primary_key[0] if target.primary_key else target.columns[0].name
        )

    def row_indices(self, frame: Frame, column: Column) -> npt.NDArray[np.int64]:
        """The referenced row of each row, by its index in the referenced table (once per
        frame: the column and every lookup through it read the same rows)."""
        memo = ("ref rows", column.name, self)
        if memo not in frame.memo:
            frame.memo[memo] = self._row_indices(frame, column)
        rows: npt.NDArray[np.int64] = frame.memo[memo]
        return rows

    def _row_indices(self, frame: Frame, column: Column) -> npt.NDArray[np.int64]:
        n = _target_rows(frame, self.table)
        u = self.uniforms(frame, column)
        if self.popularity == "uniform":
            return np.floor(u * n).astype(np.int64)
        ranks = zipf_ranks(self.a, n, u) - 1
        key = self.keyed(frame, column).key ^ 0x2F0
        if n > WHOLE_COLUMN_ROWS:
            return permute(ranks.astype(np.uint64), n, permutation_keys(frame.seed, key)).astype(
                np.int64
            )

        # The popularity order of a small table, made once: the row of every rank.
        def every_rank() -> npt.NDArray[np.int64]:
            every = np.arange(n, dtype=np.uint64)
            return permute(every, n, permutation_keys(frame.seed, key)).astype(np.int64)

        order = frame.once(("popularity order", key, n), every_rank)
        return order[ranks]

    def generate(self, frame: Frame, column: Column) -> Values:
        rows = self.row_indices(frame, column)
        target = frame.dataset.table(self.table)
        return frame.referenced(target, rows, self.target_column(frame.dataset))


@dataclass(frozen=True)
class Lookup(Generator):
    """A column of the row that the reference column ``ref`` of the same row points to:
    ``order_items.unit_price`` from ``products.price``, the second column of a composite
    key. Recomputed from the referenced row's index, never read back."""

    kind = "lookup"
    ref: str
    column: str

    def generate(self, frame: Frame, column: Column) -> Values:
        source = frame.table.column(self.ref)
        generator = source.generator
        while isinstance(generator, Nullable):
            generator = generator.inner
        if not isinstance(generator, Reference):
            raise PgbulkError(
                f"{frame.table.name}.{column.name}: lookup needs {self.ref} to be a ref column"
            )
        rows = generator.row_indices(frame, source)
        return frame.referenced(frame.dataset.table(generator.table), rows, self.column)


@dataclass(frozen=True)
class Tree(Generator):
    """A self-reference that makes a tree (employee -> manager): row r's parent is row
    (r - 1) // ``fanout`` of the same table, its ``column``; row 0, the root, is NULL.
    Every row is reachable from the root and the depth is log_fanout(rows)."""

    kind = "tree"
    column: str = "id"
    fanout: int = 5

    def __post_init__(self) -> None:
        if not 1 <= _integer("tree fanout", self.fanout) <= 10**6:
            raise ParameterError("tree fanout", self.fanout, "must be in 1..1,000,000")

    def generate(self, frame: Frame, column: Column) -> Values:
        rows = frame.row_numbers()
        parents = np.maximum(rows - 1, 0) // self.fanout
        values = frame.at_rows(frame.table, parents).values(self.column)
        return with_nulls(values, rows == 0, frame, column)
