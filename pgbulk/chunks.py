"""A dataset's rows, unit by unit: each table's columns computed on first use, then encoded.

``Rows(dataset, scale, seed=...)`` is the whole dataset as a sequence of :class:`Chunk`
(one per unit of :class:`~pgbulk.plan.Plan`); nothing is generated until asked for. A
chunk holds one :class:`Frame` per table it has rows in: the unit's rows of its
top-level table, and under them, per child table, the rows its count law draws for
each parent row. A frame computes a column by calling its generator, once; generators
read other columns through the frame, so a column may be made from others, from its
parent row's, or from the row's numbers. Pure: no I/O, no global state.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from pgbulk import copy_format, types
from pgbulk.errors import ParameterError, PgbulkError, ValueRejected
from pgbulk.generate import (
    U64,
    Text,
    concat,
    decimal,
    keyed_u64,
    raw_u64,
    stream,
    take_rows,
    unit_interval,
    uuid_text,
)
from pgbulk.generators import FromParent, Key, Stream, default_key
from pgbulk.generators.base import WHOLE_COLUMN_ROWS
from pgbulk.model import Column, Dataset, PerParent, Table
from pgbulk.plan import Plan, Unit

if TYPE_CHECKING:
    import pyarrow as pa

#: A column's values as generators make them: a numpy array, text, text in parts, or an
#: Arrow array (lists and structs, which the type layer encodes).
Values: TypeAlias = "npt.NDArray[Any] | Text | Sequence[Text | bytes] | pa.Array"


def is_arrow(values: object) -> bool:
    """An Arrow array, told without importing pyarrow (load workers of text and uuid columns
    never import it: 35 MB each)."""
    return type(values).__module__.startswith("pyarrow")


T = TypeVar("T")

MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ParameterError("seed", seed, f"must be an integer in 0..{MAX_SEED}")
    return seed


class Frame:
    """The rows of one table within one unit, and their columns as they are computed.

    ``first_row`` is the table-wide index of the frame's first row (None where it is not
    known: a child table's rows are numbered under their parents). In a child frame,
    ``owner_rows[i]`` is the parent frame's row of row i and ``positions[i]`` its n.
    """

    def __init__(
        self,
        chunk: Chunk,
        table: Table,
        rows: int,
        first_row: int | None,
        parent: Frame | None = None,
        owner_rows: npt.NDArray[np.intp] | None = None,
        counts: npt.NDArray[np.integer[Any]] | None = None,
    ) -> None:
        # The frame keeps what it needs of its chunk, not the chunk: a chunk holds its frames,
        # and a cycle would keep a whole chunk's arrays alive until the cyclic GC ran
        # (measured: resident memory grew ~4 MB per 50k-user chunk, all fresh pages).
        self.seed = chunk.seed
        self._unit = chunk.unit.chunk
        self.table = table
        self.rows = rows
        self.first_row = first_row
        self.parent = parent
        self.owner_rows = owner_rows
        self.counts = counts  # children per parent row, for a child frame
        self.dataset = chunk.dataset
        self.scale = chunk.scale
        #: NULL rows of a column whose generator makes some (True: NULL).
        self.nulls: dict[str, npt.NDArray[np.bool_]] = {}
        self._numbers: npt.NDArray[np.int64] | None = None
        self._values: dict[str, Values] = {}
        self._texts: dict[str, Text] = {}
        self._making: list[str] = []
        #: What generators compute once per frame and more than one column reads (the rows
        #: a reference points to: its column and the lookups through it).
        self.memo: dict[Any, Any] = {}
        #: What is the same in every unit of the dataset and worth making once (a small
        #: table's whole column that references read; a Zipf popularity order), shared by
        #: the chunks of one :class:`Rows`.
        self.shared = chunk.shared

    def stream(self, number: int) -> np.random.Generator:
        return stream(self.seed, self._unit, number)

    def at_rows(self, table: Table, numbers: npt.NDArray[np.int64]) -> Frame:
        """A frame of any rows of a top-level ``table``, by their table-wide numbers.

        What a reference computes its referenced row's key with (orders -> any product),
        without making that row's unit: keyed generators are functions of the row number.
        """
        if isinstance(table.rows, PerParent):
            raise PgbulkError(
                f"table {table.name} has its rows under {table.rows.parent}: "
                "only rows of a top-level table can be computed from their number"
            )
        return self.counted(table, numbers)

    def referenced(self, table: Table, numbers: npt.NDArray[np.int64], column: str) -> Values:
        """``column`` of the rows ``numbers`` of a top-level ``table``: what a reference or a
        lookup through it reads.

        The column of a small table (up to :data:`WHOLE_COLUMN_ROWS` rows: a catalogue of
        products behind every order line) is made once for all its rows and gathered
        from; it is the same values, since a keyed generator's values are functions of
        the row number. Otherwise, or where a column draws from the unit's streams (whose
        values depend on the frame), it is made for these rows alone.
        """
        n = self.dataset.root_rows(table, self.scale)
        small = self.once(
            ("whole columns", table.name),
            lambda: n <= WHOLE_COLUMN_ROWS and not _draws_from_streams(table),
        )
        if not small:
            return self.at_rows(table, numbers).values(column)
        whole = self.once(
            ("whole column", table.name, column),
            lambda: self.at_rows(table, np.arange(n, dtype=np.int64)).values(column),
        )
        return _take(whole, numbers)

    def once(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` the first time any unit of this :class:`Rows` asks for ``key``."""
        if key not in self.shared:
            self.shared[key] = make()
        made: T = self.shared[key]
        return made

    def subset(self, rows: npt.NDArray[np.intp]) -> Frame:
        """Some of this frame's rows, for a generator whose values depend on each row's
        counter alone (keyed draws; not its parent, position or other columns)."""
        return self.counted(self.table, self._counters()[rows])

    def at_children(self, table: Table, parents: Frame, positions: npt.NDArray[np.int64]) -> Frame:
        """A frame of rows of child ``table`` named by their parent rows (``parents``, a frame
        of a top-level table's rows, one per row) and their positions n under them: the
        rows a reference to a child table computes its values from."""
        assert isinstance(table.rows, PerParent)
        most = np.int64(table.rows.law.most)
        frame = parents.counted(table, parents.row_numbers() * most + positions)
        frame.parent, frame.owner_rows = parents, np.arange(len(positions))
        frame.__dict__["positions"] = positions
        return frame

    def counted(self, table: Table, numbers: npt.NDArray[np.int64]) -> Frame:
        """A frame whose rows are named by ``numbers`` (their keyed draws' counters): the
        rows of a top-level table, or the elements of arrays (row slot x most + i)."""
        frame = Frame.__new__(Frame)
        frame.__dict__.update(self.__dict__)
        frame.__dict__.pop("positions", None)
        frame.table, frame.rows, frame.first_row = table, len(numbers), None
        frame.parent = frame.owner_rows = frame.counts = None
        frame.nulls, frame._values, frame._texts, frame._making = {}, {}, {}, []
        frame.memo = {}
        frame._numbers = numbers
        return frame

    # ------------------------------------------------------------------ columns
    def values(self, name: str) -> Values:
        """The column's values, generated on first use."""
        if name not in self._values:
            column = self.table.column(name)
            if column.generator is None:
                raise PgbulkError(f"column {self.table.name}.{name} has no generator")
            if name in self._making:
                cycle = " -> ".join([*self._making[self._making.index(name) :], name])
                raise PgbulkError(f"table {self.table.name}: columns made from each other: {cycle}")
            self._making.append(name)
            try:
                self._values[name] = column.generator.generate(self, column)
            finally:
                self._making.pop()
        return self._values[name]

    def text(self, name: str) -> Text:
        """The column's values as PostgreSQL prints them, for templates."""
        if name not in self._texts:
            column = self.table.column(name)
            if isinstance(column.generator, FromParent):  # the parent's text, made once per parent
                self._texts[name] = self.parent_text(column.generator.column)
            else:
                self._texts[name] = _as_text(self.values(name), column.type.name)
        return self._texts[name]

    def parent_values(self, name: str) -> Values:
        parent, rows = self._parent()
        return _take(parent.values(name), rows)

    def parent_text(self, name: str) -> Text:
        parent, rows = self._parent()
        return _take_text(parent.text(name), rows)

    def _parent(self) -> tuple[Frame, npt.NDArray[np.intp]]:
        if self.parent is None or self.owner_rows is None:
            raise PgbulkError(f"table {self.table.name} has no parent rows to read from")
        return self.parent, self.owner_rows

    # ------------------------------------------------------------------ numbers
    def row_numbers(self) -> npt.NDArray[np.int64]:
        """The table-wide 0-based index of each row."""
        if self._numbers is not None:
            return self._numbers
        if self.first_row is None:
            raise PgbulkError(
                f"table {self.table.name}: its rows are numbered under their parents; "
                "use {n} or the parent's columns instead of the row number"
            )
        return np.arange(self.first_row, self.first_row + self.rows, dtype=np.int64)

    def parent_row_numbers(self) -> npt.NDArray[np.int64]:
        parent, rows = self._parent()
        return parent.row_numbers()[rows]

    @cached_property
    def positions(self) -> npt.NDArray[np.int64]:
        """n = 0, 1, ... of each row under its parent."""
        if self.counts is None:
            raise PgbulkError(f"table {self.table.name} has no parent: it has no {{n}}")
        return positions_within(self.counts)

    def slots(self) -> U64:
        """A number per row, distinct across the whole table: for values unique by construction."""
        if self.parent is None or self._numbers is not None:
            return self.row_numbers().astype(np.uint64)
        # Once per frame: every keyed draw of a child table is counted by its slots, and
        # each level of parents would be gathered again.
        if "slots" not in self.memo:
            assert isinstance(self.table.rows, PerParent)
            most = np.uint64(self.table.rows.law.most)
            slots = self.parent.slots()[self._parent()[1]] * most
            slots += self.positions.astype(np.uint64)
            self.memo["slots"] = slots
        made: U64 = self.memo["slots"]
        return made

    def number_text(self, field: str) -> Text:
        """``row``, ``number`` or ``n`` of each row, as decimal text."""
        if field == "n":
            return decimal(self.positions)
        rows = self.row_numbers()
        return decimal(rows + 1 if field == "number" else rows)

    # ------------------------------------------------------------------ randomness
    def words(self, key: Key, words: int) -> U64:
        """``words`` random 64-bit words per row, under ``key`` (see pgbulk.generators.base)."""
        if isinstance(key, Stream):
            return raw_u64(self.stream(key.number), words * self.rows)
        return keyed_u64(self.seed, key.key, self._counters(), words)

    def uniforms(self, key: Key) -> npt.NDArray[np.float64]:
        """One uniform double in [0, 1) per row, under ``key``."""
        if isinstance(key, Stream):
            return self.stream(key.number).random(self.rows)
        return unit_interval(keyed_u64(self.seed, key.key, self._counters()))

    def _counters(self) -> npt.NDArray[np.int64]:
        if self.parent is None or self._numbers is not None:
            return self.row_numbers()
        # A child row is named by its slot (its parent's and its n): distinct within the
        # table, and the same whatever the chunk size.
        return self.slots().view(np.int64)

    # ------------------------------------------------------------------ encoding
    def copy_columns(self, *, canonical: bool = False) -> list[copy_format.Column]:
        """The table's columns, in model order, as the COPY encoder takes them.

        ``canonical``: each field exactly as the server's send function returns it once
        stored (what the fingerprint hashes), rather than the cheapest equal form.
        """
        columns = []
        for c in self.table.columns:
            try:
                columns.append(_for_copy(self.values(c.name), c, canonical, self.nulls.get(c.name)))
            except ValueRejected as e:  # the encoder knows the row in this frame only
                raise e.at(
                    table=self.table.name, column=c.name, first_row=self.first_row or 0
                ) from None
        return columns


