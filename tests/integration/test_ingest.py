"""pgbulk.ingest against real servers (PostgreSQL 18 and 15): what goes in reads back equal."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq
import pytest

import pgbulk
from pgbulk import fingerprint
from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.errors import PgbulkError, TargetNotEmpty, TypeMismatch
from pgbulk.export import export_parquet
from pgbulk.ingestion import RowsRejected

I64 = 2**63 - 1


def _every_type() -> pa.Table:
    """One column per supported Arrow type, with NULLs and extreme values."""
    utc = dt.UTC
    u = uuid.UUID("0190a6f2-7b1c-7cc3-8a2e-2f9d7c1b5e11")
    return pa.table(
        {
            "i8": pa.array([-128, 127, None], pa.int8()),
            "i16": pa.array([-32768, 32767, None], pa.int16()),
            "i32": pa.array([-(2**31), 2**31 - 1, None], pa.int32()),
            "i64": pa.array([-(2**63), I64, None], pa.int64()),
            "u8": pa.array([0, 255, None], pa.uint8()),
            "u16": pa.array([0, 65535, None], pa.uint16()),
            "u32": pa.array([0, 2**32 - 1, None], pa.uint32()),
            "u64": pa.array([0, 2**64 - 1, None], pa.uint64()),
            "f32": pa.array([-3.4e38, 1.5, None], pa.float32()),
            "f64": pa.array([-1.7976931348623157e308, 5e-324, None], pa.float64()),
            "b": pa.array([True, False, None]),
            "d128": pa.array(
                [decimal.Decimal("-9999999999999.99"), decimal.Decimal("0.01"), None],
                pa.decimal128(15, 2),
            ),
            "d256": pa.array(
                [decimal.Decimal("1" * 50 + ".5"), decimal.Decimal("-0.5"), None],
                pa.decimal256(60, 1),
            ),
            "s": pa.array(["żółw", "", None]),
            "ls": pa.array(["a" * 1000, "x", None], pa.large_string()),
            "sv": pa.array(["view", "of strings", None], pa.string_view()),
            "bin": pa.array([b"\x00\xff", b"", None], pa.binary()),
            "d32": pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None], pa.date32()),
            "d64": pa.array([dt.date(1970, 1, 1), dt.date(2000, 2, 29), None], pa.date64()),
            "t64": pa.array([dt.time(0, 0), dt.time(23, 59, 59, 999999), None], pa.time64("us")),
            "t32": pa.array([dt.time(12, 0, 1), dt.time(0, 0, 0), None], pa.time32("s")),
            "ts_s": pa.array(
                [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), None],
                pa.timestamp("s"),
            ),
            "ts_us": pa.array(
                [dt.datetime(2024, 2, 29, 1, 2, 3, 456789), dt.datetime(1900, 1, 1), None],
                pa.timestamp("us"),
            ),
            "tstz": pa.array(
                [
                    dt.datetime(2024, 1, 1, tzinfo=utc),
                    dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=utc),
                    None,
                ],
                pa.timestamp("ms", tz="UTC"),
            ),
            "dur": pa.array(
                [dt.timedelta(days=-3, microseconds=1), dt.timedelta(hours=25), None],
                pa.duration("us"),
            ),
            "fsb16": pa.array([u.bytes, b"\x00" * 16, None], pa.binary(16)),
            "u": pa.ExtensionArray.from_storage(
                pa.uuid(), pa.array([u.bytes, b"\xff" * 16, None], pa.binary(16))
            ),
            "li": pa.array([[1, None, 3], [], None], pa.list_(pa.int32())),
            "ls_text": pa.array([["a", "b"], [None], None], pa.list_(pa.string())),
            "st": pa.array(
                [{"x": 1, "y": "a"}, {"x": None, "y": "b"}, None],
                pa.struct([("x", pa.int64()), ("y", pa.string())]),
            ),
            "dict": pa.array(["red", "green", None]).dictionary_encode(),
            "mp": pa.array([[("k", 1), ("z", None)], [], None], pa.map_(pa.string(), pa.int64())),
            "nested": pa.array([[[1, 2], [3]], [], None], pa.list_(pa.list_(pa.int16()))),
        }
    )


def _read_back(dsn: str, table: str, columns: list[str]) -> dict[str, list[object]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY i32 NULLS LAST"
        ).fetchall()
    return {c: [r[i] for r in rows] for i, c in enumerate(columns)}


def test_every_supported_type_with_nulls_and_extremes_reads_back_equal(db_dsn: str) -> None:
    table = _every_type()
    report = pgbulk.ingest(db_dsn, "everything", table, create=True, workers=1)
    assert report.state == "complete" and report.rows == 3 and report.created
    back = _read_back(db_dsn, "everything", table.column_names)
    source = table.to_pylist()  # already in i32 order
    with psycopg.connect(db_dsn) as conn:
        types = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'everything'::regclass AND attnum > 0"
            ).fetchall()
        )
    assert types["u64"] == "numeric(20,0)" and types["fsb16"] == "uuid" and types["st"] == "jsonb"
    assert types["li"] == "integer[]" and types["dict"] == "text" and types["dur"] == "interval"
    assert types["mp"] == "jsonb" and types["nested"] == "jsonb"
    for name in table.column_names:
        want = [row[name] for row in source]
        got = back[name]
        if name == "fsb16":
            want = [None if v is None else uuid.UUID(bytes=v) for v in want]
        elif name == "u64":
            want = [None if v is None else decimal.Decimal(v) for v in want]
        elif name == "f32":
            # Text results print float4's shortest form: compare as float4.
            want = [None if v is None else np.float32(v) for v in want]
            got = [None if v is None else np.float32(v) for v in got]
        elif name == "bin":
            got = [None if v is None else bytes(v) for v in got]
        elif name == "mp":  # a map is a JSON object
            want = [None if v is None else dict(v) for v in want]
        elif name == "dict":
            want = [None if v is None else str(v) for v in want]
        assert got == want, name


def test_nanoseconds_are_truncated_with_a_warning(db18_dsn: str) -> None:
    ts = pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns"))
    report = pgbulk.ingest(db18_dsn, "ns", pa.table({"ts": ts}), create=True)
    assert any("ts is timestamp[ns]" in w and "truncated" in w for w in report.warnings)
    with psycopg.connect(db18_dsn) as conn:
        got = conn.execute("SELECT ts FROM ns WHERE ts IS NOT NULL").fetchone()
    assert got is not None and got[0] == dt.datetime(2023, 11, 14, 22, 13, 20, 123456)


def test_export_then_ingest_gives_the_generators_fingerprint(db_dsn: str, tmp_path: Path) -> None:
    spec = ContactsSpec(chunk_users=700)
    export_parquet(tmp_path / "out", users=2_000, seed=5, spec=spec, workers=1)
    tables = dataset(spec).table_names
    for t in tables:
        report = pgbulk.ingest(db_dsn, t, tmp_path / "out" / t, create=True, workers=2)
        assert report.units_total == 3  # one row group per exported chunk
    in_server = fingerprint.of_database(db_dsn, "public", tables)
    assert in_server == fingerprint.of_dataset(Rows(dataset(spec), 2_000, seed=5))
    with psycopg.connect(db_dsn) as conn:
        kinds = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'users'::regclass AND attnum > 0"
            ).fetchall()
        )
    assert kinds["id"] == "uuid"  # from the export's pgbulk.type metadata, not text


def test_existing_table_is_checked_before_the_first_row(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a integer, b date, c text)")
    source = pa.table({"a": pa.array([1.5]), "b": pa.array(["x"]), "d": pa.array([1])})
    with pytest.raises(TypeMismatch) as e:
        pgbulk.ingest(db18_dsn, "t", source)
    lines = str(e.value).splitlines()
    assert lines == [
        "public.t.a: Arrow type double cannot be loaded into integer",
        "public.t.b: Arrow type string cannot be loaded into date",
        "public.t.d: the target has no such column (Arrow type int64)",
    ]
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_narrowing_is_checked_on_the_values(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a smallint, b integer)")
    ok = pa.table({"a": pa.array([1, -32768], pa.int64()), "b": pa.array([2, 3], pa.int64())})
    assert pgbulk.ingest(db18_dsn, "t", ok).rows == 2
    bad = pa.table({"a": pa.array([5, 70000], pa.int64()), "b": pa.array([2, 3], pa.int64())})
    with pytest.raises(RowsRejected) as e:
        pgbulk.ingest(db18_dsn, "t", bad, if_exists="append")
    assert "rows 0..1 of the table, row 1 (counting from 0): column a: " in str(e.value)
    assert "smallint" in str(e.value) or "int2" in str(e.value) or "range" in str(e.value)


def _write_groups(path: Path, tables: list[pa.Table]) -> None:
    with pq.ParquetWriter(path, tables[0].schema) as w:
        for t in tables:
            w.write_table(t)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (pa.array(["ok", "nul\x00byte"]), "NUL"),
        (pa.array([1, 70000], pa.int32()), "70,000"),
    ],
    ids=["nul-in-text", "int2-range"],
)
def test_a_bad_value_stops_its_unit_naming_file_row_group_and_row(
    db18_dsn: str, tmp_path: Path, bad: pa.Array, says: str
) -> None:
    kind = "text" if pa.types.is_string(bad.type) else "smallint"
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE t (id bigint, v {kind})")
    good = pa.table({"id": pa.array([0, 1], pa.int64()), "v": bad.slice(0, 1).take([0, 0])})
    _write_groups(tmp_path / "a.parquet", [good, good])
    bad_table = pa.table({"id": pa.array([2, 3], pa.int64()), "v": bad})
    _write_groups(tmp_path / "b.parquet", [good, bad_table])
    with pytest.raises(RowsRejected) as e:
        pgbulk.ingest(db18_dsn, "t", tmp_path, workers=1)
    message = str(e.value)
    assert "\n" not in message
    assert "b.parquet, row group 1, row 1 (counting from 0): column v:" in message
    assert says in message or says.replace(",", "") in message
    assert "3 units are committed and recorded; missing: b.parquet#1" in message
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM pgbulk.ingest_units").fetchone() == (3,)
    # Fix the file (same row groups), re-run: only the missing unit loads.
    fixed = pa.table({"id": pa.array([2, 3], pa.int64()), "v": bad.slice(0, 1).take([0, 0])})
    _write_groups(tmp_path / "b.parquet", [good, fixed])
    report = pgbulk.ingest(db18_dsn, "t", tmp_path, workers=2, if_exists="append")
    assert (report.units_loaded, report.units_already_loaded, report.rows) == (1, 3, 8)
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE id >= 2) FROM t"
        ).fetchone() == (8, 2)


def test_a_timestamp_beyond_postgresql_is_refused(db18_dsn: str) -> None:
    ts = pa.array([0, 300_000 * 366 * 86400], pa.timestamp("s"))
    with pytest.raises(RowsRejected, match=r"row 1 \(counting from 0\): column ts: "):
        pgbulk.ingest(db18_dsn, "t", pa.table({"ts": ts}), create=True)


def test_the_servers_own_refusal_is_placed_too(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a bigint NOT NULL, j jsonb)")
    source = pa.table({"a": pa.array([1, 2, 3]), "j": pa.array(['{"a": 1}', "{}", "{nope"])})
    with pytest.raises(RowsRejected) as e:
        pgbulk.ingest(db18_dsn, "t", source, batch_rows=2)
    assert "rows 0..2 of the table, row 2 (counting from 0): the server: " in str(e.value)


def test_if_exists_rules(db18_dsn: str) -> None:
    source = pa.table({"a": pa.array(range(10))})
    with pytest.raises(PgbulkError, match="does not exist: create it, or add --create"):
        pgbulk.ingest(db18_dsn, "t", source)
    pgbulk.ingest(db18_dsn, "t", source, create=True, primary_key=["a"], source_name="ten")
    with pytest.raises(TargetNotEmpty, match="holds this source already"):
        pgbulk.ingest(db18_dsn, "t", source, source_name="ten")
    other = pa.table({"a": pa.array(range(10, 15))})
    with pytest.raises(TargetNotEmpty, match="already holds rows: --if-exists append"):
        pgbulk.ingest(db18_dsn, "t", other)
    assert pgbulk.ingest(db18_dsn, "t", other, if_exists="append").rows_loaded == 5
    again = pgbulk.ingest(db18_dsn, "t", source, if_exists="append", source_name="ten")
    assert again.rows_loaded == 0 and "nothing to do" in again.notes[-1]
    replaced = pgbulk.ingest(db18_dsn, "t", other, if_exists="replace", primary_key=["a"])
    assert replaced.created and replaced.rows_loaded == 5
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (5,)
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'p'"
        ).fetchone() == (1,)


def test_rebuild_indexes_drops_and_builds_them_around_the_load(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a bigint PRIMARY KEY, b text)")
        conn.execute("CREATE INDEX t_b_idx ON t (b)")
    source = pa.table(
        {"a": pa.array(range(1000)), "b": pa.array([str(i % 7) for i in range(1000)])}
    )
    report = pgbulk.ingest(db18_dsn, "t", source, rebuild_indexes=True)
    assert "t_b_idx" in report.step_seconds
    assert any("1 indexes dropped for the load and rebuilt" in n for n in report.notes)
    with psycopg.connect(db18_dsn) as conn:
        names = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 't'")
        }
    assert names == {"t_pkey", "t_b_idx"}
    more = pa.table({"a": pa.array(range(1000, 1010)), "b": pa.array(["x"] * 10)})
    kept = pgbulk.ingest(db18_dsn, "t", more, if_exists="append")
    assert any("2 indexes were kept up to date" in n for n in kept.notes)


class _Stream:
    """Anything with __arrow_c_stream__ (what pandas, polars and DuckDB hand over)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)


