"""What every generator is: a pure function of (seed, table, column, rows) that returns an array.

A generator fills one column of one table. It is given the :class:`~pgbulk.chunks.Frame`
of the rows to fill: how many there are, where they start in the table, their parent
rows, and the other columns of the same rows (computed on demand, so a column may be
made from others). What it returns is the column's values in a form the type layer
encodes: a numpy array, a :class:`~pgbulk.generate.Text` or a sequence of text parts.

Randomness comes from the frame, keyed by the generator's :class:`Key`:

- ``Stream(n)``: the n-th PCG64 stream of the unit (``SeedSequence(seed, spawn_key=(unit
  chunk, n))``), drawn row after row. This is how the contacts dataset has always been
  made, so its rows stay the same; a value is recomputed from its row index by jumping
  the stream ahead (``advance``), and the chunk size is part of the dataset.
- ``Keyed(k)``: counter-based draws, a function of (seed, k, row) alone
  (:func:`pgbulk.generate.keyed_u64`): any row's value in any order, whatever the chunk
  size. The default for every generator of a spec.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table


@dataclass(frozen=True)
class Stream:
    """The unit's PCG64 stream number ``number``, drawn row after row."""

    number: int


@dataclass(frozen=True)
class Keyed:
    """Counter-based draws under ``key``: each row's draws depend on its number alone."""

    key: int


Key = Stream | Keyed


#: The most rows of a top-level table whose columns that references read are made once,
#: whole, and gathered from (:meth:`pgbulk.chunks.Frame.referenced`).
WHOLE_COLUMN_ROWS = 1 << 20


def default_key(table: str, column: str) -> Keyed:
    """The key of a column's draws when its spec gives none: from its name, not its position."""
    return Keyed(zlib.crc32(f"{table}.{column}".encode()))


def unique_slots(frame: Frame, column: Column, domain: int, hint: str) -> npt.NDArray[np.uint64]:
    """The rows' slots, checked to fit a domain of ``domain`` distinct values: what a
    generator unique by construction permutes. ``hint`` says how to make room."""
    from pgbulk.errors import ParameterError

    slots = frame.slots()
    if slots.size and int(slots.max()) >= domain:
        raise ParameterError(
            f"{frame.table.name}.{column.name}",
            domain,
            f"has {domain:,} distinct values: too few for these rows; {hint}",
        )
    return slots


@dataclass(frozen=True)
class Rule:
    """A property every value of a column has, as SQL over the row (for ``pgbulk verify``).

    ``sql`` is true for a conforming row whose columns are not NULL; ``{rows}`` in it
    stands for the table's row count, which the verifier fills in. ``values``: (name,
    SQL) of values computed once per row before the rule, in order, each able to use the
    ones before it; ``sql`` (and the generator's ``position_sql``) name them instead of
    repeating their SQL (see :func:`with_values`).
    """

    sql: str
    description: str
    values: tuple[tuple[str, str], ...] = ()


def with_values(source: str, values: Iterable[tuple[str, str]]) -> str:
    """``source`` (a table, quoted) with each row's ``values`` (name, SQL) as more columns.

    One subquery per value, so that a value can use the ones before it. ``OFFSET 0``
    keeps the planner from pulling a subquery up, which would write its value out again
    in every expression that names it (a template's cut was computed three times per
    row): each value is computed once per row, below them. The price: no parallel plan
    for such a scan.
    """
    query = source
    for name, value in values:
        query = f"(SELECT *, {value} AS {name} FROM {query} AS {source} OFFSET 0)"
    return query if query == source else f"{query} AS {source}"


def ascii_chars_sql(column_sql: str, alphabet: str, shortest: int, longest: int) -> str:
    """SQL true when the text is ``shortest..longest`` characters of an ASCII ``alphabet``.

    Trimming the alphabet's bytes off the value's UTF-8 bytes leaves nothing exactly when
    every character is one of them; a regular expression tested the same at three times
    the cost (2M phone numbers: 1.65 s against 0.57 s).
    """
    assert alphabet.isascii()
    size = (
        f"octet_length({column_sql}) = {shortest}"
        if shortest == longest
        else f"octet_length({column_sql}) BETWEEN {shortest} AND {longest}"
    )
    chars = alphabet.encode().hex()
    return (
        f"({size} AND ltrim(convert_to({column_sql}, 'UTF8'), decode('{chars}', 'hex'))"
        " = ''::bytea)"
    )


class Generator(ABC):
    """Fills one column. Subclasses are frozen dataclasses: a generator is plain data."""

    #: The generator's name in spec files.
    kind: ClassVar[str]

    @abstractmethod
    def generate(self, frame: Frame, column: Column) -> Values:
        """The column's values for the rows of ``frame``."""

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule | None:
        """What ``pgbulk verify`` can check of each value, or None."""
        return None

    def position_sql(self, column: Column, table: Table, dataset: Dataset) -> str | None:
        """SQL giving each row's position under its parent (n) read from its value, if the
        value shows it (NULL when malformed): verify then checks that each parent's
        children are numbered 0..k-1."""
        return None

    def params(self) -> dict[str, Any]:
        """The generator's parameters, for the ledger and spec files."""
        from dataclasses import asdict, is_dataclass

        return asdict(self) if is_dataclass(self) else {}


class CountLaw(ABC):
    """How many child rows each parent row has: a law on 0, 1, 2, ...

    ``key`` (None: from the child table's name) keys its draws.
    """

    kind: ClassVar[str]
    key: Key | None

    @abstractmethod
    def draw(self, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
        """One count per row of ``frame`` (the parent rows), drawn under ``key``."""

    @abstractmethod
    def pmf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The support and its probabilities: what verify tests the counts against."""

    def params(self) -> dict[str, Any]:
        """The law's parameters, for messages and spec files."""
        from dataclasses import asdict, is_dataclass

        return asdict(self) if is_dataclass(self) else {}

    @property
    def most(self) -> int:
        """The largest count the law can draw."""
        support, _ = self.pmf()
        return int(support[-1])

    @property
    def mean(self) -> float:
        support, p = self.pmf()
        return float(support @ p)
