"""Laws fitted from a database's statistics (``pgbulk spec import``): a column's most common
values with their frequencies, then an equi-depth histogram for the rest; text by its
most common values, then synthetic tokens placed in the histogram's buckets with a width
law; a reference distinct among the children of one parent.

Every draw is keyed (a function of seed, table, column and row) and vectorised: a
cumulative table searched with ``numpy.searchsorted``, a bucket picked by the uniform's
integer part and a value placed in it by its fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from pgbulk.errors import ParameterError
from pgbulk.generate import Text, keyed_u64, unit_interval
from pgbulk.generators.numbers import (
    INTEGERS,
    NUMBERS,
    TEXTS,
    Drawn,
    _number,
    draw_discrete,
    vocabulary_text,
)
from pgbulk.generators.time import INSTANTS, instant
from pgbulk.model import PerParent

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table

Order = Literal["random", "increasing", "decreasing"]
_SPREAD = 2_654_435_761  # a prime: coprime with any smaller number of tokens
_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def slot_space(dataset: Dataset, table: Table, scale: int) -> float:
    """How many slots a table's rows are named in: its rows when top-level, the parent's
    slots x the law's most children under a parent (what ``Frame.slots`` spans)."""
    if isinstance(table.rows, PerParent):
        parent = dataset.table(table.rows.parent)
        return slot_space(dataset, parent, scale) * table.rows.law.most
    return float(dataset.root_rows(table, scale))


def expected_rows(dataset: Dataset, table: Table, scale: int) -> float:
    """The rows a table has on average at ``scale`` (children: parent rows x the law's mean)."""
    if isinstance(table.rows, PerParent):
        parent = dataset.table(table.rows.parent)
        return expected_rows(dataset, parent, scale) * table.rows.law.mean
    return float(dataset.root_rows(table, scale))


