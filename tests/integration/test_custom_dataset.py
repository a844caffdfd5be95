"""A dataset built in Python (tests/shop.py), not contacts: loaded, verified, fingerprinted
and exported by the same code, on PostgreSQL 15 and 18."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from pgbulk import fingerprint
from pgbulk.chunks import Rows
from pgbulk.errors import PgbulkError, TypeMismatch
from pgbulk.export import export_parquet
from pgbulk.load import load
from pgbulk.plan import Shard
from pgbulk.verify import verify
from tests import shop

SCALE = 1_200


def test_a_custom_dataset_loads_with_its_types_keys_and_nulls(db_dsn: str) -> None:
    dataset = shop.dataset()
    report = load(db_dsn, dataset=dataset, scale=SCALE, seed=3, workers=2)
    rows = Rows(dataset, SCALE, seed=3)
    assert report.rows == {t: sum(c.rows(t) for c in rows) for t in dataset.table_names}
    assert report.rows["stores"] == 7 and report.rows["customers"] == SCALE

    with psycopg.connect(db_dsn) as conn:
        types = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'orders'::regclass AND attnum > 0"
            ).fetchall()
        )
        assert types == {
            "id": "uuid",
            "customer_id": "bigint",
            "line": "text",
            "total": "numeric(12,2)",
            "placed": "timestamp without time zone",
        }
        # The values the generator made, read back through the server's own text output.
        chunk = rows.chunk(1)
        totals = chunk.values("orders", "total")
        first = conn.execute(
            "SELECT total, line FROM orders WHERE customer_id = 1000 ORDER BY line LIMIT 1"
        ).fetchone()
        assert first == (Decimal(f"{totals[0]:.2f}"), "order 0 of 1000")
        nulls = conn.execute("SELECT count(*) FILTER (WHERE joined IS NULL) FROM customers")
        assert 0.05 * SCALE < nulls.fetchone()[0] < 0.15 * SCALE  # type: ignore[index]
        constraints = {r[0] for r in conn.execute("SELECT conname FROM pg_constraint")}
        assert {"orders_customer_id_fkey", "customers_email_key", "customers_code_key"} <= (
            constraints
        )
        conn.execute("DELETE FROM customers WHERE id = 1000")  # ON DELETE CASCADE, as modelled
        left = conn.execute("SELECT count(*) FROM orders WHERE customer_id = 1000").fetchone()
        assert left == (0,)
        conn.rollback()

    with pytest.raises(PgbulkError, match="'shop' is not one pgbulk knows by name"):
        fingerprint.of_database(db_dsn)
    in_server = fingerprint.of_database(db_dsn, tables=dataset.table_names)
    assert in_server == fingerprint.of_dataset(rows)
    checked = verify(db_dsn, dataset=dataset)
    assert checked.ok, checked.summary()
    names = {(c.name, c.table) for c in checked.checks}
    assert {
        ("format name", "stores"),
        ("format email", "customers"),
        ("unique code", "customers"),
        ("format line", "orders"),
        ("numbering", "orders"),
        ("distribution", "orders"),
        ("references", "orders"),
    } <= names


def test_verify_finds_a_changed_amount_of_a_custom_dataset(db18_dsn: str) -> None:
    dataset = shop.dataset()
    load(db18_dsn, dataset=dataset, scale=300, seed=4, workers=1)
    with psycopg.connect(db18_dsn) as conn:
        conn.execute("UPDATE orders SET total = total + 0.01 WHERE line = 'order 0 of 1010'")
    bad = {(c.name, c.table) for c in verify(db18_dsn, dataset=dataset).failures}
    assert bad == {("fingerprint", "orders")}


def test_a_column_whose_type_changed_stops_a_resume_before_any_row(db18_dsn: str) -> None:
    dataset = shop.dataset()
    load(db18_dsn, dataset=dataset, scale=SCALE, seed=5, shard=Shard(0, 2))
    with psycopg.connect(db18_dsn) as conn:
        conn.execute("ALTER TABLE orders ALTER COLUMN total TYPE float8")
        before = conn.execute("SELECT count(*) FROM pgbulk.chunks").fetchone()
    with pytest.raises(TypeMismatch) as info:
        load(db18_dsn, dataset=dataset, scale=SCALE, seed=5, shard=Shard(1, 2))
    assert str(info.value) == "public.orders.total: expected numeric(12,2), found double precision"
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pgbulk.chunks").fetchone() == before


def test_a_custom_dataset_exports_with_arrow_types(tmp_path: Path) -> None:
    dataset = shop.dataset()
    report = export_parquet(tmp_path, dataset=dataset, scale=SCALE, seed=3, workers=2)
    assert report.rows["orders"] == sum(c.rows("orders") for c in Rows(dataset, SCALE, seed=3))
    orders = pq.read_table(tmp_path / "orders")
    assert str(orders.schema.field("total").type) == "decimal128(12, 2)"
    assert str(orders.schema.field("placed").type) == "timestamp[us]"
    customers = pq.read_table(tmp_path / "customers")
    assert customers.column("joined").null_count == sum(
        int((c.values("customers", "joined") != c.values("customers", "joined")).sum())
        for c in Rows(dataset, SCALE, seed=3)
        if c.rows("customers")
    )


def test_a_value_the_type_refuses_names_table_column_and_row(db18_dsn: str) -> None:
    dataset = shop.spiked(at=1_234, value=70_000)
    with pytest.raises(PgbulkError) as info:
        load(db18_dsn, dataset=dataset, scale=2_000, seed=1, workers=2)
    assert "gauges.level: row 1,234: 70000 is out of range for smallint" in str(info.value)
    # Nothing of the refused unit reached the table; the others committed with their
    # ledger rows, so a resume after fixing the generator loads only what is missing.
    with psycopg.connect(db18_dsn) as conn:
        ids = conn.execute(
            "SELECT min(id), max(id), count(*) FROM gauges WHERE id BETWEEN 1001 AND 1500"
        )
        assert ids.fetchone() == (None, None, 0)
        chunks = {c for (c,) in conn.execute("SELECT chunk FROM pgbulk.chunks")}
        assert 2 not in chunks
