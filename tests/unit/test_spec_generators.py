"""Each spec generator against its law (chi-square for discrete, KS for continuous), its
determinism, and its independence of the unit size."""

from __future__ import annotations

import json
from collections import Counter

import nanoid
import numpy as np
import pytest
from scipy import stats

from pgbulk.chunks import Rows
from pgbulk.generators.ids import NANOID_ALPHABET
from pgbulk.generators.words import word_list
from pgbulk.spec import from_dict
from tests.unit.spec_helpers import as_python, column

# A law test fails when its p-value is below this: false alarms 1 in 10^4 runs, while a
# wrong law at these sample sizes gives p-values far below it.
ALPHA = 1e-4
N = 20_000


def chi2(observed: dict[object, int], expected_p: dict[object, float], n: int) -> float:
    keys = list(expected_p)
    obs = np.array([observed.get(k, 0) for k in keys], dtype=float)
    exp = np.array([expected_p[k] * n for k in keys])
    assert sum(observed.values()) == sum(observed.get(k, 0) for k in keys), (
        "values outside the support"
    )
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)


def test_sequence_counts_by_start_step_and_every() -> None:
    assert column(
        {"type": "bigint", "gen": "sequence", "start": 10, "step": 3}, rows=5
    ).tolist() == [10, 13, 16, 19, 22]
    assert column({"type": "int", "gen": "sequence", "every": 2}, rows=5).tolist() == [
        1,
        1,
        2,
        2,
        3,
    ]


def test_uniform_int_is_uniform_over_low_to_high() -> None:
    x = column({"type": "int", "gen": "uniform_int", "low": -3, "high": 6}, rows=N)
    assert chi2(Counter(x.tolist()), {k: 0.1 for k in range(-3, 7)}, N) > ALPHA


@pytest.mark.parametrize(
    ("settings", "law"),
    [
        ({"gen": "uniform", "low": 2.0, "high": 5.0}, stats.uniform(2, 3)),
        ({"gen": "normal", "mean": 10.0, "sd": 2.0}, stats.norm(10, 2)),
        ({"gen": "lognormal", "mu": 1.0, "sigma": 0.5}, stats.lognorm(s=0.5, scale=np.exp(1.0))),
        ({"gen": "exponential", "mean": 4.0}, stats.expon(scale=4.0)),
    ],
)
def test_continuous_laws_pass_kolmogorov_smirnov(settings: dict[str, object], law: object) -> None:
    x = column({"type": "float8", **settings}, rows=N)
    assert stats.kstest(x, law.cdf).pvalue > ALPHA  # type: ignore[attr-defined]


def test_a_wrong_law_fails_the_same_test() -> None:
    x = column({"type": "float8", "gen": "normal", "mean": 10.0, "sd": 2.0}, rows=N)
    assert stats.kstest(x, stats.norm(10, 2.2).cdf).pvalue < ALPHA


def test_poisson_counts_follow_the_law() -> None:
    x = column({"type": "int", "gen": "poisson", "mean": 3.5}, rows=N)
    counts = Counter(np.minimum(x, 10).tolist())
    p = {k: stats.poisson.pmf(k, 3.5) for k in range(10)}
    p[10] = stats.poisson.sf(9, 3.5)
    assert chi2(counts, p, N) > ALPHA


def test_bounded_zipf_follows_k_to_the_minus_a() -> None:
    x = column({"type": "int", "gen": "zipf", "a": 1.3, "n": 20}, rows=N)
    w = np.arange(1, 21, dtype=float) ** -1.3
    assert chi2(Counter(x.tolist()), dict(zip(range(1, 21), w / w.sum(), strict=True)), N) > ALPHA


def test_categorical_follows_its_weights_for_text_and_numbers() -> None:
    x = column(
        {"type": "text", "gen": "categorical", "values": ["a", "bb", "ccc"], "weights": [1, 2, 7]},
        rows=N,
    )
    assert chi2(Counter(x), {"a": 0.1, "bb": 0.2, "ccc": 0.7}, N) > ALPHA
    y = column({"type": "int", "gen": "categorical", "values": [5, 7]}, rows=N)
    assert chi2(Counter(y.tolist()), {5: 0.5, 7: 0.5}, N) > ALPHA


def test_boolean_is_true_with_probability_p() -> None:
    x = column({"type": "boolean", "gen": "boolean", "p": 0.3}, rows=N)
    assert x.dtype == np.bool_
    assert stats.binomtest(int(x.sum()), N, 0.3).pvalue > ALPHA


