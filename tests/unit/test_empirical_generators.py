"""The generators fitted from statistics (pgbulk.generators.empirical) against their laws."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from pgbulk.chunks import Rows
from pgbulk.spec import SpecError, from_dict
from tests.unit.spec_helpers import column
from tests.unit.test_spec_generators import ALPHA, N, chi2


def _mixture_cdf(
    x: np.ndarray, values: list[float], weights: list[float], bounds: list[float]
) -> np.ndarray:
    mass = sum(weights)
    hist = np.interp(x, bounds, np.linspace(0.0, 1.0, len(bounds)))
    point = sum(w * (x >= v) for v, w in zip(values, weights, strict=True))
    return (1 - mass) * hist + point


def test_empirical_numbers_take_common_values_at_their_frequency_and_the_histogram_for_the_rest() -> (
    None
):
    values, weights, bounds = [5.5, 50.25], [0.3, 0.1], [0.0, 1.0, 10.0, 100.0, 1000.0]
    x = column(
        {
            "type": "float8",
            "gen": "empirical",
            "values": values,
            "weights": weights,
            "bounds": bounds,
        },
        rows=N,
    )
    counts = Counter(x.tolist())
    assert chi2({5.5: counts[5.5], 50.25: counts[50.25], "rest": N - counts[5.5] - counts[50.25]},
                {5.5: 0.3, 50.25: 0.1, "rest": 0.6}, N) > ALPHA  # fmt: skip
    rest = x[(x != 5.5) & (x != 50.25)]
    assert stats.kstest(rest, lambda v: np.interp(v, bounds, np.linspace(0, 1, 5))).pvalue > ALPHA
    assert stats.kstest(rest, lambda v: np.interp(v, bounds, [0, 0.1, 0.3, 0.9, 1])).pvalue < ALPHA
    assert _mixture_cdf(np.array([1000.0]), values, weights, bounds)[0] == pytest.approx(1.0)


def test_empirical_integers_and_dates_are_whole_steps_within_the_bounds() -> None:
    x = column({"type": "int", "gen": "empirical", "bounds": [1, 10, 20]}, rows=N)
    assert x.dtype == np.int64 and x.min() >= 1 and x.max() <= 20
    assert (
        chi2(Counter(x.tolist()), {v: (0.5 / 10 if v < 10 else 0.5 / 11) for v in range(1, 21)}, N)
        > 0
    )
    d = column({"type": "date", "gen": "empirical", "values": ["2020-01-01"], "weights": [0.5],
                "bounds": ["2021-01-01", "2021-12-31"]}, rows=N)  # fmt: skip
    days = d.astype("datetime64[D]")
    share = float((days == np.datetime64("2020-01-01")).mean())
    assert abs(share - 0.5) < 4 * (0.25 / N) ** 0.5
    rest = days[days != np.datetime64("2020-01-01")]
    assert rest.min() >= np.datetime64("2021-01-01") and rest.max() <= np.datetime64("2021-12-31")


def test_empirical_ordered_values_increase_with_the_row() -> None:
    x = column(
        {"type": "bigint", "gen": "empirical", "bounds": [100, 200, 10_000], "order": "increasing"},
        rows=N,
    )
    assert (np.diff(x) >= 0).all() and x[0] >= 100 and x[-1] <= 10_000
    y = column(
        {"type": "bigint", "gen": "empirical", "bounds": [100, 10_000], "order": "decreasing"},
        rows=N,
    )
    assert (np.diff(y) <= 0).all()


def test_empirical_text_common_values_tokens_distinct_count_sort_and_widths() -> None:
    bounds = ["apple", "kiwi", "pear", "zucchini"]
    x = column({"type": "text", "gen": "empirical_text", "values": ["A", "BB"], "weights": [0.2, 0.1],
                "bounds": bounds, "distinct": 500}, rows=N)  # fmt: skip
    counts = Counter(x)
    assert chi2({"A": counts["A"], "BB": counts["BB"], "rest": N - counts["A"] - counts["BB"]},
                {"A": 0.2, "BB": 0.1, "rest": 0.7}, N) > ALPHA  # fmt: skip
    tokens = [t for t in x if t not in ("A", "BB")]
    assert len(set(tokens)) == 498  # every token
    # each token is its bucket's lower bound followed by two letters (498 < 26^2): it keeps
    # the whole bound and sorts in its bucket; buckets equally likely
    for t in tokens:
        b = next(i for i, bound in enumerate(bounds) if t.startswith(bound))
        assert len(t) == len(bounds[b]) + 2 and bounds[b] < t < bounds[b + 1]
    per_bucket = Counter(t[0] for t in tokens)
    assert chi2(per_bucket, {"a": 1 / 3, "k": 1 / 3, "p": 1 / 3}, len(tokens)) > ALPHA


def test_empirical_text_without_bounds_draws_widths_from_its_law() -> None:
    x = column(
        {"type": "text", "gen": "empirical_text", "distinct": 5000, "lengths": [10, 20]}, rows=N
    )
    tokens = set(x)  # each token is on 4 rows: test the tokens, independent draws
    assert len(tokens) == 5000
    assert chi2(Counter(len(t) for t in tokens), {10: 0.5, 20: 0.5}, 5000) > ALPHA


def test_empirical_text_distinct_as_a_fraction_of_the_rows() -> None:
    x = column({"type": "text", "gen": "empirical_text", "distinct": -0.5, "lengths": [6]}, rows=N)
    # the rows spread over the tokens: exactly N/2 of them, each twice
    assert len(set(x)) == N // 2 and set(Counter(x).values()) == {2}
    assert {len(t) for t in x} == {6}


def test_sibling_ref_is_distinct_under_each_parent_and_a_key_of_the_target() -> None:
    dataset = from_dict({"name": "t", "tables": {
        "s": {"rows": {"per_scale": 1}, "primary_key": ["id"], "columns": {"id": {"type": "int", "gen": "sequence"}}},
        "p": {"rows": "scale", "primary_key": ["id"], "columns": {"id": {"type": "int", "gen": "sequence"}}},
        "ps": {"rows": {"parent": "p", "law": "fixed", "count": 4}, "primary_key": ["pid", "sid"],
               "columns": {"pid": {"type": "int", "gen": "parent", "column": "id"},
                           "sid": {"type": "int", "gen": "sibling_ref", "table": "s"}}},
    }, "scale_table": "p"})  # fmt: skip
    pairs: list[tuple[int, int]] = []
    for chunk in Rows(dataset, 1000):
        if "ps" not in [t.name for t in chunk.tables]:
            continue
        pid, sid = chunk.values("ps", "pid"), chunk.values("ps", "sid")
        pairs += list(zip(np.asarray(pid).tolist(), np.asarray(sid).tolist(), strict=True))
    assert len(pairs) == 4000 and len(set(pairs)) == 4000
    sids = Counter(s for _, s in pairs)
    assert min(sids) >= 1 and max(sids) <= 1000
    assert chi2(sids, {s: 1 / 1000 for s in range(1, 1001)}, 4000) > ALPHA


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "int", "gen": "empirical", "values": [1], "weights": [1.5]},
        {"type": "int", "gen": "empirical", "bounds": [1]},
        {"type": "int", "gen": "empirical", "bounds": [1, 2], "order": "sideways"},
        {"type": "text", "gen": "empirical_text", "distinct": 0},
        {"type": "text", "gen": "empirical", "bounds": [1, 2]},
        {"type": "int", "gen": "sibling_ref", "table": "t"},
    ],
)
def test_bad_parameters_are_one_line_errors(settings: dict[str, object]) -> None:
    with pytest.raises(SpecError) as e:
        column(settings, rows=10)
    assert "\n" not in str(e.value) and "table t, column x" in str(e.value)


def test_empirical_text_keeps_multibyte_common_values() -> None:
    x = column({"type": "text", "gen": "empirical_text", "values": ["é"], "weights": [0.5],
                "bounds": ["ü", "ÿ"], "distinct": 10, "lengths": [3]}, rows=200)  # fmt: skip
    assert "é" in x
    assert {t[0] for t in x if t != "é"} == {"ü"}  # tokens keep their bound whole
