"""Spec datasets (pgbulk/spec/builtin, TOML files) loaded, verified and fingerprinted by the
same code as every dataset, on PostgreSQL 15 and 18; pgbench runs on the pgbench spec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

import pgbulk
from pgbulk import fingerprint
from pgbulk.chunks import Rows
from pgbulk.cli import main
from pgbulk.dsn import with_dbname
from pgbulk.load import load
from pgbulk.plan import Shard
from pgbulk.spec import load_spec
from pgbulk.verify import verify

PGBENCH = Path("/usr/lib/postgresql/15/bin/pgbench")
SHOP_SCALE = 3_000


def _pgbench() -> Path:
    if PGBENCH.exists():
        return PGBENCH
    found = shutil.which("pgbench")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pgbench not found (apt-get install postgresql-client-15)")
        pytest.skip("pgbench not found")
    return Path(found)


def _libpq_env(dsn: str) -> dict[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    keys = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
    }
    return {**os.environ, **{v: str(info[k]) for k, v in keys.items() if info.get(k) is not None}}


def test_shop_loads_verifies_and_fingerprints_through_the_ledger(db_dsn: str) -> None:
    dataset = load_spec("shop")
    report = load(db_dsn, dataset=dataset, scale=SHOP_SCALE, seed=11, workers=2)
    rows = Rows(dataset, SHOP_SCALE, seed=11)
    assert report.rows["customers"] == SHOP_SCALE and report.rows["products"] == 10_000
    # No dataset given: the ledger's definition is the whole spec, rebuilt by from_definition.
    assert fingerprint.of_database(db_dsn) == fingerprint.of_dataset(rows)
    checked = verify(db_dsn)
    assert checked.ok, checked.summary()
    names = {(c.name, c.table) for c in checked.checks}
    assert {
        ("nulls phone", "customers"),
        ("nulls shipped_at", "orders"),
        ("format category", "products"),
        ("distribution", "order_items"),
        ("numbering", "order_items"),
        ("references", "order_items"),
        ("unique order_id, line_no", "order_items"),
        ("law category", "products"),
        ("law price", "products"),
        ("law placed_at", "orders"),
        ("law status", "orders"),
        ("law quantity", "order_items"),
        ("format line_total", "order_items"),
        ("law amount", "payments"),
        ("law captured", "payments"),
    } <= names, sorted(names)
    with psycopg.connect(db_dsn) as conn:
        # unit_price is the referenced product's price, recomputed, never looked up.
        mismatched = conn.execute(
            "SELECT count(*) FROM order_items i JOIN products p ON p.id = i.product_id"
            " WHERE i.unit_price <> p.price"
        ).fetchone()
        assert mismatched == (0,)
        # line_total is expr = "unit_price * quantity": exactly SQL's numeric product.
        totals = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE line_total <> unit_price * quantity)"
            " FROM order_items"
        ).fetchone()
        assert totals is not None and totals[0] > SHOP_SCALE and totals[1] == 0
        phones = conn.execute("SELECT avg((phone IS NULL)::int)::float8 FROM customers").fetchone()
        assert phones is not None and 0.25 < phones[0] < 0.35
        # Zipf popularity: the most ordered product has far more than its uniform share.
        top = conn.execute(
            "SELECT max(n)::float8 / avg(n) FROM (SELECT count(*) n FROM order_items GROUP BY product_id) s"
        ).fetchone()
        assert top is not None and top[0] > 50
        constraints = {r[0] for r in conn.execute("SELECT conname FROM pg_constraint")}
        assert {
            "order_items_pkey",
            "order_items_product_id_fkey",
            "customers_email_key",
        } <= constraints


def test_a_spec_gives_the_same_rows_whatever_the_workers_shards_or_resume(
    pg18: object, db18_dsn: str
) -> None:
    from tests.integration.conftest import Server

    assert isinstance(pg18, Server)
    dataset = load_spec("shop")
    load(db18_dsn, dataset=dataset, scale=SHOP_SCALE, seed=5, workers=1)
    other = with_dbname(pg18.dsn, pg18.new_database())
    try:
        load(other, dataset=dataset, scale=SHOP_SCALE, seed=5, workers=2, shard=Shard(1, 2))
        load(other, dataset=dataset, scale=SHOP_SCALE, seed=5, workers=2, shard=Shard(0, 2))
        one, sharded = fingerprint.of_database(db18_dsn), fingerprint.of_database(other)
        assert one == sharded
        assert one == fingerprint.of_dataset(Rows(dataset, SHOP_SCALE, seed=5))
        # Half a load, then `pgbulk resume`, which knows the spec from the ledger alone.
        resumed = with_dbname(pg18.dsn, pg18.new_database())
        load(resumed, dataset=dataset, scale=SHOP_SCALE, seed=5, workers=1, shard=Shard(1, 2))
        with pytest.raises(SystemExit) as code:
            main(["resume", "--dsn", resumed, "--quiet"])
        assert code.value.code == 0
        assert fingerprint.of_database(resumed) == one
        pg18.drop_database(psycopg.conninfo.conninfo_to_dict(resumed)["dbname"])  # type: ignore[arg-type]
    finally:
        pg18.drop_database(psycopg.conninfo.conninfo_to_dict(other)["dbname"])  # type: ignore[arg-type]


def test_the_pgbench_spec_is_what_pgbench_i_makes_and_pgbench_runs_on_it(
    pg_server: object, db_dsn: str
) -> None:
    from tests.integration.conftest import Server

    assert isinstance(pg_server, Server)
    pgbench = _pgbench()
    dataset = load_spec("pgbench")
    load(db_dsn, dataset=dataset, scale=2, workers=2)
    reference = with_dbname(pg_server.dsn, pg_server.new_database())
    try:
        subprocess.run(
            [str(pgbench), "-i", "-q", "-s", "2"],
            env=_libpq_env(reference),
            check=True,
            capture_output=True,
        )
        tables = dataset.table_names
        assert fingerprint.of_database(db_dsn, tables=tables) == fingerprint.of_database(
            reference, tables=tables
        )
        with psycopg.connect(reference) as a, psycopg.connect(db_dsn) as b:
            shape = (
                "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
                " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                " WHERE c.relname LIKE 'pgbench%' AND a.attnum > 0 ORDER BY 1, 2"
            )
            assert a.execute(shape).fetchall() == b.execute(shape).fetchall()
            keys = "SELECT conname, contype FROM pg_constraint WHERE conname LIKE 'pgbench%' ORDER BY 1"
            assert a.execute(keys).fetchall() == b.execute(keys).fetchall()
        checked = verify(db_dsn)
        assert checked.ok, checked.summary()
        ran = subprocess.run(
            [str(pgbench), "-n", "-c", "2", "-t", "50"],
            env=_libpq_env(db_dsn),
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stderr
        assert "number of transactions actually processed: 100/100" in ran.stdout
    finally:
        pg_server.drop_database(psycopg.conninfo.conninfo_to_dict(reference)["dbname"])  # type: ignore[arg-type]


def test_a_bad_spec_is_one_line_exit_2_and_creates_nothing(
    db18_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\n[tables.a]\nrows = "scale"\ncolumns.id = { type = "int", gen = "normal", mena = 3 }\n'
    )
    with pytest.raises(SystemExit) as code:
        main(["load", "--spec", str(bad), "--scale", "10", "--dsn", db18_dsn])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "table a, column id: unknown parameter 'mena'" in err
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgbulk'"
        ).fetchone() == (0,)


def test_load_and_fingerprint_a_spec_from_the_command_line(
    db18_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as code:
        main(
            [
                "load",
                "--spec",
                "shop",
                "--scale",
                "500",
                "--seed",
                "2",
                "--dsn",
                db18_dsn,
                "--quiet",
            ]
        )
    assert code.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["fingerprint", "--dsn", db18_dsn, "--json"])
    in_server = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fingerprint", "--spec", "shop", "--scale", "500", "--seed", "2", "--json"])
    assert capsys.readouterr().out == in_server
    with pytest.raises(SystemExit) as code:
        main(["verify", "--dsn", db18_dsn])
    assert code.value.code == 0, capsys.readouterr().out


def test_the_contacts_spec_is_the_users_load_in_the_ledger(
    pg18: object, db18_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pgbulk.testing import DatabaseFactory
    from tests.integration.conftest import Server

    assert isinstance(pg18, Server)
    with pytest.raises(SystemExit) as code:
        main(["load", "--spec", "contacts", "--scale", "3000", "--seed", "4", "--dsn", db18_dsn])
    assert code.value.code == 0
    capsys.readouterr()
    want = fingerprint.of_dataset(pgbulk.contacts(3_000, seed=4))
    assert fingerprint.of_database(db18_dsn) == want
    # The same dataset as --users: resuming it by the shorthand has nothing left to load.
    resume = ["--if-exists", "resume", "--json"]
    with pytest.raises(SystemExit) as code:
        main(["load", "--users", "3000", "--seed", "4", "--dsn", db18_dsn, *resume])
    assert code.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows_loaded"], report["chunks_already_loaded"]) == (0, 1)
    with DatabaseFactory(pg18.dsn, workers=1) as factory:
        by_spec = factory(spec="contacts", scale=500, seed=4)
        assert fingerprint.of_database(by_spec) == fingerprint.of_dataset(
            pgbulk.contacts(500, seed=4)
        )


def test_the_plugins_factory_takes_a_spec_by_name_file_or_dict(
    pg18: object, tmp_path: Path
) -> None:
    from pgbulk.testing import DatabaseFactory
    from tests.integration.conftest import Server

    assert isinstance(pg18, Server)
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(
        'name = "tiny"\n[tables.t]\nrows = "scale"\nprimary_key = ["id"]\n'
        'columns.id = { type = "bigint", gen = "sequence" }\n'
        'columns.city = { type = "text", gen = "words", list = "cities" }\n'
    )
    with DatabaseFactory(pg18.dsn, workers=1) as factory:
        by_name = factory(spec="shop", scale=200, seed=1)
        by_file = factory(spec=spec_file, scale=50)
        with psycopg.connect(by_name) as conn:
            assert conn.execute("SELECT count(*) FROM customers").fetchone() == (200,)
        with psycopg.connect(by_file) as conn:
            assert conn.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (50, 50)
        assert fingerprint.of_database(by_name) == fingerprint.of_dataset(
            Rows(load_spec("shop"), 200, seed=1)
        )


def test_verify_finds_null_fractions_and_values_off_their_law(db18_dsn: str) -> None:
    dataset = load_spec("shop")
    load(db18_dsn, dataset=dataset, scale=SHOP_SCALE, seed=8, workers=1)
    with psycopg.connect(db18_dsn) as conn:
        conn.execute("UPDATE customers SET phone = NULL WHERE id % 2 = 0")
        conn.execute("UPDATE products SET category = 'food' WHERE id = 7")
        conn.execute("UPDATE orders SET status = 'delivered' WHERE id % 4 = 0")
    bad = {(c.name, c.table) for c in verify(db18_dsn).failures}
    assert bad == {
        ("nulls phone", "customers"),
        ("format category", "products"),
        ("law status", "orders"),
        ("fingerprint", "customers"),
        ("fingerprint", "products"),
        ("fingerprint", "orders"),
    }


def test_the_docs_example_loads_json_arrays_trees_and_nullable_refs(db_dsn: str) -> None:
    from pgbulk.spec import from_toml
    from tests.unit.test_docs_specs import _example

    dataset = from_toml(_example())
    load(db_dsn, dataset=dataset, scale=2_000, seed=4, workers=2)
    assert fingerprint.of_database(db_dsn) == fingerprint.of_dataset(Rows(dataset, 2_000, seed=4))
    checked = verify(db_dsn)
    assert checked.ok, checked.summary()
    with psycopg.connect(db_dsn) as conn:
        depth = conn.execute(
            "WITH RECURSIVE up(id, d) AS (SELECT id, 0 FROM authors WHERE mentor_id IS NULL"
            " UNION ALL SELECT a.id, d + 1 FROM authors a JOIN up ON a.mentor_id = up.id)"
            " SELECT count(*), max(d) FROM up"
        ).fetchone()
        assert depth == (2_000, 4)  # every author reachable from the root, depth log10(2000)
        kinds = conn.execute(
            "SELECT DISTINCT jsonb_typeof(meta->'words'), jsonb_typeof(meta->'draft') FROM posts"
        ).fetchall()
        assert kinds == [("number", "boolean")]
        assert conn.execute("SELECT max(cardinality(tags)) FROM posts").fetchone() == (4,)
