"""The pure generators: laws, formats and bijections, checked against independent code."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from scipy import stats

from pgbulk import generate as g


def test_truncated_zipf_pmf_is_the_seed_law() -> None:
    # seed-facts.md: P = 0.491, 0.214, 0.131, 0.093, 0.071 (mean 2.04) for a = 1.2, k = 1..5
    pmf = g.truncated_zipf_pmf(1.2, 5)
    assert np.allclose(pmf, [0.491, 0.214, 0.131, 0.093, 0.071], atol=0.0006)
    assert (pmf * np.arange(1, 6)).sum() == pytest.approx(2.04, abs=0.005)


@pytest.mark.parametrize(("a", "kmax"), [(1.2, 5), (2.0, 3), (1.05, 20)])
def test_truncated_zipf_fits_its_law(a: float, kmax: int) -> None:
    n = 400_000
    draws = g.truncated_zipf(g.stream(12345, 0), n, a, kmax)
    assert draws.min() >= 1 and draws.max() <= kmax
    observed = np.bincount(draws, minlength=kmax + 1)[1:]
    expected = g.truncated_zipf_pmf(a, kmax) * n
    result = stats.chisquare(observed, expected)
    assert result.pvalue > 0.001, (observed, expected)


def test_truncated_zipf_is_not_clipping() -> None:
    # Clipping numpy's zipf at 5 would pile the whole tail (about 19% for a=1.2) onto 5.
    draws = g.truncated_zipf(g.stream(1, 0), 200_000, 1.2, 5)
    assert (draws == 5).mean() == pytest.approx(0.071, abs=0.003)


def test_uuid4_bits_and_text_match_the_uuid_module() -> None:
    b = g.uuid4(g.raw_u64(g.stream(3, 1), 2 * 1000))
    text = g.uuid_text(b)
    for row, chars in zip(b, text, strict=True):
        u = uuid.UUID(bytes=row.tobytes())
        assert u.version == 4 and u.variant == uuid.RFC_4122
        assert bytes(chars).decode() == str(u)


def test_uuid7_carries_its_millisecond_and_sorts_by_it() -> None:
    ms = np.arange(1_767_225_600_000, 1_767_225_600_000 + 500, dtype=np.int64)
    b = g.uuid7(ms, g.raw_u64(g.stream(3, 2), 1000))
    us = [uuid.UUID(bytes=row.tobytes()) for row in b]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in us)
    assert [u.int >> 80 for u in us] == ms.tolist()
    assert us == sorted(us)


@pytest.mark.parametrize("values", [[0, 1, 9, 10, 99, 100, 12345, 10**12], [7], [10, 99]])
def test_decimal_matches_str(values: list[int]) -> None:
    assert g.decimal(np.array(values, dtype=np.int64)).to_list() == [str(v) for v in values]


def test_fixed_digits_keeps_leading_zeros() -> None:
    values = np.array([0, 42, 10**16 - 1, 1234567890123456], dtype=np.uint64)
    got = [bytes(r).decode() for r in g.fixed_digits(values, 16)]
    assert got == [f"{int(v):016d}" for v in values]


def test_concat_of_varying_parts() -> None:
    t = g.concat(b"User ", g.decimal(np.array([5, 50, 500], dtype=np.int64)), b"!")
    assert t.to_list() == ["User 5!", "User 50!", "User 500!"]


PHONES = 10**16  # contacts' phone numbers: 16 digits, a square domain


def test_permutation_is_a_bijection_on_a_small_window() -> None:
    keys = g.permutation_keys(7, 0xF0E)
    slots = np.arange(0, 2_000_000, dtype=np.uint64)
    out = g.permute(slots, PHONES, keys)
    assert out.max() < PHONES
    assert len(np.unique(out)) == len(slots)


@pytest.mark.parametrize("domain", [2, 7, 1_000, 99_991, 10**6 + 3])
def test_permutation_of_a_non_square_domain_walks_back_inside(domain: int) -> None:
    # The network covers ceil(sqrt(domain))^2 values: the ones it sends outside the
    # domain are permuted again until inside, so the whole domain maps onto itself.
    out = g.permute(np.arange(domain, dtype=np.uint64), domain, g.permutation_keys(3, 1))
    assert sorted(out.tolist()) == list(range(domain))


def test_permutation_looks_uniform() -> None:
    out = g.permute(np.arange(500_000, dtype=np.uint64), PHONES, g.permutation_keys(11, 0xF0E))
    # Every decimal position is uniform over 0..9 (leading zeros included).
    digits = g.fixed_digits(out, 16) - ord("0")
    for pos in (0, 7, 15):
        counts = np.bincount(digits[:, pos], minlength=10)
        assert stats.chisquare(counts).pvalue > 0.001, (pos, counts)
    # Consecutive slots do not give close numbers.
    assert np.median(np.abs(np.diff(out.astype(np.float64)))) > 10**15


def test_permutation_keys_depend_on_the_seed_and_the_key() -> None:
    assert not np.array_equal(g.permutation_keys(1, 5), g.permutation_keys(2, 5))
    assert not np.array_equal(g.permutation_keys(1, 5), g.permutation_keys(1, 6))
    assert np.array_equal(g.permutation_keys(1, 5), g.permutation_keys(1, 5))


def test_keyed_draws_are_a_function_of_seed_key_and_counter() -> None:
    counters = np.arange(10_000, dtype=np.int64)
    a = g.keyed_u64(5, 9, counters, 2)
    assert a.shape == (20_000,)
    # The same counter gives the same words, wherever it sits in the array.
    assert np.array_equal(g.keyed_u64(5, 9, counters[5000:], 2), a[10_000:])
    assert not np.array_equal(g.keyed_u64(6, 9, counters, 2), a)
    assert not np.array_equal(g.keyed_u64(5, 10, counters, 2), a)
    u = g.unit_interval(a)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.001


def test_alphabet_digits_write_the_value_in_the_alphabet() -> None:
    values = np.array([0, 1, 35, 36, 36**3 - 1], dtype=np.uint64)
    alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz"
    got = [bytes(r).decode() for r in g.alphabet_digits(values, alphabet, 3)]
    assert got == ["000", "001", "00z", "010", "zzz"]


@pytest.mark.parametrize("buckets", [1, 2, 5, 32, 33, 300, 10_000])
def test_search_cdf_is_numpys_search_exactly(buckets: int) -> None:
    # Both strategies (counted comparisons up to 32 buckets, a guide table beyond), on
    # skewed and zero-weight buckets, and on uniforms that sit exactly on the edges.
    rng = np.random.default_rng(buckets)
    for power in (1, 8, 30):
        weights = rng.random(buckets) ** power
        weights[rng.random(buckets) < 0.2] = 0.0
        weights[-1] += 1e-3
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        cdf[-1] = 1.0
        u = np.concatenate([rng.random(20_000), cdf[:-1], np.nextafter(cdf[:-1], 0), [0.0]])
        u = np.append(u, np.nextafter(1.0, 0.0))
        want = np.minimum(np.searchsorted(cdf, u, side="right"), buckets - 1)
        np.testing.assert_array_equal(g.search_cdf(cdf, u), want)
