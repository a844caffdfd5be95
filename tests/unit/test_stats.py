"""The chi-square test without scipy, checked against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pgbulk.generate import stream, truncated_zipf, truncated_zipf_pmf
from pgbulk.stats import MIN_EXPECTED, chi2_sf, chi_square


def _points(df: int) -> list[float]:
    """Both tails, the centre and the far tail of the law with ``df`` degrees of freedom."""
    fixed = [1e-6, 0.01, 0.5, 1.0, 200.0, 2000.0]
    return [*fixed, df / 2, df - 1, df, df + 3 * math.sqrt(2 * df), 2.5 * df]


@pytest.mark.parametrize("df", [*range(1, 41), 99, 100, 999])
def test_chi2_sf_matches_scipy(df: int) -> None:
    for x in _points(df):
        expected = scipy_stats.chi2.sf(x, df)
        got = chi2_sf(x, df)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (x, df)


def test_chi2_sf_edges() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-1.0, 1) == 1.0
    assert 0.0 < chi2_sf(1500.0, 1000) < 1e-20  # far tail: tiny but not flushed to zero
    with pytest.raises(ValueError, match="positive integer"):
        chi2_sf(1.0, 0)


def test_chi_square_matches_scipy_when_no_bin_is_sparse() -> None:
    observed = [480, 220, 135, 95, 70]
    pmf = truncated_zipf_pmf(1.2, 5)
    ours = chi_square(observed, list(pmf))
    theirs = scipy_stats.chisquare(observed, f_exp=np.array(pmf) * sum(observed))
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert (ours.df, ours.bins) == (4, 5)


def test_sparse_tail_bins_are_merged() -> None:
    pmf = list(truncated_zipf_pmf(1.2, 1000))
    observed = [0] * 1000
    observed[0] = 10_000
    result = chi_square(observed, pmf)
    expected_per_bin = 10_000 * (1 - pmf[0])  # worst case: every merged bin is at least 5
    assert result.bins < 1000
    assert expected_per_bin > MIN_EXPECTED * (result.bins - 1)
    assert result.p_value < 1e-12  # everything in bin 1 is far from the law


def test_draws_of_the_generator_fit_their_own_law() -> None:
    pmf = truncated_zipf_pmf(1.2, 5)
    p_values = []
    for seed in range(20):
        draws = truncated_zipf(stream(seed, 0), 20_000, 1.2, 5)
        observed = np.bincount(draws, minlength=6)[1:]
        p_values.append(chi_square(list(observed), list(pmf)).p_value)
    assert min(p_values) > 1e-4  # the test would flag at most 1 in 10,000 correct datasets
    assert max(p_values) > 0.2  # and p-values spread as for a correct law


def test_a_different_law_is_rejected() -> None:
    draws = truncated_zipf(stream(0, 0), 20_000, 1.5, 5)  # a = 1.5 tested against a = 1.2
    observed = np.bincount(draws, minlength=6)[1:]
    assert chi_square(list(observed), list(truncated_zipf_pmf(1.2, 5))).p_value < 1e-12
