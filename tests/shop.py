"""A second dataset, built in Python the way a user of the library would: the model is generic.

``shop``: customers (one per unit of scale), their orders (1..4 each, a Zipf law) and a
fixed table of 7 stores. Two small generators of its own make numbers and times through
the type layer; NaT times become NULLs. Module-level, so worker processes unpickle it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pgbulk.generators import (
    FromParent,
    Generator,
    Keyed,
    Template,
    Uuid,
    ZipfCount,
    default_key,
)
from pgbulk.generators.identity import UniqueText
from pgbulk.model import (
    Column,
    Dataset,
    Fixed,
    ForeignKey,
    Index,
    PerParent,
    PerScale,
    Table,
    Unique,
)
from pgbulk.types import PgType

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values

START = np.datetime64("2024-01-01T00:00:00", "us")


@dataclass(frozen=True)
class Sequence(Generator):
    """start, start + 1, ...: the table-wide row number (top-level tables)."""

    kind = "test-sequence"
    start: int = 1

    def generate(self, frame: Frame, column: Column) -> Values:
        return frame.row_numbers() + self.start


@dataclass(frozen=True)
class Cents(Generator):
    """Amounts 0.00 .. most, uniform in cents, as float64 for a numeric(p, 2) column."""

    kind = "test-cents"
    most: int = 1_000

    def generate(self, frame: Frame, column: Column) -> Values:
        words = frame.words(default_key(frame.table.name, column.name), 1)
        return (words % np.uint64(self.most * 100 + 1)).astype(np.float64) / 100


@dataclass(frozen=True)
class Moment(Generator):
    """A microsecond timestamp in 2024, NULL (NaT) for one row in ``null_every``."""

    kind = "test-moment"
    null_every: int = 0

    def generate(self, frame: Frame, column: Column) -> Values:
        words = frame.words(Keyed(7), 1)
        out = START + (words % np.uint64(366 * 86_400 * 10**6)).astype("timedelta64[us]")
        if self.null_every:
            out[words % np.uint64(self.null_every) == 0] = np.datetime64("NaT")
        return out


def dataset(chunk_rows: int = 500) -> Dataset:
    stores = Table(
        "stores",
        (
            Column("id", PgType.parse("int4"), Sequence()),
            Column("name", PgType.parse("text"), Template("Store {number}")),
        ),
        Fixed(7),
        primary_key=("id",),
    )
    customers = Table(
        "customers",
        (
            Column("id", PgType.parse("int8"), Sequence(start=1_000)),
            Column("email", PgType.parse("varchar(64)"), Template("c{id}@shop.test")),
            Column("code", PgType.parse("text"), UniqueText("ABCDEFGHJKLMNPQRSTUVWXYZ", 7)),
            Column("joined", PgType.parse("timestamptz"), Moment(null_every=10), nullable=True),
        ),
        PerScale(),
        primary_key=("id",),
        unique=(Unique(("email",)), Unique(("code",))),
    )
    orders = Table(
        "orders",
        (
            Column("id", PgType.parse("uuid"), Uuid(4)),
            Column("customer_id", PgType.parse("int8"), FromParent("id")),
            Column("line", PgType.parse("text"), Template("order {n} of {parent.id}")),
            Column("total", PgType.parse("numeric(12,2)"), Cents()),
            Column("placed", PgType.parse("timestamp"), Moment()),
        ),
        PerParent("customers", ZipfCount(1.5, 4)),
        primary_key=("id",),
        foreign_keys=(ForeignKey(("customer_id",), "customers", on_delete="cascade"),),
        indexes=(Index(("customer_id",)),),
    )
    return Dataset(
        "shop",
        (stores, customers, orders),
        scale_table="customers",
        chunk_rows=chunk_rows,
        definition={"dataset": "shop", "chunk_rows": chunk_rows},
    )


@dataclass(frozen=True)
class Spike(Generator):
    """The row number, except ``value`` at row ``at``: a value the column's type may refuse."""

    kind = "test-spike"
    at: int
    value: int

    def generate(self, frame: Frame, column: Column) -> Values:
        out = frame.row_numbers().copy()
        out[out == self.at] = self.value
        return out


def spiked(at: int, value: int, chunk_rows: int = 500) -> Dataset:
    """One table ``gauges`` with an int2 column that holds ``value`` at row ``at``."""
    gauges = Table(
        "gauges",
        (
            Column("id", PgType.parse("int8"), Sequence()),
            Column("level", PgType.parse("int2"), Spike(at, value)),
        ),
        PerScale(),
        primary_key=("id",),
    )
    return Dataset("gauges", (gauges,), "gauges", chunk_rows, {"dataset": "gauges"})