class Chunk:
    """One unit of a dataset: its top-level rows and everything made under them."""

    def __init__(
        self,
        dataset: Dataset,
        seed: int,
        scale: int,
        unit: Unit,
        shared: dict[Any, Any] | None = None,
    ) -> None:
        self.dataset = dataset
        self.seed = seed
        self.scale = scale
        self.unit = unit
        #: What every unit of (dataset, seed, scale) reads the same: see :attr:`Frame.shared`.
        self.shared: dict[Any, Any] = {} if shared is None else shared
        self._frames: dict[str, Frame] = {}
        root = dataset.table(unit.table)
        self.tables = (root, *dataset.descendants(root.name))

    @property
    def index(self) -> int:
        return self.unit.number

    def stream(self, number: int) -> np.random.Generator:
        return stream(self.seed, self.unit.chunk, number)

    def frame(self, table: str) -> Frame:
        if table not in self._frames:
            t = self.dataset.table(table)
            if t not in self.tables:
                raise KeyError(f"unit {self.unit.number} has no rows of {table}")
            if isinstance(t.rows, PerParent):
                parent = self.frame(t.rows.parent)
                counts = t.rows.law.draw(parent, t.rows.law.key or default_key(t.name, "#rows"))
                owners = np.repeat(np.arange(parent.rows), counts)
                self._frames[table] = Frame(self, t, len(owners), None, parent, owners, counts)
            else:
                self._frames[table] = Frame(self, t, self.unit.rows, self.unit.first_row)
        return self._frames[table]

    def rows(self, table: str) -> int:
        """Rows of ``table`` in this unit (0 for a table the unit has no rows of)."""
        if table not in (t.name for t in self.tables):
            return 0
        return self.frame(table).rows

    def values(self, table: str, column: str) -> Values:
        return self.frame(table).values(column)

    def copy_buffer(self, table: str) -> memoryview:
        """The table's rows of this unit as one binary COPY stream (the model's column order)."""
        return copy_format.encode(self.frame(table).copy_columns())