def spread(
    frame: Frame, distinct: int, share: float, key: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Each row's value index in ``0..space-1``, such that the rows (a share ``share`` of
    them take it) hold about ``distinct`` indices, equally often; and ``space``.

    In a top-level table, a multiplicative hash of the row number modulo ``distinct``:
    exactly ``distinct`` indices. In a child table (slots have gaps), the slot itself when
    nearly every row is distinct, else a keyed hash modulo the ``space`` at which as many
    rows drawn uniformly see ``distinct`` indices: ``space (1 - e^(-rows/space)) = distinct``.
    """
    slots = frame.slots()
    if frame.parent is None:
        d = max(1, distinct)
        k = (slots % np.uint64(d)) * np.uint64(_SPREAD % d) % np.uint64(d)
        return k.astype(np.int64), d
    rows = expected_rows(frame.dataset, frame.table, frame.scale) * share
    if distinct >= 0.95 * rows:
        space = int(slot_space(frame.dataset, frame.table, frame.scale))
        return slots.astype(np.int64), max(1, space)
    lo, hi = float(distinct), float(distinct) * 1e6
    for _ in range(100):  # bisection: seen(space) grows with space
        mid = (lo + hi) / 2
        if mid * -math.expm1(-rows / mid) < distinct:
            lo = mid
        else:
            hi = mid
    space = max(1, round(hi))
    return (keyed_u64(frame.seed, key ^ 0xD15, slots.astype(np.int64)) % np.uint64(space)).astype(
        np.int64
    ), space


def _distinct_total(distinct: float, frame: Frame) -> float:
    if distinct > 0:
        return distinct
    return -distinct * expected_rows(frame.dataset, frame.table, frame.scale)


def _weights(name: str, weights: tuple[float, ...], values: tuple[Any, ...]) -> float:
    if len(weights) != len(values) or any(_number(name, w) < 0 for w in weights):
        raise ParameterError(name, list(weights), f"must be {len(values)} fractions >= 0")
    total = float(sum(weights))
    if total > 1 + 1e-4:
        raise ParameterError(name, total, "sum to at most 1 (fractions of the non-NULL rows)")
    return total


def _order(name: str, order: str) -> None:
    if order not in ("random", "increasing", "decreasing"):
        raise ParameterError(name, order, "must be random, increasing or decreasing")


@dataclass(frozen=True)
class Empirical(Drawn):
    """The most common ``values`` with their frequencies ``weights`` (fractions of the
    non-NULL rows), then for the remaining mass an equi-depth histogram: a bucket between
    two successive ``bounds`` equally likely, the value uniform within it (integers and
    dates in whole steps); with ``distinct`` (a count, or < 0 a fraction of the rows),
    that many values (less the common ones) at the histogram's quantiles, equally often.
    ``order``: ``increasing`` / ``decreasing`` places the values by the row (a column
    correlated with the physical order) instead of drawing them."""

    kind = "empirical"
    types = NUMBERS | INSTANTS
    values: tuple[Any, ...] = ()
    weights: tuple[float, ...] = ()
    bounds: tuple[Any, ...] = ()
    order: Order = "random"
    distinct: float = 0.0
    key: int | None = None

    def __post_init__(self) -> None:
        for name in ("values", "weights", "bounds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        mass = _weights("empirical weights", self.weights, self.values)
        if not self.values and len(self.bounds) < 2:
            raise ParameterError(
                "empirical",
                {"values": [], "bounds": list(self.bounds)},
                "needs values or two bounds",
            )
        if len(self.bounds) == 1:
            raise ParameterError("empirical bounds", list(self.bounds), "needs at least two bounds")
        if not self.bounds and mass <= 0:
            raise ParameterError("empirical weights", list(self.weights), "must not all be 0")
        _order("empirical order", self.order)
        if _number("empirical distinct", self.distinct) < -1:
            raise ParameterError("empirical distinct", self.distinct, "must be >= -1")
        kinds = {isinstance(v, str) for v in (*self.values, *self.bounds)}
        if len(kinds) > 1 or any(isinstance(v, bool) for v in (*self.values, *self.bounds)):
            raise ParameterError(
                "empirical",
                list(self.values[:3]),
                "values and bounds must be all numbers or all dates",
            )

    def _numbers(self, column: Column, items: tuple[Any, ...]) -> npt.NDArray[np.float64]:
        """Values and bounds as numbers: instants as days (date) or microseconds."""
        if column.type.name in INSTANTS:
            us = np.array([instant("empirical", v) for v in items], dtype="datetime64[us]")
            if column.type.name == "date":
                return us.astype("datetime64[D]").astype(np.int64).astype(np.float64)
            return us.astype(np.int64).astype(np.float64)
        if any(isinstance(v, str) for v in items):
            raise ParameterError("empirical", items[0], f"is a date: {column.name} is a number")
        return np.asarray(items, dtype=np.float64)

    def quantiles(self, frame: Frame, column: Column) -> npt.NDArray[np.float64]:
        if self.order == "random":
            return self.uniforms(frame, column)
        space = slot_space(frame.dataset, frame.table, frame.scale)
        u = (frame.slots().astype(np.float64) + 0.5) / max(space, 1.0)
        u = np.clip(u, 0.0, np.nextafter(1.0, 0.0))
        return 1.0 - u if self.order == "decreasing" else u

    def generate(self, frame: Frame, column: Column) -> Values:
        u = self.quantiles(frame, column)
        discrete = column.type.name in INTEGERS - {"numeric"} or column.type.name == "date"
        mass = float(sum(self.weights)) if self.bounds else 1.0
        out = np.empty(u.shape[0], dtype=np.float64)
        common = u < mass
        if self.values:
            values = self._numbers(column, self.values)
            weights = np.asarray(self.weights, dtype=np.float64)
            picked = draw_discrete(
                np.arange(len(values), dtype=np.int64), weights / weights.sum(), u[common] / mass
            )
            out[common] = values[picked]
        if self.bounds:
            bounds = self._numbers(column, self.bounds)
            v = (u[~common] - mass) / max(1.0 - mass, 1e-300) * (len(bounds) - 1)
            if self.distinct and self.order == "random":  # as many values as the source
                others = max(1, round(_distinct_total(self.distinct, frame)) - len(self.values))
                k, space = spread(frame, others, 1.0 - mass, self.keyed(frame, column).key)
                v = (k[~common] + 0.5) / space * (len(bounds) - 1)
            bucket = np.clip(np.floor(v).astype(np.int64), 0, len(bounds) - 2)
            frac = np.clip(v - bucket, 0.0, 1.0)
            lo, hi = bounds[bucket], bounds[bucket + 1]
            if discrete:  # whole steps: lo..hi both included
                out[~common] = np.minimum(np.floor(lo + frac * (hi - lo + 1)), hi)
            else:
                out[~common] = lo + frac * (hi - lo)
        if column.type.name == "date":
            return out.astype(np.int64).astype("datetime64[D]")
        if column.type.name in INSTANTS:
            return out.astype(np.int64).astype("datetime64[us]")
        if discrete:
            return out.astype(np.int64)
        return out


def _code_width(distinct: int) -> int:
    return max(1, math.ceil(math.log(max(distinct, 2)) / math.log(26)))


def base26(k: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """``width`` lowercase letters per integer, most significant first (sorts as k)."""
    out = np.empty((k.shape[0], width), dtype=np.uint8)
    rest = k.astype(np.int64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = _ALPHABET[rest % 26]
        rest //= 26
    return out


@dataclass(frozen=True)
class EmpiricalText(Drawn):
    """The most common ``values`` with their frequencies ``weights`` (fractions of the
    non-NULL rows); the rest are ``distinct`` other values (< 0: that fraction of the
    table's rows, as ``pg_stats.n_distinct``), each a token as often as the others: token k sits
    in bucket k x buckets / distinct of the histogram ``bounds``: it is that bound followed
    by k in letters (so distinct tokens differ, sort right after their bound, and keep its
    words and prefixes); its length is the bound's (the bounds are a sample of the values:
    their lengths are the width law) plus k's letters. Without bounds, tokens are ``x``s
    then k, their lengths drawn from ``lengths``, equally likely."""

    kind = "empirical_text"
    types = TEXTS
    values: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    bounds: tuple[str, ...] = ()
    distinct: float = -1.0
    lengths: tuple[int, ...] = (8,)
    key: int | None = None

    def __post_init__(self) -> None:
        for name in ("values", "weights", "bounds", "lengths"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        mass = _weights("empirical_text weights", self.weights, self.values)
        if not all(isinstance(v, str) for v in (*self.values, *self.bounds)):
            raise ParameterError("empirical_text", list(self.values[:3]), "values must be strings")
        if not self.lengths or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 100_000
            for n in self.lengths
        ):
            raise ParameterError(
                "empirical_text lengths", list(self.lengths), "must be integers in 0..100000"
            )
        d = _number("empirical_text distinct", self.distinct)
        if d == 0 or d < -1:
            raise ParameterError(
                "empirical_text distinct", d, "must be >= 1, or a fraction in -1..0 of the rows"
            )
        if mass >= 1 - 1e-9 and not self.values:
            raise ParameterError("empirical_text weights", list(self.weights), "leave no rows")

    def others(self, frame: Frame) -> int:
        """How many distinct values besides the most common ones."""
        return max(1, round(_distinct_total(self.distinct, frame)) - len(self.values))

    def generate(self, frame: Frame, column: Column) -> Values:
        key = self.keyed(frame, column)
        u = frame.uniforms(key)
        mass = float(sum(self.weights))
        if mass >= 1 - 1e-9:  # the most common values are all there is
            w = np.asarray(self.weights, dtype=np.float64)
            return vocabulary_text(
                list(self.values),
                draw_discrete(np.arange(len(w), dtype=np.int64), w / w.sum(), u),
            )
        # Not drawn: the rows spread over the tokens (a draw would leave 1/e of them unseen).
        k, distinct = spread(frame, self.others(frame), 1.0 - mass, key.key)
        text = self._tokens(frame.seed, key.key, k, distinct)
        if not self.values or mass <= 0:
            return text
        common = u < mass
        w = np.asarray(self.weights, dtype=np.float64)
        picked = draw_discrete(np.arange(len(w), dtype=np.int64), w / mass, u[common] / mass)
        vocab = vocabulary_text(list(self.values), picked)
        width = max(text.width, vocab.width)
        chars = np.zeros((u.shape[0], width), dtype=np.uint8)
        lengths = text.row_lengths().copy()
        chars[:, : text.width] = text.chars
        chars[common] = 0
        chars[common, : vocab.width] = vocab.chars
        lengths[common] = vocab.row_lengths()
        return Text(chars, lengths)

    def _tokens(self, seed: int, key: int, k: npt.NDArray[np.int64], distinct: int) -> Text:
        width = _code_width(distinct)
        lengths = np.asarray(self.lengths, dtype=np.int64)
        bounds = [b.encode() for b in self.bounds] or [b""]  # whole: no character is cut
        pad = max(int(lengths.max()), max(len(b) for b in bounds), 1)
        matrix = np.full((len(bounds), pad), ord("x"), dtype=np.uint8)
        for i, b in enumerate(bounds):  # once per bound, not per row
            matrix[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        buckets = max(len(bounds) - 1, 1)
        bucket = np.minimum(k * buckets // distinct, len(bounds) - 1)
        if self.bounds:  # the bounds are a sample of the values: theirs are the widths
            at = np.array([len(b) for b in bounds], dtype=np.int64)[bucket]  # k after it
            total = at + width
        else:
            pick = unit_interval(keyed_u64(seed, key ^ 0x7E47, k))
            target = lengths[np.minimum((pick * len(lengths)).astype(np.int64), len(lengths) - 1)]
            at = np.maximum(target - width, 0)
            total = at + width
        cols = np.arange(int(total.max()) if k.size else width)
        chars = matrix[bucket[:, None], np.minimum(cols, pad - 1)[None, :]]
        chars[cols[None, :] >= total[:, None]] = 0
        rows = np.repeat(np.arange(k.shape[0]), width)
        where = (at[:, None] + np.arange(width)[None, :]).ravel()
        chars[rows, where] = base26(k, width).ravel()
        return Text(chars, total.astype(np.int32))


@dataclass(frozen=True)
class SiblingRef(Drawn):
    """The ``column`` of a row of top-level ``table``, distinct among the rows of one parent:
    row ``(h(parent) + n x step) mod rows``, h a keyed hash of the parent (``spread =
    "even"``: the parent's slot, so that each target row is referenced as often) and step
    the table's rows // the law's most children. A composite key (partsupp's part and
    supplier) stays unique by construction."""

    kind = "sibling_ref"
    types = frozenset()  # any: the referenced column's type
    table: str = ""
    column: str = ""
    spread: Literal["keyed", "even"] = "keyed"
    key: int | None = None

    def __post_init__(self) -> None:
        if not self.table:
            raise ParameterError("sibling_ref table", self.table, "must name the referenced table")
        if self.spread not in ("keyed", "even"):
            raise ParameterError("sibling_ref spread", self.spread, "must be keyed or even")

    def generate(self, frame: Frame, column: Column) -> Values:
        from pgbulk.errors import PgbulkError

        if not isinstance(frame.table.rows, PerParent) or frame.parent is None:
            raise PgbulkError(
                f"{frame.table.name}.{column.name}: sibling_ref needs a table made under a parent"
            )
        target = frame.dataset.table(self.table)
        n = frame.dataset.root_rows(target, frame.scale)
        most = frame.table.rows.law.most
        if most > n:
            raise ParameterError(
                f"{frame.table.name}.{column.name}",
                most,
                f"children per parent exceed the {n:,} rows of {self.table}: they cannot differ",
            )
        owners = frame.parent.slots()[frame.owner_rows]
        if self.spread == "even":  # every target row referenced as often
            h = owners.astype(np.uint64)
        else:
            h = keyed_u64(frame.seed, self.keyed(frame, column).key, owners.astype(np.int64))
        step = max(1, n // most)
        rows = (h % np.uint64(n)).astype(np.int64) + frame.positions * step
        return frame.referenced(target, rows % n, self.target_column(frame.dataset))

    def target_column(self, dataset: Dataset) -> str:
        target = dataset.table(self.table)
        return self.column or (
            target.primary_key[0] if target.primary_key else target.columns[0].name
        )


@dataclass(frozen=True)
class ChildRef(Drawn):
    """The ``column`` of a row of ``table``, a table made under a top-level parent: a parent
    row uniformly among those with children, then one of its children uniformly. The row's
    value is recomputed from (parent row, n), never read. Columns with the same ``key``
    point to the same row: a composite foreign key (lineitem's part and supplier to
    partsupp) is one ``child_ref`` per column, all with one key."""

    kind = "child_ref"
    types = frozenset()  # any: the referenced column's type
    table: str = ""
    column: str = ""
    key: int | None = None

    #: Rounds of redrawing a parent that has no children before giving up.
    ROUNDS: ClassVar[int] = 64

    def __post_init__(self) -> None:
        if not self.table or not self.column:
            raise ParameterError("child_ref", (self.table, self.column), "needs table and column")

    def generate(self, frame: Frame, column: Column) -> Values:
        from pgbulk.errors import PgbulkError
        from pgbulk.generators.base import default_key as law_key

        target = frame.dataset.table(self.table)
        if not isinstance(target.rows, PerParent):
            raise PgbulkError(f"{frame.table.name}.{column.name}: child_ref needs a child table")
        law = target.rows.law
        parent = frame.dataset.table(target.rows.parent)
        n_parents = frame.dataset.root_rows(parent, frame.scale)
        key = self.keyed(frame, column).key
        rows = np.zeros(frame.rows, dtype=np.int64)
        counts = np.zeros(frame.rows, dtype=np.int64)
        todo = np.arange(frame.rows)
        counters = frame.slots().astype(np.int64)
        for r in range(self.ROUNDS):
            u = unit_interval(keyed_u64(frame.seed, key + r, counters[todo]))
            rows[todo] = np.minimum(np.floor(u * n_parents).astype(np.int64), n_parents - 1)
            parents = frame.at_rows(parent, rows[todo])
            counts[todo] = law.draw(parents, law.key or law_key(target.name, "#rows"))
            todo = todo[counts[todo] == 0]
            if not todo.size:
                break
        else:
            raise PgbulkError(
                f"{frame.table.name}.{column.name}: the {parent.name} rows drawn have no {self.table} rows"
            )
        v = unit_interval(keyed_u64(frame.seed, key ^ 0x5EED, counters))
        positions = np.minimum(np.floor(v * counts).astype(np.int64), counts - 1)
        parents = frame.at_rows(parent, rows)
        return frame.at_children(target, parents, positions).values(self.column)