def test_uniform_time_is_uniform_in_its_range_and_dates_are_days() -> None:
    x = column(
        {"type": "timestamptz", "gen": "uniform_time", "start": "2024-01-01", "end": "2024-02-01"},
        rows=N,
    )
    start, end = (
        np.datetime64("2024-01-01T00:00:00", "us"),
        np.datetime64("2024-02-01T00:00:00", "us"),
    )
    assert (x >= start).all() and (x < end).all()
    u = (x - start).astype(np.int64) / (end - start).astype(np.int64)
    assert stats.kstest(u, "uniform").pvalue > ALPHA
    d = column(
        {"type": "date", "gen": "uniform_time", "start": "2024-01-01", "end": "2024-01-08"}, rows=N
    )
    assert d.dtype == np.dtype("datetime64[D]")
    days = (d - np.datetime64("2024-01-01")).astype(int)
    assert chi2(Counter(days.tolist()), {k: 1 / 7 for k in range(7)}, N) > ALPHA


def test_a_series_increases_with_the_row_and_its_jitter_is_uniform() -> None:
    x = column(
        {
            "type": "timestamp",
            "gen": "series",
            "start": "2024-01-01",
            "step": "1min",
            "jitter": "30s",
        },
        rows=N,
    )
    assert (np.diff(x).astype(np.int64) > 0).all()
    base = np.datetime64("2024-01-01T00:00:00", "us") + np.arange(N) * np.timedelta64(60, "s")
    jitter = (x - base).astype(np.int64) / 30e6
    assert stats.kstest(jitter, "uniform").pvalue > ALPHA


def test_time_of_day_is_uniform_in_whole_seconds() -> None:
    x = column({"type": "time", "gen": "time_of_day", "start": "08:00", "end": "18:00"}, rows=N)
    us = x.astype("timedelta64[us]").astype(np.int64)
    assert us.min() >= 8 * 3600 * 10**6 and us.max() < 18 * 3600 * 10**6 and (us % 10**6 == 0).all()
    assert stats.kstest((us - 8 * 3600e6) / (10 * 3600e6), "uniform").pvalue > ALPHA


def test_nanoid_has_nanoids_alphabet_and_length_semantics() -> None:
    ours = column({"type": "text", "gen": "nanoid"}, rows=N)
    theirs = [nanoid.generate() for _ in range(2_000)]
    assert {len(v) for v in ours} == {len(v) for v in theirs} == {21}
    assert set("".join(ours)) == set("".join(theirs)) == set(NANOID_ALPHABET)
    custom = column({"type": "text", "gen": "nanoid", "alphabet": "abc", "size": 5}, rows=N)
    oracle = [nanoid.generate("abc", 5) for _ in range(2_000)]
    assert {len(v) for v in custom} == {len(v) for v in oracle} == {5}
    assert set("".join(custom)) == set("".join(oracle)) == set("abc")
    chars = Counter("".join(custom))
    assert chi2(chars, {c: 1 / 3 for c in "abc"}, 5 * N) > ALPHA


def test_random_strings_have_uniform_lengths_and_characters() -> None:
    x = column(
        {"type": "text", "gen": "string", "alphabet": "xyz", "min_length": 2, "max_length": 6},
        rows=N,
    )
    assert chi2(Counter(len(v) for v in x), {k: 0.2 for k in range(2, 7)}, N) > ALPHA
    assert chi2(Counter("".join(x)), {c: 1 / 3 for c in "xyz"}, sum(map(len, x))) > ALPHA


def test_unique_int_is_unique_by_construction_and_in_range() -> None:
    x = column({"type": "bigint", "gen": "unique_int", "low": 100, "high": 20_099}, rows=N)
    assert sorted(x.tolist()) == list(range(100, 20_100))  # a permutation of the whole range
    assert not (np.diff(x) == 1).all()


def test_words_follow_the_built_in_lists_weights() -> None:
    x = column({"type": "text", "gen": "words", "list": "statuses"}, rows=N)
    words, weights = word_list("statuses")
    total = sum(weights)
    assert chi2(Counter(x), {w: p / total for w, p in zip(words, weights, strict=True)}, N) > ALPHA
    phrase = column(
        {"type": "text", "gen": "words", "list": "cities", "count": 2, "separator": " / "}, rows=10
    )
    assert all(v.count(" / ") >= 1 for v in phrase)


