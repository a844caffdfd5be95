"""Spec files: each mistake one line naming table and column (and exit 2 on the command
line); the definition holds the whole spec and rebuilds the same dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pgbulk.chunks import Rows
from pgbulk.cli import cli
from pgbulk.datasets import from_definition
from pgbulk.errors import ParameterError
from pgbulk.fingerprint import of_dataset
from pgbulk.model import Fixed, PerParent, PerScale
from pgbulk.spec import BUILT_IN, SpecError, from_toml, load_spec

GOOD = """
name = "tiny"
chunk_rows = 100

[tables.customers]
rows = "scale"
primary_key = ["id"]
columns.id = { type = "bigint", gen = "sequence" }
columns.email = { type = "text", gen = "template", template = "c{id}@x.test", unique = true }
columns.born = { type = "date", gen = "uniform_time", start = 1960-01-01, end = 2000-01-01, null = 0.1 }

[tables.orders]
rows = { parent = "customers", law = "poisson", mean = 2 }
primary_key = ["customer_id", "line"]
foreign_keys = [{ columns = ["customer_id"], table = "customers" }]
columns.customer_id = { type = "bigint", gen = "parent", column = "id" }
columns.line = { type = "int", gen = "position" }
columns.tags = { type = "text[]", gen = "array", max_length = 3, element = { gen = "words" } }
"""


def spec_with(column: str, *, table_extra: str = "", rows: str = '"scale"') -> str:
    scaled = '[tables.scaled]\nrows = "scale"\ncolumns.id = { type = "int", gen = "sequence" }\n'
    return f'name = "s"\n[tables.t]\nrows = {rows}\n{table_extra}\ncolumns.c = {column}\n{scaled}'


def test_a_good_spec_builds_the_model() -> None:
    d = from_toml(GOOD)
    assert d.table_names == ("customers", "orders")
    assert isinstance(d.table("customers").rows, PerScale) and isinstance(
        d.table("orders").rows, PerParent
    )
    assert d.table("customers").column("born").nullable
    assert [u.columns for u in d.table("customers").unique] == [("email",)]


def test_the_definition_is_the_whole_spec_and_rebuilds_the_same_rows() -> None:
    d = from_toml(GOOD)
    recorded = json.loads(json.dumps(d.definition))  # as the ledger stores it (jsonb)
    again = from_definition(recorded)
    assert again == d
    assert of_dataset(Rows(again, 300, seed=4)) == of_dataset(Rows(d, 300, seed=4))
    assert recorded["tables"][0]["columns"][2]["start"] == "1960-01-01"


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_specs_load_by_name_and_round_trip(name: str) -> None:
    d = load_spec(name)
    assert from_definition(json.loads(json.dumps(d.definition))) == d


def test_pgbench_has_pgbenchs_row_counts_per_scale() -> None:
    d = load_spec("pgbench")
    rows = Rows(d, 3)
    assert rows.plan.root_rows() == {
        "pgbench_branches": 3,
        "pgbench_tellers": 30,
        "pgbench_accounts": 300_000,
        "pgbench_history": 0,
    }
    assert isinstance(d.table("pgbench_history").rows, Fixed)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            spec_with('{ type = "int", gen = "sequense" }'),
            "table t, column c: unknown generator 'sequense': use one of",
        ),
        (
            spec_with('{ type = "float8", gen = "normal", mena = 1 }'),
            "table t, column c: unknown parameter 'mena' of generator normal: its parameters are mean, sd",
        ),
        (
            spec_with('{ type = "uuid", gen = "normal" }'),
            "table t, column c: generator normal cannot fill a uuid column",
        ),
        (
            spec_with('{ type = "int", gen = "uuid" }'),
            "table t, column c: generator uuid cannot fill a integer column: it fills uuid",
        ),
        (
            spec_with('{ type = "text", gen = "categorical", values = ["a", "b"], unique = true }'),
            "table t, column c: unique (c) cannot be unique: generator categorical may repeat values",
        ),
        (
            spec_with(
                '{ type = "int", gen = "unique_int", low = 1, high = 50, unique = true }',
                rows="100",
            ),
            "table t, column c: unique cannot be unique: 100 rows but only 50 distinct values",
        ),
        (
            spec_with('{ type = "float8", gen = "normal", sd = -1 }'),
            "table t, column c: invalid normal sd=-1: must be > 0",
        ),
        (spec_with('{ type = "int" }'), "table t, column c: no generator"),
        (
            spec_with('{ type = "intt", gen = "sequence" }'),
            "table t, column c: invalid type='intt'",
        ),
        (
            spec_with(
                '{ type = "int", gen = "sequence" }', rows='{ parent = "t", law = "poissn" }'
            ),
            "table t: unknown count law 'poissn'",
        ),
        (
            spec_with('{ type = "int", gen = "ref", table = "nope" }'),
            "table t, column c: ref table 'nope' is not a table of the spec",
        ),
        (
            spec_with('{ type = "int[]", gen = "uniform_int" }'),
            "table t, column c: integer[] is an array type",
        ),
        (
            spec_with('{ type = "int", gen = "sequence" }', rows='"lots"'),
            "table t: rows must be a number",
        ),
        ('name = "s"\n[tables.t]\nrows = "scale"\ncolums.c = 1\n', "table t: unknown key 'colums'"),
        ("name = \n", "not valid TOML"),
        (
            spec_with('{ type = "int", gen = "categorical", values = ["a"] }'),
            "table t, column c: categorical values are strings: they cannot fill integer",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_table_and_column(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        from_toml(spec)
    text = str(info.value)
    assert "\n" not in text
    assert message in text, text


CYCLE = """
name = "cyc"
[tables.a]
rows = "scale"
primary_key = ["id"]
foreign_keys = [{{ columns = ["b_id"], table = "b" }}]
columns.id = {{ type = "int", gen = "sequence" }}
columns.b_id = {{ type = "int", gen = "ref", table = "b"{null} }}
[tables.b]
rows = 10
primary_key = ["id"]
foreign_keys = [{{ columns = ["a_id"], table = "a" }}]
columns.id = {{ type = "int", gen = "sequence" }}
columns.a_id = {{ type = "int", gen = "ref", table = "a" }}
"""


def test_a_cycle_of_foreign_keys_needs_a_nullable_edge() -> None:
    with pytest.raises(
        SpecError,
        match=r"^table a, column b_id: foreign keys form a cycle a -> b -> a with no nullable column",
    ):
        from_toml(CYCLE.format(null=""))
    from_toml(CYCLE.format(null=", null = 0.5"))


def test_a_self_reference_without_null_is_a_cycle_too() -> None:
    spec = spec_with(
        '{ type = "int", gen = "sequence" }\ncolumns.boss = { type = "int", gen = "tree", column = "c", nullable = false }',
        table_extra='primary_key = ["c"]\nforeign_keys = [{ columns = ["boss"], table = "t" }]',
    )
    from_toml(spec)  # a tree's root is NULL: the column is nullable by construction
    bad = spec.replace('gen = "tree", column = "c", nullable = false', 'gen = "ref", table = "t"')
    with pytest.raises(SpecError, match="cycle t -> t"):
        from_toml(bad)


def test_unique_columns_set_the_largest_scale() -> None:
    d = from_toml(
        spec_with('{ type = "int", gen = "unique_int", low = 1, high = 1000, unique = true }')
    )
    assert d.max_scale == 1000
    with pytest.raises(ParameterError, match=r"must be an integer in 1\.\.1,000 "):
        d.check_scale(1001)


def test_spec_check_and_show_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    ok = runner.invoke(cli, ["spec", "check", str(good)])
    assert ok.exit_code == 0 and ok.output.startswith(f"{good}: ok: dataset tiny")
    shown = runner.invoke(cli, ["spec", "show", "pgbench", "--scale", "10"])
    assert shown.exit_code == 0
    assert "pgbench_accounts" in shown.output and "1,000,000 rows" in shown.output
    as_json = json.loads(
        runner.invoke(cli, ["spec", "show", "shop", "--scale", "1000", "--json"]).output
    )
    assert {t["table"] for t in as_json["tables"]} >= {
        "customers",
        "orders",
        "order_items",
        "payments",
    }


def test_a_bad_spec_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text(spec_with('{ type = "uuid", gen = "zipf" }'))
    for args in (
        ["spec", "check", str(bad)],
        ["spec", "show", str(bad)],
        ["export", "--spec", str(bad), "--out", str(tmp_path / "x")],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "pgbulk", *args], capture_output=True, text=True
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.strip().count("\n") == 0
        assert "table t, column c: generator zipf cannot fill a uuid column" in run.stderr
    assert not (tmp_path / "x").exists()
    missing = subprocess.run(
        [sys.executable, "-m", "pgbulk", "spec", "check", "nope"], capture_output=True, text=True
    )
    assert (
        missing.returncode == 2
        and "not a built-in spec (contacts, pgbench, shop)" in missing.stderr
    )


def test_verify_tests_a_columns_law_only_where_the_type_keeps_the_draw() -> None:
    from pgbulk.generators.laws import column_law

    d = from_toml(
        spec_with(
            '{ type = "float8", gen = "normal", mean = 5 }\n'
            'columns.r = { type = "int", gen = "normal", mean = 5 }\n'
            'columns.s = { type = "text", gen = "categorical", values = ["a", "b"], weights = [1, 3] }'
        )
    )
    t = d.table("t")
    law = column_law(t.column("c").generator, t.column("c"))  # type: ignore[arg-type]
    assert law is not None and law.probabilities == (0.1,) * 10
    assert law.bucket.startswith('width_bucket("c"::float8, ARRAY[3.7184')  # N(5, 1) deciles
    assert column_law(t.column("r").generator, t.column("r")) is None  # type: ignore[arg-type]
    cat = column_law(t.column("s").generator, t.column("s"))  # type: ignore[arg-type]
    assert cat is not None and cat.probabilities == (0.25, 0.75)
    assert cat.bucket == "CASE \"s\" WHEN 'a' THEN 0 WHEN 'b' THEN 1 END"
