"""The law of a generated column as verify tests it: SQL that puts each value in a bin,
and each bin's probability under the generator's law (chi-square in ``pgbulk verify``).

Continuous laws use ten equiprobable bins cut at the law's quantiles; discrete laws one
bin per value (a Poisson tail is one bin). Only for columns whose type keeps the drawn
value (a real, a numeric with a scale, a date or timestamp at its resolution): a normal
rounded into an integer column is not tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

from pgbulk.ddl import quote
from pgbulk.generators.numbers import (
    Boolean,
    Categorical,
    Exponential,
    LogNormal,
    Normal,
    Poisson,
    UniformFloat,
    UniformInt,
    Zipf,
    poisson_most,
    poisson_pmf,
    zipf_pmf,
)
from pgbulk.generators.time import UniformTime, instant

if TYPE_CHECKING:
    from pgbulk.generators.base import Generator
    from pgbulk.model import Column

BINS = 10
#: Discrete laws with more values than this are not tested value by value.
MOST_VALUES = 64
_CONTINUOUS_TYPES = frozenset({"float4", "float8"})


@dataclass(frozen=True)
class ColumnLaw:
    """``bucket``: SQL giving each non-NULL value's bin, 0..len(probabilities)-1."""

    bucket: str
    probabilities: tuple[float, ...]
    description: str


def _cuts(value: str, cuts: list[float]) -> str:
    # width_bucket(x, thresholds) is 0 below the first threshold, i past the i-th.
    return f"width_bucket({value}, ARRAY[{', '.join(repr(float(c)) for c in cuts)}]::float8[])"


def _quantile_bins(value: str, inverse_cdf: object, what: str) -> ColumnLaw:
    q = [inverse_cdf(i / BINS) for i in range(1, BINS)]  # type: ignore[operator]
    return ColumnLaw(_cuts(value, q), tuple([1.0 / BINS] * BINS), what)


def _discrete(value: str, support: list[int], p: list[float], what: str) -> ColumnLaw:
    cuts = [k + 0.5 for k in support[:-1]]
    return ColumnLaw(_cuts(value, cuts), tuple(p), what)


def _continuous_column(column: Column) -> bool:
    t = column.type
    return not t.array and (
        t.name in _CONTINUOUS_TYPES
        or (t.name == "numeric" and (not t.modifiers or t.modifiers[1] >= 2))
    )


def column_law(generator: Generator, column: Column) -> ColumnLaw | None:
    """The law ``pgbulk verify`` tests the column against, or None."""
    c = quote(column.name)
    x = f"{c}::float8"
    if isinstance(generator, Categorical) and len(generator.values) <= MOST_VALUES:
        cases = " ".join(f"WHEN {_literal(v)} THEN {i}" for i, v in enumerate(generator.values))
        return ColumnLaw(
            f"CASE {c} {cases} END", tuple(generator.pmf().tolist()), "categorical weights"
        )
    if isinstance(generator, Boolean):
        return ColumnLaw(f"{c}::int", (1 - generator.p, generator.p), f"boolean p={generator.p}")
    if isinstance(generator, UniformInt) and generator.high - generator.low < MOST_VALUES:
        support = list(range(generator.low, generator.high + 1))
        return _discrete(x, support, [1 / len(support)] * len(support), "uniform")
    if isinstance(generator, Zipf) and generator.n <= MOST_VALUES:
        k, p = zipf_pmf(generator.a, generator.n)
        return _discrete(x, k.tolist(), p.tolist(), f"zipf a={generator.a} n={generator.n}")
    if isinstance(generator, Poisson) and poisson_most(generator.mean) <= 4 * MOST_VALUES:
        k, p = poisson_pmf(generator.mean, poisson_most(generator.mean))
        return _discrete(x, k.tolist(), p.tolist(), f"poisson mean={generator.mean}")
    if isinstance(generator, UniformTime) and column.type.name != "date":
        start = float(instant("start", generator.start).astype("int64")) / 1e6
        end = float(instant("end", generator.end).astype("int64")) / 1e6
        value = f"extract(epoch FROM {c})::float8"  # timestamptz: the instant, in UTC
        return _quantile_bins(value, lambda q: start + q * (end - start), "uniform in time")
    if not _continuous_column(column):
        return None
    if isinstance(generator, UniformFloat):
        lo, hi = generator.low, generator.high
        return _quantile_bins(x, lambda q: lo + q * (hi - lo), f"uniform {lo}..{hi}")
    if isinstance(generator, Normal) and generator.low is None and generator.high is None:
        law = NormalDist(generator.mean, generator.sd)
        return _quantile_bins(x, law.inv_cdf, f"normal({generator.mean}, {generator.sd})")
    if isinstance(generator, LogNormal):
        law = NormalDist(generator.mu, generator.sigma)
        return _quantile_bins(x, lambda q: math.exp(law.inv_cdf(q)), "lognormal")
    if isinstance(generator, Exponential):
        mean = generator.mean
        return _quantile_bins(x, lambda q: -mean * math.log1p(-q), f"exponential mean={mean}")
    return None


def _literal(v: object) -> str:
    return "'" + v.replace("'", "''") + "'" if isinstance(v, str) else repr(v)