def test_nulls_come_at_their_fraction_in_text_and_numbers() -> None:
    text = column({"type": "text", "gen": "words", "null": 0.25}, rows=N)
    assert stats.binomtest(sum(v is None for v in text), N, 0.25).pvalue > ALPHA
    dataset = from_dict(
        {
            "name": "t",
            "chunk_rows": N,
            "tables": {
                "t": {
                    "rows": "scale",
                    "columns": {"x": {"type": "int", "gen": "uniform_int", "null": 0.1}},
                }
            },
        }
    )
    assert dataset.table("t").column("x").nullable
    chunk = Rows(dataset, N).chunk(0)
    frame = chunk.frame("t")
    frame.copy_columns()
    mask = frame.nulls["x"]
    assert stats.binomtest(int(mask.sum()), N, 0.1).pvalue > ALPHA
    # The COPY stream carries them as -1 lengths: 4 bytes for a NULL, 8 for a value.
    stream = chunk.copy_buffer("t")
    assert len(stream) == 19 + 2 + N * 2 + int(mask.sum()) * 4 + int((~mask).sum()) * 8


@pytest.mark.parametrize("count", [1, 3])
def test_nulls_leave_the_other_rows_as_they_were(count: int) -> None:
    # A phrase of several words is joined on its rows that are not NULL only.
    settings = {"type": "text", "gen": "words", "count": count, "key": 5}
    some = column({**settings, "null": 0.8}, rows=5_000, chunk_rows=2_000)
    every = column(settings, rows=5_000, chunk_rows=2_000)
    assert 0.75 < sum(v is None for v in some) / len(some) < 0.85
    assert [v for v in some if v is not None] == [
        w for v, w in zip(some, every, strict=True) if v is not None
    ]


def test_a_mostly_null_phrase_in_a_child_table_keeps_its_other_rows() -> None:
    # Under a parent, rows are named by their slots: the words of the non-NULL rows alone
    # must be the words those rows have without NULLs.
    def note(null: float) -> list[str | None]:
        settings: dict[str, object] = {"type": "text", "gen": "words", "count": 2, "key": 9}
        d = from_dict(
            {
                "name": "t",
                "chunk_rows": 300,
                "tables": {
                    "p": {"rows": "scale", "columns": {"id": {"type": "int", "gen": "sequence"}}},
                    "c": {
                        "rows": {"parent": "p", "law": "poisson", "mean": 3},
                        "columns": {"x": {**settings, **({"null": null} if null else {})}},
                    },
                },
            }
        )
        return [v for chunk in Rows(d, 1_000) for v in as_python(chunk.values("c", "x"))]

    some, every = note(0.8), note(0.0)
    assert 0.75 < sum(v is None for v in some) / len(some) < 0.85
    assert [v for v in some if v is not None] == [
        w for v, w in zip(some, every, strict=True) if v is not None
    ]


def test_json_objects_are_built_from_their_fields() -> None:
    x = column(
        {
            "type": "jsonb",
            "gen": "json",
            "fields": {
                "n": {"type": "int", "gen": "uniform_int", "low": 1, "high": 3},
                "tag": {"type": "text", "gen": "categorical", "values": ["a", "b"]},
                "ok": {"type": "boolean", "gen": "boolean"},
            },
        },
        rows=200,
    )
    texts = x.to_pylist()
    objects = [json.loads(t) for t in texts]
    # As jsonb prints them: keys by length then bytes, ", " and ": " (what jsonb_send returns).
    assert (
        texts[0]
        == f'{{"n": {objects[0]["n"]}, "ok": {json.dumps(objects[0]["ok"])}, "tag": "{objects[0]["tag"]}"}}'
    )
    assert {frozenset(o) for o in objects} == {frozenset({"n", "tag", "ok"})}
    assert {o["n"] for o in objects} == {1, 2, 3} and {o["tag"] for o in objects} == {"a", "b"}


def test_arrays_have_their_length_law_and_elements() -> None:
    x = column(
        {
            "type": "int[]",
            "gen": "array",
            "min_length": 1,
            "max_length": 4,
            "element": {"gen": "uniform_int", "low": 0, "high": 9},
        },
        rows=N,
    ).to_pylist()
    assert chi2(Counter(len(a) for a in x), {k: 0.25 for k in range(1, 5)}, N) > ALPHA
    flat = [e for a in x for e in a]
    assert chi2(Counter(flat), {k: 0.1 for k in range(10)}, len(flat)) > ALPHA


def test_keyed_values_do_not_depend_on_the_unit_size() -> None:
    for settings in (
        {"type": "float8", "gen": "normal"},
        {"type": "text", "gen": "nanoid", "size": 8},
        {"type": "bigint", "gen": "unique_int", "low": 0, "high": 10**9},
        {"type": "text", "gen": "words", "list": "cities", "null": 0.2},
    ):
        whole = column(settings, rows=1_000)
        split = column(settings, rows=1_000, chunk_rows=77)
        if isinstance(whole, np.ndarray):
            assert (whole == split).all()
        else:
            assert whole == split
        other_seed = column(settings, rows=1_000, seed=1)
        assert not np.array_equal(
            np.asarray(whole, dtype=object), np.asarray(other_seed, dtype=object)
        )


