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
