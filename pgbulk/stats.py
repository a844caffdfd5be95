"""Pearson's chi-square goodness-of-fit test, with no dependency beyond :mod:`math`.

The p-value uses the closed forms of the chi-square survival function for an integer
number of degrees of freedom k (Abramowitz & Stegun 26.4.4 and 26.4.5):

- k even: ``Q = exp(-x/2) * sum_{i<k/2} (x/2)^i / i!``
- k odd:  ``Q = erfc(sqrt(x/2)) + exp(-x/2) * sum_{i=1}^{(k-1)/2} x^(i-1/2) / (1*3*...*(2i-1))
  * sqrt(2/pi)``

Terms are summed in log space so that large x or k neither underflow nor overflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Bins whose expected count is below this are merged into their neighbour: the
#: chi-square approximation of the statistic's law needs about 5 per bin (Cochran).
MIN_EXPECTED = 5.0


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square distributed with ``df`` (a positive integer) degrees of freedom."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be a positive integer, got {df!r}")
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        logs = [-half + i * math.log(half) - math.lgamma(i + 1) for i in range(df // 2)]
        return min(1.0, _exp_sum(logs))
    # 1*3*...*(2i-1) = (2i)! / (2^i i!)
    logs = [
        -half
        + (i - 0.5) * math.log(x)
        + 0.5 * math.log(2 / math.pi)
        - (math.lgamma(2 * i + 1) - i * math.log(2) - math.lgamma(i + 1))
        for i in range(1, (df - 1) // 2 + 1)
    ]
    return min(1.0, math.erfc(math.sqrt(half)) + _exp_sum(logs))


def _exp_sum(logs: list[float]) -> float:
    """sum(exp(v) for v in logs), without overflow or needless underflow."""
    if not logs:
        return 0.0
    top = max(logs)
    return math.exp(top) * math.fsum(math.exp(v - top) for v in logs)


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    df: int
    p_value: float
    bins: int  # after merging the sparse tail


def chi_square(observed: Sequence[int], probabilities: Sequence[float]) -> ChiSquare:
    """Test observed counts of categories 1..n against their expected probabilities.

    Adjacent categories from the tail (where probabilities are smallest) are merged
    until each bin expects at least :data:`MIN_EXPECTED` observations.
    """
    if len(observed) != len(probabilities) or not observed:
        raise ValueError("observed and probabilities must be non-empty and of the same length")
    total = sum(observed)
    bins_obs: list[float] = []
    bins_exp: list[float] = []
    for o, p in zip(reversed(observed), reversed(probabilities), strict=True):
        if bins_exp and bins_exp[-1] < MIN_EXPECTED:
            bins_obs[-1] += o
            bins_exp[-1] += total * p
        else:
            bins_obs.append(o)
            bins_exp.append(total * p)
    if len(bins_exp) > 1 and bins_exp[-1] < MIN_EXPECTED:  # the head bin is sparse too
        bins_obs[-2] += bins_obs.pop()
        bins_exp[-2] += bins_exp.pop()
    if len(bins_exp) < 2:  # one bin: nothing to test
        return ChiSquare(0.0, 0, 1.0, len(bins_exp))
    statistic = math.fsum(
        (o - e) ** 2 / e for o, e in zip(bins_obs, bins_exp, strict=True) if e > 0
    )
    df = len(bins_exp) - 1
    return ChiSquare(statistic, df, chi2_sf(statistic, df), len(bins_exp))