def test_streams_and_record_batches(db18_dsn: str) -> None:
    table = pa.table({"a": pa.array(range(25_000)), "s": pa.array(["v"] * 25_000)})
    report = pgbulk.ingest(db18_dsn, "t", _Stream(table), create=True, unit_rows=10_000)
    assert (report.units_total, report.rows) == (3, 25_000)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=4000))
    report = pgbulk.ingest(db18_dsn, "t", reader, if_exists="append", source_name="again")
    batch = table.to_batches()[0].slice(0, 7)
    pgbulk.ingest(db18_dsn, "t", batch, if_exists="append", columns=["a"])
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*), count(s) FROM t").fetchone() == (50_007, 50_000)


def test_an_interrupted_stream_resumes_with_no_duplicate_and_no_gap(db18_dsn: str) -> None:
    n = 40_000
    table = pa.table({"id": pa.array(range(n), pa.int64())})

    def failing() -> pa.RecordBatchReader:
        def batches():  # type: ignore[no-untyped-def]
            for i, b in enumerate(table.to_batches(max_chunksize=5_000)):
                if i == 5:
                    raise OSError("the network went away")
                yield b

        return pa.RecordBatchReader.from_batches(table.schema, batches())

    with pytest.raises(PgbulkError, match="reading the source failed"):
        pgbulk.ingest(db18_dsn, "t", failing(), create=True, unit_rows=10_000, source_name="feed")
    with psycopg.connect(db18_dsn) as conn:
        loaded = conn.execute("SELECT count(*) FROM t").fetchone()
    assert loaded == (20_000,)
    whole = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=5_000))
    report = pgbulk.ingest(
        db18_dsn, "t", whole, if_exists="append", unit_rows=10_000, source_name="feed"
    )
    assert report.units_loaded == 2 and report.rows == n
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM t").fetchone() == (
            n,
            n,
            n * (n - 1) // 2,
        )


def test_memory_is_bounded_by_the_batch_not_the_row_group(db18_dsn: str, tmp_path: Path) -> None:
    n = 2_000_000
    path = tmp_path / "one-group.parquet"
    ids = pa.array(np.arange(n, dtype=np.int64))
    text = pa.compute.binary_join_element_wise("x" * 40, pa.compute.cast(ids, pa.string()), "")
    pq.write_table(pa.table({"id": ids, "s": text}), path, row_group_size=n)
    del ids, text
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    small = pgbulk.ingest(db18_dsn, "t", path, create=True, workers=1, batch_rows=50_000)
    whole = pgbulk.ingest(db18_dsn, "t", path, if_exists="replace", workers=1, batch_rows=n)
    assert small.rows == whole.rows == n
    # The row group's 2M rows are about 110 MB decoded and as much again encoded.
    assert small.peak_memory_bytes < whole.peak_memory_bytes - 100 * 2**20, (
        small.peak_memory_bytes >> 20,
        whole.peak_memory_bytes >> 20,
    )