REFS = {
    "name": "r",
    "chunk_rows": 5_000,
    "tables": {
        "products": {
            "rows": 50,
            "primary_key": ["id"],
            "columns": {
                "id": {"type": "bigint", "gen": "unique_int", "low": 1000, "high": 1049},
                "price": {"type": "float8", "gen": "uniform", "low": 1.0, "high": 2.0},
            },
        },
        "staff": {
            "rows": 100,
            "primary_key": ["id"],
            "columns": {
                "id": {"type": "int", "gen": "sequence", "start": 1},
                "manager": {"type": "int", "gen": "tree", "column": "id", "fanout": 3},
            },
            "foreign_keys": [{"columns": ["manager"], "table": "staff"}],
        },
        "orders": {
            "rows": "scale",
            "columns": {
                "uniform": {"type": "bigint", "gen": "ref", "table": "products"},
                "popular": {
                    "type": "bigint",
                    "gen": "ref",
                    "table": "products",
                    "popularity": "zipf",
                    "a": 1.2,
                },
                "price": {"type": "float8", "gen": "lookup", "ref": "popular", "column": "price"},
            },
        },
    },
}


def test_references_are_keys_of_real_rows_uniform_or_by_zipf_popularity() -> None:
    dataset = from_dict(REFS)
    rows = Rows(dataset, N, seed=2)
    products = next(c for c in rows if c.rows("products"))
    ids = products.values("products", "id")
    prices = dict(zip(ids.tolist(), products.values("products", "price").tolist(), strict=True))
    chunks = [c for c in rows if c.rows("orders")]
    uniform = np.concatenate([c.values("orders", "uniform") for c in chunks])
    popular = np.concatenate([c.values("orders", "popular") for c in chunks])
    looked_up = np.concatenate([c.values("orders", "price") for c in chunks])
    assert set(uniform.tolist()) <= set(ids.tolist())
    assert chi2(Counter(uniform.tolist()), {k: 1 / 50 for k in ids.tolist()}, N) > ALPHA
    # Zipf: frequencies sorted by rank follow k^-a.
    ranked = sorted(Counter(popular.tolist()).values(), reverse=True)
    w = np.arange(1, 51, dtype=float) ** -1.2
    assert stats.chisquare(ranked + [0] * (50 - len(ranked)), w / w.sum() * N).pvalue > ALPHA
    assert looked_up.tolist() == [prices[p] for p in popular.tolist()]


def test_a_tree_points_each_row_to_its_parent_and_the_root_to_null() -> None:
    dataset = from_dict(REFS)
    chunk = next(c for c in Rows(dataset, 10) if c.rows("staff"))
    manager = chunk.values("staff", "manager")
    nulls = chunk.frame("staff").nulls["manager"]
    assert nulls.tolist() == [True] + [False] * 99
    assert manager[1:].tolist() == [(r - 1) // 3 + 1 for r in range(1, 100)]
    assert as_python(chunk.values("staff", "id"))[:3].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ({"law": "fixed", "count": 3}, {3: 1.0}),
        ({"law": "uniform", "low": 0, "high": 3}, {0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25}),
        (
            {"law": "empirical", "counts": [0, 2, 5], "weights": [1, 1, 2]},
            {0: 0.25, 2: 0.25, 5: 0.5},
        ),
        ({"law": "poisson", "mean": 2.0, "most": 8}, None),
        ({"law": "zipf", "a": 1.5, "most": 4}, None),
    ],
)
def test_children_per_parent_follow_their_law(
    rows: dict[str, object], expected: dict[int, float] | None
) -> None:
    dataset = from_dict(
        {
            "name": "c",
            "tables": {
                "p": {
                    "rows": "scale",
                    "primary_key": ["id"],
                    "columns": {"id": {"type": "int", "gen": "sequence"}},
                },
                "c": {
                    "rows": {"parent": "p", **rows},
                    "primary_key": ["p_id", "n"],
                    "columns": {
                        "p_id": {"type": "int", "gen": "parent", "column": "id"},
                        "n": {"type": "int", "gen": "position"},
                    },
                },
            },
        }
    )
    law = dataset.table("c").rows.law  # type: ignore[union-attr]
    support, p = law.pmf()
    if expected is not None:
        assert dict(zip(support.tolist(), p.tolist(), strict=True)) == pytest.approx(expected)
    frame = Rows(dataset, N).chunk(0).frame("c")
    assert frame.counts is not None
    counts = Counter(frame.counts.tolist())
    if len(support) == 1:
        assert counts == {int(support[0]): frame.counts.size}
    else:
        assert chi2(counts, dict(zip(support.tolist(), p.tolist(), strict=True)), N) > ALPHA
    # The composite key (parent, position) is 1..k under each parent.
    n = frame.values("n")
    assert (n == frame.positions + 1).all()


