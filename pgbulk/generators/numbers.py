"""Numbers drawn from a law: sequences, uniform, normal, lognormal, exponential, Poisson,
bounded Zipf, categorical and boolean columns.

Every draw is keyed (``key``; None: :func:`~pgbulk.generators.base.default_key` of the
table and column), so a row's value is a function of (seed, table, column, row) alone.
Continuous laws invert their CDF at keyed uniforms; discrete laws search a cumulative
table (:func:`pgbulk.generate.search_cdf`): no Python loop per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from pgbulk.ddl import quote
from pgbulk.errors import ParameterError
from pgbulk.generate import Chosen, Text, search_cdf, unit_interval
from pgbulk.generators.base import Generator, Keyed, Rule, default_key

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table

INTEGERS = frozenset({"int2", "int4", "int8", "numeric"})
FLOATS = frozenset({"float4", "float8", "numeric"})
NUMBERS = INTEGERS | FLOATS
TEXTS = frozenset({"text", "varchar", "bpchar"})
#: Laws whose cumulative table is searched exactly up to this many values; beyond, a
#: bounded Zipf is drawn by inverting its continuous approximation.
EXACT_SUPPORT = 1 << 20


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(name, value, "must be a finite number")
    return float(value)


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(name, value, "must be an integer")
    return value


class Drawn(Generator):
    """A generator with keyed draws; ``types``: the base types it can fill."""

    types: ClassVar[frozenset[str]] = NUMBERS
    key: int | None

    def keyed(self, frame: Frame, column: Column) -> Keyed:
        return (
            Keyed(self.key) if self.key is not None else default_key(frame.table.name, column.name)
        )

    def uniforms(self, frame: Frame, column: Column) -> npt.NDArray[np.float64]:
        return frame.uniforms(self.keyed(frame, column))

    def unique_rows(self) -> int | None:
        """How many rows the generator can make all distinct (None: it cannot promise)."""
        return None


def _range_rule(column: Column, low: float, high: float) -> Rule:
    c = quote(column.name)
    return Rule(f"{c} BETWEEN {low!r} AND {high!r}", f"{column.name} is in {low}..{high}")


@dataclass(frozen=True)
class Sequence(Drawn):
    """``start``, ``start + step``, ...: by the row's number in a top-level table. In a child
    table, by its slot (parent slot x the law's most children + n): distinct, increasing
    in load order, with gaps."""

    kind = "sequence"
    types = INTEGERS
    start: int = 1
    step: int = 1
    every: int = 1
    key: int | None = None

    def __post_init__(self) -> None:
        _integer("sequence start", self.start)
        if _integer("sequence step", self.step) == 0:
            raise ParameterError("sequence step", self.step, "must not be 0")
        if _integer("sequence every", self.every) < 1:
            raise ParameterError("sequence every", self.every, "must be at least 1")

    def generate(self, frame: Frame, column: Column) -> Values:
        slots = frame.slots().astype(np.int64)
        if self.every > 1:
            slots //= np.int64(self.every)
        return slots * np.int64(self.step) + np.int64(self.start)

    def unique_rows(self) -> int | None:
        return 2**62 if self.every == 1 else None

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule | None:
        if table.parent is not None:
            return None
        c = quote(column.name)
        last = f"({{rows}} - 1) / {self.every}"
        return Rule(
            f"({c} - ({self.start})) % ({self.step}) = 0"
            f" AND ({c} - ({self.start})) / ({self.step}) BETWEEN 0 AND {last}",
            f"{column.name} is {self.start} + {self.step} x (row / {self.every})",
        )


@dataclass(frozen=True)
class Position(Drawn):
    """The row's position under its parent, ``start + n`` (order lines 1, 2, 3, ...):
    with the parent's key, a composite key unique by construction."""

    kind = "position"
    types = INTEGERS
    start: int = 1
    key: int | None = None

    def generate(self, frame: Frame, column: Column) -> Values:
        return frame.positions + np.int64(_integer("position start", self.start))

    def position_sql(self, column: Column, table: Table, dataset: Dataset) -> str:
        return f"{quote(column.name)} - ({self.start})"


@dataclass(frozen=True)
class Constant(Drawn):
    """The same value on every row: a string, a number, a boolean, or NULL (no ``value``).
    Into ``char(n)``, the string is padded with spaces to n, as the server stores it."""

    kind = "constant"
    types = TEXTS | NUMBERS | frozenset({"bool", "json", "jsonb"})
    value: str | int | float | bool | None = None
    key: int | None = None

    def generate(self, frame: Frame, column: Column) -> Values:
        if self.value is None:  # Arrow's null type: NULL in any PostgreSQL type
            import pyarrow as pa

            frame.nulls[column.name] = np.ones(frame.rows, dtype=np.bool_)
            return pa.nulls(frame.rows)
        if isinstance(self.value, str):
            text = self.value
            if column.type.name == "bpchar" and column.type.modifiers:
                text = text.ljust(column.type.modifiers[0])
            data = np.frombuffer(text.encode(), dtype=np.uint8)
            return Text(np.broadcast_to(data, (frame.rows, len(data))).copy())
        return np.full(frame.rows, self.value)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule | None:
        if self.value is None or isinstance(self.value, str):
            return None
        return Rule(f"{quote(column.name)} = {self.value!r}", f"{column.name} is {self.value}")


@dataclass(frozen=True)
class UniformInt(Drawn):
    """Integers uniform in ``low..high`` (both included)."""

    kind = "uniform_int"
    types = INTEGERS
    low: int = 0
    high: int = 100
    key: int | None = None

    def __post_init__(self) -> None:
        if _integer("uniform_int high", self.high) < _integer("uniform_int low", self.low):
            raise ParameterError("uniform_int high", self.high, f"must be >= low ({self.low})")
        if self.high - self.low >= 2**53:
            raise ParameterError("uniform_int", (self.low, self.high), "spans at most 2**53 values")

    def generate(self, frame: Frame, column: Column) -> Values:
        span = self.high - self.low + 1
        return np.floor(self.uniforms(frame, column) * span).astype(np.int64) + self.low

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return _range_rule(column, self.low, self.high)


@dataclass(frozen=True)
class UniformFloat(Drawn):
    """Reals uniform in [``low``, ``high``); into numeric(p, s), rounded to s digits."""

    kind = "uniform"
    types = FLOATS
    low: float = 0.0
    high: float = 1.0
    key: int | None = None

    def __post_init__(self) -> None:
        if _number("uniform high", self.high) <= _number("uniform low", self.low):
            raise ParameterError("uniform high", self.high, f"must be > low ({self.low})")

    def generate(self, frame: Frame, column: Column) -> Values:
        return self.low + self.uniforms(frame, column) * (self.high - self.low)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return _range_rule(column, self.low, self.high)


def _normal(frame: Frame, key: Keyed) -> npt.NDArray[np.float64]:
    """Standard normal draws, Box-Muller on two keyed uniforms per row."""
    words = frame.words(key, 2).reshape(-1, 2)
    u1 = 1.0 - unit_interval(words[:, 0])  # (0, 1]: log is finite
    u2 = unit_interval(words[:, 1])
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@dataclass(frozen=True)
class Normal(Drawn):
    """Normal law N(``mean``, ``sd``²), optionally clipped to [``low``, ``high``]."""

    kind = "normal"
    types = FLOATS | INTEGERS
    mean: float = 0.0
    sd: float = 1.0
    low: float | None = None
    high: float | None = None
    key: int | None = None

    def __post_init__(self) -> None:
        _number("normal mean", self.mean)
        if _number("normal sd", self.sd) <= 0:
            raise ParameterError("normal sd", self.sd, "must be > 0")

    def generate(self, frame: Frame, column: Column) -> Values:
        x = self.mean + self.sd * _normal(frame, self.keyed(frame, column))
        if self.low is not None or self.high is not None:
            x = np.clip(x, self.low, self.high)
        return _rounded(x, column)


def _rounded(x: npt.NDArray[np.float64], column: Column) -> Values:
    return np.rint(x).astype(np.int64) if column.type.name in INTEGERS - {"numeric"} else x


@dataclass(frozen=True)
class LogNormal(Drawn):
    """exp(N(``mu``, ``sigma``²)): prices, sizes, durations."""

    kind = "lognormal"
    types = FLOATS | INTEGERS
    mu: float = 0.0
    sigma: float = 1.0
    key: int | None = None

    def __post_init__(self) -> None:
        _number("lognormal mu", self.mu)
        if _number("lognormal sigma", self.sigma) <= 0:
            raise ParameterError("lognormal sigma", self.sigma, "must be > 0")

    def generate(self, frame: Frame, column: Column) -> Values:
        return _rounded(
            np.exp(self.mu + self.sigma * _normal(frame, self.keyed(frame, column))), column
        )

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return Rule(f"{quote(column.name)} >= 0", f"{column.name} is not negative")


@dataclass(frozen=True)
class Exponential(Drawn):
    """Exponential law of mean ``mean`` (waiting times)."""

    kind = "exponential"
    types = FLOATS | INTEGERS
    mean: float = 1.0
    key: int | None = None

    def __post_init__(self) -> None:
        if _number("exponential mean", self.mean) <= 0:
            raise ParameterError("exponential mean", self.mean, "must be > 0")

    def generate(self, frame: Frame, column: Column) -> Values:
        return _rounded(-self.mean * np.log1p(-self.uniforms(frame, column)), column)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return Rule(f"{quote(column.name)} >= 0", f"{column.name} is not negative")


# ---------------------------------------------------------------------- discrete laws


def draw_discrete(
    support: npt.NDArray[np.int64], pmf: npt.NDArray[np.float64], u: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """support[k] with probability pmf[k], one uniform each (inverse CDF)."""
    cdf = np.cumsum(pmf)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return support[search_cdf(cdf, u)]


@lru_cache(maxsize=32)
def poisson_pmf(mean: float, most: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Poisson(mean) on 0..most, the tail beyond ``most`` redrawn (renormalised)."""
    k = np.arange(most + 1, dtype=np.int64)
    logs = k * math.log(mean) - mean - np.cumsum(np.log(np.maximum(k, 1)))
    p = np.exp(logs)
    return k, p / p.sum()


def poisson_most(mean: float) -> int:
    """Where a Poisson(mean) tail is below 1e-12: the support drawn exactly."""
    return int(mean + 12 * math.sqrt(mean) + 20)


@lru_cache(maxsize=32)
def zipf_pmf(a: float, n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    k = np.arange(1, n + 1, dtype=np.int64)
    p = k.astype(np.float64) ** -a
    return k, p / p.sum()


def zipf_ranks(a: float, n: int, u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Ranks 1..n with P(k) proportional to k^-a: exact up to EXACT_SUPPORT values,
    beyond by inverting the continuous law on [0.5, n + 0.5) (rank = rounded)."""
    if n <= EXACT_SUPPORT:
        return draw_discrete(*zipf_pmf(a, n), u)
    lo, hi = 0.5, n + 0.5
    if abs(a - 1.0) < 1e-12:
        x = lo * (hi / lo) ** u
    else:
        b = 1.0 - a
        x = (lo**b + u * (hi**b - lo**b)) ** (1.0 / b)
    return np.clip(np.rint(x), 1, n).astype(np.int64)


@dataclass(frozen=True)
class Poisson(Drawn):
    """Poisson counts of mean ``mean`` (0, 1, 2, ...)."""

    kind = "poisson"
    types = INTEGERS
    mean: float = 1.0
    key: int | None = None

    def __post_init__(self) -> None:
        if not 0 < _number("poisson mean", self.mean) <= 1e6:
            raise ParameterError("poisson mean", self.mean, "must be in (0, 1e6]")

    def generate(self, frame: Frame, column: Column) -> Values:
        return draw_discrete(
            *poisson_pmf(self.mean, poisson_most(self.mean)), self.uniforms(frame, column)
        )

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return Rule(f"{quote(column.name)} >= 0", f"{column.name} is not negative")


@dataclass(frozen=True)
class Zipf(Drawn):
    """Ranks ``1..n`` with P(k) proportional to k^-``a`` (bounded Zipf; any a > 0)."""

    kind = "zipf"
    types = INTEGERS
    a: float = 1.1
    n: int = 100
    key: int | None = None

    def __post_init__(self) -> None:
        if _number("zipf a", self.a) <= 0:
            raise ParameterError("zipf a", self.a, "must be > 0")
        if not 1 <= _integer("zipf n", self.n) <= 2**53:
            raise ParameterError("zipf n", self.n, "must be in 1..2**53")

    def generate(self, frame: Frame, column: Column) -> Values:
        return zipf_ranks(self.a, self.n, self.uniforms(frame, column))

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return _range_rule(column, 1, self.n)


@dataclass(frozen=True)
class Categorical(Drawn):
    """One of ``values`` (strings or numbers) with probabilities proportional to ``weights``
    (default: equal)."""

    kind = "categorical"
    types = TEXTS | NUMBERS
    values: tuple[Any, ...] = ()
    weights: tuple[float, ...] = ()
    key: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "weights", tuple(self.weights))
        if not self.values:
            raise ParameterError("categorical values", self.values, "needs at least one value")
        kinds = {isinstance(v, str) for v in self.values}
        if len(kinds) != 1 or any(isinstance(v, bool) for v in self.values):
            raise ParameterError(
                "categorical values", list(self.values), "must be all strings or all numbers"
            )
        if not all(isinstance(v, str | int | float) for v in self.values):
            raise ParameterError(
                "categorical values", list(self.values), "must be strings or numbers"
            )
        if self.weights and (
            len(self.weights) != len(self.values)
            or any(_number("categorical weight", w) < 0 for w in self.weights)
            or sum(self.weights) <= 0
        ):
            raise ParameterError(
                "categorical weights",
                list(self.weights),
                f"must be {len(self.values)} numbers >= 0, not all 0",
            )

    @property
    def texts(self) -> bool:
        return isinstance(self.values[0], str)

    def pmf(self) -> npt.NDArray[np.float64]:
        w = np.asarray(self.weights or [1.0] * len(self.values), dtype=np.float64)
        p: npt.NDArray[np.float64] = w / w.sum()
        return p

    def indices(self, frame: Frame, column: Column) -> npt.NDArray[np.int64]:
        support = np.arange(len(self.values), dtype=np.int64)
        return draw_discrete(support, self.pmf(), self.uniforms(frame, column))

    def generate(self, frame: Frame, column: Column) -> Values:
        picked = self.indices(frame, column)
        if self.texts:
            return vocabulary_text([str(v) for v in self.values], picked)
        return np.asarray(self.values)[picked]

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        items = ", ".join(
            "'" + v.replace("'", "''") + "'" if isinstance(v, str) else repr(v) for v in self.values
        )
        return Rule(f"{quote(column.name)} IN ({items})", f"{column.name} is one of the values")


def vocabulary_text(words: list[str], picked: npt.NDArray[np.int64]) -> Text:
    """Text of ``words[picked[i]]`` per row: one matrix of the vocabulary, rows taken from it."""
    vocabulary = tuple(words)
    matrix, lengths = _vocabulary(vocabulary)
    if lengths is None:
        return Text(matrix[picked])
    return Chosen(matrix, lengths[picked], vocabulary, picked)


@lru_cache(maxsize=64)
def _vocabulary(
    words: tuple[str, ...],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32] | None]:
    """A vocabulary as a padded matrix and its lengths (None: all full width), made once
    per process rather than once per chunk and column (a word list has thousands)."""
    encoded = [w.encode() for w in words]
    width = max(1, max(len(w) for w in encoded))
    matrix = np.zeros((len(encoded), width), dtype=np.uint8)
    lengths = np.array([len(w) for w in encoded], dtype=np.int32)
    for i, w in enumerate(encoded):  # once per vocabulary word, not per row
        matrix[i, : len(w)] = np.frombuffer(w, dtype=np.uint8)
    matrix.flags.writeable = False  # shared by every call: rows are taken, never written
    lengths.flags.writeable = False
    return matrix, None if (lengths == width).all() else lengths


@dataclass(frozen=True)
class Boolean(Drawn):
    """True with probability ``p``."""

    kind = "boolean"
    types = frozenset({"bool"})
    p: float = 0.5
    key: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= _number("boolean p", self.p) <= 1:
            raise ParameterError("boolean p", self.p, "must be in 0..1")

    def generate(self, frame: Frame, column: Column) -> Values:
        return self.uniforms(frame, column) < self.p