class Rows:
    """The rows of (dataset, seed, scale): a sequence of chunks, one per unit."""

    def __init__(self, dataset: Dataset, scale: int, *, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = check_seed(seed)
        self.plan = Plan(dataset, scale)
        self.scale = self.plan.scale
        self._shared: dict[Any, Any] = {}

    @property
    def chunks(self) -> int:
        return self.plan.count

    def chunk(self, index: int) -> Chunk:
        return Chunk(self.dataset, self.seed, self.scale, self.plan.unit(index), self._shared)

    def __iter__(self) -> Iterator[Chunk]:
        return (self.chunk(i) for i in range(self.chunks))

    def __len__(self) -> int:
        return self.chunks


def positions_within(counts: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
    """For counts [2, 1, 3]: [0, 1, 0, 0, 1, 2]."""
    c = counts.astype(np.int64)
    total = int(c.sum())
    starts = np.repeat(np.cumsum(c) - c, c)
    return np.arange(total, dtype=np.int64) - starts


def _for_copy(
    values: Values,
    column: Column,
    canonical: bool = False,
    nulls: npt.NDArray[np.bool_] | None = None,
) -> copy_format.Column:
    """Generated text goes to the wire as it is (its bytes are the send format of text and
    of uuid; a NULL is a length of -1); arrays of numbers, times and the like, and Arrow
    arrays, through the type layer, with the column's NULL mask."""
    if isinstance(values, np.ndarray) or is_arrow(values):
        encode = types.encode_canonical if canonical else types.encode
        return encode(column.type, values, nulls=nulls)
    return values


def _take(values: Values, rows: npt.NDArray[Any]) -> Values:
    """The values of some rows (by index), whatever form a generator made them in."""
    if isinstance(values, Text):
        return _take_text(values, rows)
    if isinstance(values, np.ndarray):
        return values[rows]
    if is_arrow(values):
        import pyarrow as pa

        return values.take(pa.array(rows))  # type: ignore[union-attr]
    return _take_text(concat(*values), rows)


def _draws_from_streams(table: Table) -> bool:
    """Whether a column of ``table`` draws from the unit's streams (contacts' legacy keys)."""
    return any(_has_stream(c.generator) for c in table.columns)


def _has_stream(value: object) -> bool:
    if isinstance(value, Stream):
        return True
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is None:
        return isinstance(value, list | tuple) and any(_has_stream(v) for v in value)
    return any(_has_stream(getattr(value, name)) for name in fields)


def _take_text(text: Text, rows: npt.NDArray[np.intp]) -> Text:
    if text.lengths is None:
        return Text(take_rows(text.chars, rows))
    return Text(text.chars[rows], text.lengths[rows])


def _as_text(values: Values, type_name: str) -> Text:
    """Values as PostgreSQL's text output of their type (the types templates use)."""
    if isinstance(values, Text):
        return Text(uuid_text(values.chars)) if type_name == "uuid" else values
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "iu":
            magnitude = decimal(np.abs(values.astype(np.int64)).astype(np.uint64))
            negative = values < 0
            if not negative.any():
                return magnitude
            sign = Text(np.full((len(values), 1), ord("-"), np.uint8), negative.astype(np.int32))
            return concat(sign, magnitude)
        raise PgbulkError(f"a template cannot print a {values.dtype} column yet")
    if is_arrow(values):
        raise PgbulkError(f"a template cannot print a {values.type} column yet")  # type: ignore[union-attr]
    return concat(*values)
