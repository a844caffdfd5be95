"""spec import's pure layers: statistics -> spec (fit), spec -> TOML (write), distances
(compare). No database: the catalog is written here as read.py returns it."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from pgbulk.catalog.compare import compare_tables, histogram_distance, ks, mcv_distance
from pgbulk.catalog.fit import fit, fit_count_law, parse_check, shape_only, synthetic_tokens
from pgbulk.catalog.read import ColumnInfo, ColumnStats, ForeignKeyInfo, TableInfo
from pgbulk.catalog.write import to_toml
from pgbulk.chunks import Rows
from pgbulk.spec import from_dict


def col(name: str, type_sql: str, stats: ColumnStats | None = None, **kw: object) -> ColumnInfo:
    settings: dict[str, object] = {
        "declared": type_sql, "not_null": True, "default": None, "identity": False, "kind": "b",
    }  # fmt: skip
    settings.update(kw)
    return ColumnInfo(name, type_sql, stats=stats, **settings)  # type: ignore[arg-type]


def shop(analyzed: bool = True) -> list[TableInfo]:
    """customers (1000) <- orders (children measured), with text, numbers, dates, a status."""
    cust = TableInfo("public", "customers", rows=1000, analyzed=analyzed, primary_key=["id"])
    cust.columns = [
        col("id", "bigint", ColumnStats(0, -1, 8, bounds=[str(i) for i in range(1, 1001, 10)], correlation=1.0)),
        col("name", "text", ColumnStats(0, -1, 12, bounds=[f"Customer#{i:06}" for i in range(1, 1001, 10)])),
        col("segment", "text", ColumnStats(0, 3, 8, ["AUTO", "BUILDING", "HOUSE"], [0.5, 0.3, 0.2])),
        col("balance", "numeric(12,2)", ColumnStats(0.1, -0.9, 6, ["0.00"], [0.05], [f"{x:.2f}" for x in np.linspace(-999, 9999, 101)]), not_null=False),
        col("born", "date", ColumnStats(0, -0.5, 4, bounds=[str(np.datetime64("1950-01-01") + i * 200) for i in range(101)])),
        col("vip", "boolean", ColumnStats(0, 2, 1, ["f", "t"], [0.9, 0.1])),
    ]  # fmt: skip
    orders = TableInfo("public", "orders", rows=9000, analyzed=analyzed, primary_key=["id"])
    orders.columns = [
        col("id", "bigint", ColumnStats(0, -1, 8, bounds=[str(i) for i in range(1, 9001, 90)], correlation=1.0)),
        col("customer_id", "bigint", ColumnStats(0, -0.1, 8)),
        col("status", "text", ColumnStats(0, 2, 1, ["F", "O"], [0.6, 0.4])),
        col("geo", "geometry", declared="geometry", kind="b"),
    ]  # fmt: skip
    orders.foreign_keys = [
        ForeignKeyInfo("orders_customer_fkey", ["customer_id"], "public", "customers", ["id"], "cascade",
                       children={0: 100, 5: 100, 9: 300, 10: 200, 11: 200, 20: 100})
    ]  # fmt: skip
    orders.checks = [
        "CHECK ((status = ANY (ARRAY['F'::text, 'O'::text, 'P'::text])))",
        "CHECK ((id > 0))",
        "CHECK (length(status) < 3)",
    ]
    return [cust, orders]


def test_a_fitted_spec_is_a_loadable_spec_with_the_measured_laws() -> None:
    fitted = fit(shop())
    text = to_toml(fitted)
    dataset = from_dict(tomllib.loads(text))
    assert dataset.scale_table == "customers" and fitted.scale == 1000
    orders = fitted.spec["tables"]["orders"]
    assert orders["rows"]["parent"] == "customers" and orders["rows"]["law"] == "empirical"
    assert orders["columns"]["customer_id"] == {"type": "bigint", "gen": "parent", "column": "id"}
    assert orders["foreign_keys"][0]["on_delete"] == "cascade"
    cust = fitted.spec["tables"]["customers"]["columns"]
    assert cust["id"]["gen"] == "sequence" and cust["id"]["start"] == 1
    assert cust["segment"]["values"] == ["AUTO", "BUILDING", "HOUSE"]
    assert cust["balance"]["null"] == 0.1 and cust["balance"]["weights"] == [
        pytest.approx(0.05 / 0.9)
    ]
    assert cust["vip"] == {"type": "boolean", "gen": "boolean", "p": 0.1}
    # the IN list is honoured; the other check and the unknown type are reported, one line each
    assert orders["columns"]["status"]["gen"] == "categorical"
    assert orders["columns"]["status"]["values"] == ["F", "O", "P"]
    assert "geo" not in orders["columns"]
    assert any("geo" in p and "geometry" in p for p in fitted.problems)
    assert any("length(status)" in p for p in fitted.problems)
    assert all("\n" not in p for p in fitted.problems)
    assert "# pg_stats:" in text and "# rows per customers row: the measured histogram" in text
    # and it makes rows: a unit of customers and their orders
    chunk = next(iter(Rows(dataset, 1000)))
    assert chunk.rows("customers") == 1000
    assert 8000 < chunk.rows("orders") < 10_000


def test_no_values_keeps_no_literal_of_the_source() -> None:
    tables = shop()
    literals = {
        v for t in tables for c in t.columns if c.stats for v in (*c.stats.common, *c.stats.bounds)
    }
    text = to_toml(fit(tables, no_values=True))
    # kept on purpose: comments, the children-per-parent laws (counts), keys starting at 1
    kept = ("#", "rows = ", "start = 1")
    body = "\n".join(line for line in text.splitlines() if not line.startswith(kept))
    leaked = {v for v in literals if f'"{v}"' in body or f"= {v}\n" in body or f" {v}," in body}
    # "F", "O" stay: they are the CHECK's IN list, part of the schema, not of the data
    assert leaked <= {"F", "O"}
    dataset = from_dict(tomllib.loads(text))
    assert next(iter(Rows(dataset, 100))).rows("customers") == 100


def test_synthetic_tokens_keep_order_and_length() -> None:
    words = ["pear", "apple", "kiwi", "banana", "apple"]
    tokens = synthetic_tokens(words)
    assert sorted(tokens, key=lambda w: tokens[w]) == sorted(set(words))
    assert all(len(tokens[w]) == len(w) for w in words)
    assert not set(tokens.values()) & set(words)


def test_numbers_without_values_are_deciles_rounded_to_the_range() -> None:
    out = shape_only([5.0], [0.5], [0.0, 10.0, 1000.0], integer=False)
    assert len(out) == 11 and out == sorted(out) and out[0] == 0.0 and out[-1] == 1000.0
    assert out[5] <= 100.0  # half the mass is at 5: the median, to 100 (2 digits of 1000)


def test_count_laws_take_a_parametric_form_only_when_it_fits() -> None:
    assert fit_count_law({4: 500})[0] == {"law": "fixed", "count": 4}
    assert fit_count_law({k: 100 for k in range(1, 8)})[0] == {
        "law": "uniform",
        "low": 1,
        "high": 7,
    }
    from scipy import stats

    pmf = {k: round(1e6 * stats.poisson(3).pmf(k)) for k in range(20)}
    assert fit_count_law(pmf)[0]["law"] == "poisson"
    law = fit_count_law({0: 300, 10: 700})[0]
    assert law == {"law": "empirical", "counts": [0, 10], "weights": [300, 700]}


def test_checks_ranges_and_in_lists_are_parsed_the_others_not() -> None:
    assert parse_check("CHECK (((x >= 0) AND (x <= 10)))") == ("range", "x", (0.0, 10.0))
    assert parse_check("CHECK ((x > 0))") == ("range", "x", (1.0, float("inf")))
    assert parse_check("CHECK ((s = ANY (ARRAY['a'::text, 'b''c'::text])))") == (
        "in",
        "s",
        ["a", "b'c"],
    )
    assert parse_check("CHECK ((x < y))") is None


def test_bad_input_is_reported_per_table_and_column_and_the_rest_written() -> None:
    tables = shop(analyzed=False)
    secret = TableInfo("public", "secret", readable=False)
    fitted = fit([*tables, secret])
    assert "secret" not in fitted.spec["tables"]
    assert any(p.startswith("table public.secret: no SELECT privilege") for p in fitted.problems)
    assert any(p.startswith("table customers: no statistics") for p in fitted.problems)
    cust = fitted.spec["tables"]["customers"]["columns"]
    assert cust["segment"]["gen"] == "string" and cust["born"]["gen"] == "uniform_time"
    from_dict(tomllib.loads(to_toml(fitted)))


def test_distances() -> None:
    a = ColumnStats(0.0, 3, 1, ["x", "y", "z"], [0.5, 0.3, 0.2])
    b = ColumnStats(0.0, 3, 1, ["x", "y", "z"], [0.4, 0.4, 0.2])
    assert mcv_distance(a, 100, b, 100) == pytest.approx(0.1)
    assert mcv_distance(a, 100, a, 100) == 0
    assert histogram_distance("int8", ["0", "10"], ["0", "10"]) == 0
    assert histogram_distance("int8", ["0", "10"], ["0", "20"]) == pytest.approx(0.5)
    assert histogram_distance("text", ["a", "b", "c"], ["a", "b", "c"]) == 0
    assert ks({1: 0.5, 2: 0.5}, {1: 1.0}) == pytest.approx(0.5)
    t = shop()
    same = compare_tables(t, t)
    assert all(c.null in (0, None) and c.mcv in (0, None) for c in same.columns)
    assert [f.children_ks for f in same.foreign_keys] == [0.0]


def test_a_one_to_one_table_keeps_its_rows_and_drops_the_key_it_cannot_promise() -> None:
    tables = shop()
    profile = TableInfo("public", "profiles", rows=700, primary_key=["customer_id"])
    profile.columns = [
        col("customer_id", "bigint", ColumnStats(0, -1, 8)),
        col("bio", "text", ColumnStats(0, -1, 20)),
    ]
    profile.foreign_keys = [
        ForeignKeyInfo(
            "p_fk", ["customer_id"], "public", "customers", ["id"], "cascade", {0: 300, 1: 700}
        )
    ]
    fitted = fit([*tables, profile])
    spec = fitted.spec["tables"]["profiles"]
    assert spec["rows"] == {
        "parent": "customers",
        "law": "empirical",
        "counts": [0, 1],
        "weights": [300, 700],
    }
    assert "primary_key" not in spec
    assert any(
        p.startswith("table profiles, column customer_id: unique and a reference")
        for p in fitted.problems
    )
    from_dict(tomllib.loads(to_toml(fitted)))


def test_compare_and_import_refuse_mistakes_in_one_line() -> None:
    from click.testing import CliRunner

    from pgbulk.cli import cli

    once = CliRunner().invoke(cli, ["spec", "compare", "--dsn", "dbname=a"])
    assert once.exit_code == 2 and "give --dsn twice" in once.output
    no_output = CliRunner().invoke(cli, ["spec", "import", "--dsn", "dbname=a"])
    assert no_output.exit_code == 2 and "-o" in no_output.output
