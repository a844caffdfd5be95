"""Laws of how many child rows a parent row has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pgbulk.errors import ParameterError
from pgbulk.generate import inverse_cdf, truncated_zipf_pmf
from pgbulk.generators.base import CountLaw, Key

if TYPE_CHECKING:
    from pgbulk.chunks import Frame


@dataclass(frozen=True)
class ZipfCount(CountLaw):
    """A Zipf law with exponent ``a`` truncated to ``1..most`` (by redrawing, not clipping):
    P(k) is proportional to k^-a. The original project drew emails and phone numbers per
    user so, with a = 1.2 and most = 5."""

    kind = "zipf"
    a: float = 1.2
    most_children: int = 5
    key: Key | None = None

    def __post_init__(self) -> None:
        if isinstance(self.a, bool) or not isinstance(self.a, int | float) or not self.a > 1.0:
            raise ParameterError("zipf a", self.a, "must be a number greater than 1")
        if not isinstance(self.most_children, int) or not 1 <= self.most_children <= 1000:
            raise ParameterError("zipf most", self.most_children, "must be an integer in 1..1000")

    def draw(self, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
        return inverse_cdf(truncated_zipf_pmf(self.a, self.most_children), frame.uniforms(key))

    def pmf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        return (
            np.arange(1, self.most_children + 1, dtype=np.int64),
            truncated_zipf_pmf(self.a, self.most_children),
        )


def _draw(law: CountLaw, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
    from pgbulk.generators.numbers import draw_discrete

    support, p = law.pmf()
    return draw_discrete(support, p, frame.uniforms(key)).astype(np.int32)


@dataclass(frozen=True)
class FixedCount(CountLaw):
    """Exactly ``count`` children per parent (pgbench: 10 tellers per branch)."""

    kind = "fixed"
    count: int = 1
    key: Key | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.count, bool)
            or not isinstance(self.count, int)
            or not 1 <= self.count <= 10**7
        ):
            raise ParameterError("fixed count", self.count, "must be an integer in 1..10,000,000")

    def draw(self, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
        return np.full(frame.rows, self.count, dtype=np.int32)

    def pmf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        return np.array([self.count], dtype=np.int64), np.array([1.0])


@dataclass(frozen=True)
class UniformCount(CountLaw):
    """``low..high`` children per parent, each count equally likely."""

    kind = "uniform"
    low: int = 0
    high: int = 5
    key: Key | None = None

    def __post_init__(self) -> None:
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))
        if not ok or not 0 <= self.low <= self.high or not 1 <= self.high <= 10_000:
            raise ParameterError(
                "uniform count",
                (self.low, self.high),
                "needs integers 0 <= low <= high, 1 <= high <= 10000",
            )

    def draw(self, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
        return _draw(self, frame, key)

    def pmf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        support = np.arange(self.low, self.high + 1, dtype=np.int64)
        return support, np.full(len(support), 1.0 / len(support))


@dataclass(frozen=True)
class PoissonCount(CountLaw):
    """Poisson(``mean``) children per parent, truncated to ``0..most`` (the tail redrawn)."""

    kind = "poisson"
    mean: float = 2.0
    most: int = 0  # 0: where the tail is below 1e-12
    key: Key | None = None

    def __post_init__(self) -> None:
        from pgbulk.generators.numbers import poisson_most

        if (
            isinstance(self.mean, bool)
            or not isinstance(self.mean, int | float)
            or not 0 < self.mean <= 1000
        ):
            raise ParameterError("poisson mean", self.mean, "must be a number in (0, 1000]")
        if not self.most:
            object.__setattr__(self, "most", poisson_most(float(self.mean)))
        if not isinstance(self.most, int) or not 1 <= self.most <= 10_000:
            raise ParameterError("poisson most", self.most, "must be an integer in 1..10000")

    def draw(self, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
        return _draw(self, frame, key)

    def pmf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        from pgbulk.generators.numbers import poisson_pmf

        return poisson_pmf(float(self.mean), self.most)


@dataclass(frozen=True)
class EmpiricalCount(CountLaw):
    """An empirical table: ``counts[i]`` children with probability proportional to ``weights[i]``."""

    kind = "empirical"
    counts: tuple[int, ...] = (1,)
    weights: tuple[float, ...] = (1.0,)
    key: Key | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(self.counts))
        object.__setattr__(self, "weights", tuple(self.weights))
        ok = (
            len(self.counts) == len(self.weights) >= 1
            and all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 10_000
                for c in self.counts
            )
            and len(set(self.counts)) == len(self.counts)
            and all(isinstance(w, int | float) and w >= 0 for w in self.weights)
            and sum(self.weights) > 0
            and max(self.counts) >= 1
        )
        if not ok:
            raise ParameterError(
                "empirical law",
                {"counts": list(self.counts), "weights": list(self.weights)},
                "needs distinct counts in 0..10000 (one >= 1) and as many weights >= 0, not all 0",
            )

    def draw(self, frame: Frame, key: Key) -> npt.NDArray[np.integer[Any]]:
        return _draw(self, frame, key)

    def pmf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        order = np.argsort(self.counts)
        support = np.asarray(self.counts, dtype=np.int64)[order]
        w = np.asarray(self.weights, dtype=np.float64)[order]
        return support, w / w.sum()