def test_uuid7_at_takes_its_instant_from_a_time_column() -> None:
    dataset = from_dict(
        {
            "name": "u",
            "chunk_rows": 5_000,
            "tables": {
                "e": {
                    "rows": "scale",
                    "columns": {
                        "at": {
                            "type": "timestamptz",
                            "gen": "uniform_time",
                            "start": "2024-01-01",
                            "end": "2024-01-02",
                        },
                        "id": {"type": "uuid", "gen": "uuid7_at", "column": "at"},
                    },
                }
            },
        }
    )
    chunk = Rows(dataset, 5_000).chunk(0)
    ids = chunk.values("e", "id").chars  # type: ignore[union-attr]
    ms = chunk.values("e", "at").astype("datetime64[ms]").astype(np.int64)  # type: ignore[union-attr]
    stamp = (ids[:, :6].astype(np.int64) << (np.arange(5, -1, -1) * 8)).sum(axis=1)
    assert (stamp == ms).all()
    assert set((ids[:, 6] >> 4).tolist()) == {7} and set((ids[:, 8] >> 6).tolist()) == {2}
    assert len({bytes(r) for r in ids}) == 5_000


def test_faker_is_a_vocabulary_drawn_once_then_sampled() -> None:
    x = column({"type": "text", "gen": "faker", "provider": "city", "size": 50}, rows=N)
    assert len(set(x)) <= 50 and len(set(x)) > 30
    assert x == column({"type": "text", "gen": "faker", "provider": "city", "size": 50}, rows=N)
    assert x != column(
        {"type": "text", "gen": "faker", "provider": "city", "size": 50}, rows=N, seed=1
    )


def test_each_lookup_reads_the_row_its_own_reference_points_to() -> None:
    # Two references in one row (each computed once per unit, lookups included) must not
    # share their rows; the looked-up column is itself computed (expr) at that row.
    big = "bigint"
    products = {
        "id": {"type": big, "gen": "sequence"},
        "ten": {"type": big, "gen": "expr", "expr": "id * 10"},
    }
    lines = {
        "a": {"type": big, "gen": "ref", "table": "p"},
        "b": {"type": big, "gen": "ref", "table": "p", "popularity": "zipf"},
        "la": {"type": big, "gen": "lookup", "ref": "a", "column": "ten"},
        "lb": {"type": big, "gen": "lookup", "ref": "b", "column": "ten"},
    }
    tables = {"p": {"rows": 500, "columns": products}, "t": {"rows": "scale", "columns": lines}}
    d = from_dict({"name": "two", "chunk_rows": 700, "tables": tables})
    for chunk in Rows(d, 2_000, seed=3):
        if not chunk.rows("t"):
            continue
        lb, la = chunk.values("t", "lb"), chunk.values("t", "la")  # lookups first
        a, b = chunk.values("t", "a"), chunk.values("t", "b")
        np.testing.assert_array_equal(la, np.asarray(a) * 10)
        np.testing.assert_array_equal(lb, np.asarray(b) * 10)
        assert (np.asarray(a) != np.asarray(b)).mean() > 0.9


def test_a_small_referenced_tables_columns_are_made_once_and_are_the_same_values() -> None:
    """References into a small table gather from its whole column, made once per Rows:
    the values a frame of the referenced rows alone gives, and shared by the chunks."""
    from pgbulk.chunks import Rows
    from pgbulk.generate import Text, concat
    from pgbulk.spec import load_spec

    rows = Rows(load_spec("shop"), 50_000, seed=11)
    products = rows.dataset.table("products")
    first, second = [c for c in rows if c.rows("order_items")][:2]
    frame = first.frame("order_items")
    picked = np.random.default_rng(4).integers(0, 10_000, 2_000)
    for name in ("id", "price", "sku", "name", "created_at"):
        got = frame.referenced(products, picked, name)
        want = frame.at_rows(products, picked).values(name)
        if isinstance(want, np.ndarray):
            assert isinstance(got, np.ndarray)
            np.testing.assert_array_equal(got, want)
        else:
            texts = [v if isinstance(v, Text) else concat(*v) for v in (got, want)]  # type: ignore[misc]
            assert texts[0].to_list() == texts[1].to_list()
    assert ("whole column", "products", "price") in second.frame("order_items").shared
