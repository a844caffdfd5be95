"""The pure parts of ingest: units of a source, the Arrow -> table mapping, bad-row messages."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.ingestion import mapping
from pgbulk.ingestion.source import expand_paths, format_of, open_source, read_unit
from pgbulk.ingestion.worker import encode_batch, rejected_message
from pgbulk.types import PgType


def _table(n: int) -> pa.Table:
    return pa.table(
        {"id": pa.array(range(n), pa.int64()), "s": pa.array([str(i) for i in range(n)])}
    )


def test_parquet_units_are_row_groups_and_batches_are_bounded(tmp_path: Path) -> None:
    pq.write_table(_table(10_000), tmp_path / "a.parquet", row_group_size=3_000)
    src = open_source(tmp_path / "a.parquet")
    units = list(src.units())
    assert [(u.key, u.rows) for u in units] == [
        ("a.parquet#0", 3000),
        ("a.parquet#1", 3000),
        ("a.parquet#2", 3000),
        ("a.parquet#3", 1000),
    ]
    assert units[1].where == "a.parquet, row group 1"
    assert src.total_rows == 10_000 and not src.in_memory
    batches = list(read_unit(units[0], ["id"], batch_rows=1_000))
    assert [(o, b.num_rows) for o, b in batches] == [(0, 1000), (1000, 1000), (2000, 1000)]
    assert batches[1][1].column(0).to_pylist()[0] == 1000
    assert batches[0][1].schema.names == ["id"]


def test_file_identity_is_the_paths_not_the_contents(tmp_path: Path) -> None:
    pq.write_table(_table(10), tmp_path / "a.parquet")
    first = open_source(str(tmp_path)).identity
    pq.write_table(_table(12), tmp_path / "a.parquet")  # fixed in place: same units
    assert open_source(str(tmp_path)).identity == first
    pq.write_table(_table(10), tmp_path / "b.parquet")
    assert open_source(str(tmp_path)).identity != first


def test_in_memory_sources_are_new_each_time_unless_named() -> None:
    t = _table(10)
    assert open_source(t).identity != open_source(t).identity
    assert open_source(t, name="daily").identity == "daily"


def test_table_and_stream_units(tmp_path: Path) -> None:
    t = _table(2_500)
    src = open_source(t, unit_rows=1_000)
    assert [(u.key, u.rows) for u in src.units()] == [
        ("rows 0", 1000),
        ("rows 1000", 1000),
        ("rows 2000", 500),
    ]
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=700))
    stream = open_source(reader, unit_rows=1_000)
    assert stream.total_rows is None and stream.in_memory
    units = list(stream.units())
    assert [(u.key, u.rows) for u in units] == [
        ("rows 0", 1000),
        ("rows 1000", 1000),
        ("rows 2000", 500),
    ]
    assert units[1].data is not None and units[1].data.column("id")[0].as_py() == 1000
    assert open_source(t.to_batches()[0]).total_rows == 2_500


def test_ipc_units_gather_record_batches(tmp_path: Path) -> None:
    t = _table(3_000)
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink, paipc.new_file(sink, t.schema) as w:
        for b in t.to_batches(max_chunksize=1_000):
            w.write_batch(b)
    src = open_source(tmp_path / "t.arrow")
    units = list(src.units())
    assert [(u.key, u.rows, u.batches) for u in units] == [("t.arrow#0", 3000, (0, 3))]
    assert sum(b.num_rows for _, b in read_unit(units[0], ["id", "s"], batch_rows=800)) == 3000


def test_csv_units_are_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for i in range(2):
        pacsv.write_csv(_table(5), tmp_path / "d" / f"p{i}.csv")
    (tmp_path / "d" / "_SUCCESS").write_text("")
    src = open_source(str(tmp_path / "d"))
    assert [u.key for u in src.units()] == ["p0.csv", "p1.csv"] and src.total_rows is None
    assert src.csv_schema is not None and src.csv_schema.field("id").type == pa.int64()


def test_paths_directories_and_globs(tmp_path: Path) -> None:
    for name in ("a.parquet", "b.parquet", ".hidden.parquet", "notes.txt"):
        (tmp_path / name).write_text("")
    found = expand_paths([str(tmp_path), str(tmp_path / "a.parquet")], None)
    assert [Path(f).name for f in found] == ["a.parquet", "b.parquet"]
    assert [Path(f).name for f in expand_paths([str(tmp_path / "*.parquet")], None)] == [
        "a.parquet",
        "b.parquet",
    ]
    with pytest.raises(PgbulkError, match="no file matches"):
        expand_paths([str(tmp_path / "*.csv")], None)
    with pytest.raises(PgbulkError, match="no such file or directory"):
        expand_paths([str(tmp_path / "nope.parquet")], None)
    assert (
        format_of("x.csv.gz") == "csv"
        and format_of("x.feather") == "ipc"
        and format_of("x.txt") is None
    )


def test_a_source_must_be_arrow_or_paths() -> None:
    with pytest.raises(ParameterError, match="__arrow_c_stream__"):
        open_source(42)
    with pytest.raises(ParameterError, match="must be one of parquet, csv, ipc"):
        open_source("x.parquet", file_format="orc")


def test_files_of_another_schema_are_refused(tmp_path: Path) -> None:
    pq.write_table(_table(3), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": pa.array(["x"])}), tmp_path / "b.parquet")
    with pytest.raises(
        PgbulkError, match=r"b.parquet: its columns differ from the first file's: id \(int64\)"
    ):
        open_source(str(tmp_path))


def test_create_table_follows_the_mapping_and_the_export_metadata() -> None:
    fields = [
        pa.field("id", pa.string(), nullable=False, metadata={b"pgbulk.type": b"uuid"}),
        pa.field("n", pa.uint32()),
        pa.field("price", pa.decimal128(12, 2)),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("at", pa.timestamp("ns", tz="Europe/Paris")),
        pa.field("doc", pa.struct([("a", pa.int8())])),
    ]
    text = mapping.create_table("s", "t", fields).as_string()
    assert text == (
        'CREATE TABLE "s"."t" ("id" uuid NOT NULL, "n" bigint, "price" numeric(12,2), '
        '"tags" text[], "at" timestamp with time zone, "doc" jsonb) WITH (autovacuum_enabled = false)'
    )
    with pytest.raises(ParameterError, match="Arrow type"):
        mapping.pg_type_of(pa.field("x", pa.dense_union([pa.field("a", pa.int8())])))


def test_mismatches_come_from_the_type_layer() -> None:
    fields = [
        pa.field("a", pa.int64()),
        pa.field("b", pa.float64()),
        pa.field("c", pa.string()),
        pa.field("d", pa.int8()),
    ]
    target = {"a": PgType("int4"), "b": PgType("int4"), "c": PgType("uuid")}
    assert mapping.mismatches("public", "t", fields, target) == [
        "public.t.b: Arrow type double cannot be loaded into integer",
        "public.t.d: the target has no such column (Arrow type int8)",
    ]
    assert mapping.accepts(pa.date32(), PgType("timestamptz"))
    assert not mapping.accepts(pa.bool_(), PgType("int4"))


def test_nanosecond_columns_are_warned_about() -> None:
    fields = [
        pa.field("a", pa.timestamp("ns")),
        pa.field("b", pa.timestamp("us")),
        pa.field("c", pa.list_(pa.duration("ns"))),
        pa.field("d", pa.time64("ns")),
    ]
    warned = mapping.truncation_warnings(fields)
    assert [w.split(" ")[1] for w in warned] == ["a", "c", "d"]


def test_select_fields() -> None:
    schema = pa.schema([("a", pa.int8()), ("b", pa.int8())])
    assert [f.name for f in mapping.select_fields(schema, ["b"])] == ["b"]
    with pytest.raises(ParameterError, match="no column z; it has a, b"):
        mapping.select_fields(schema, ["z"])
    with pytest.raises(ParameterError, match="named twice"):
        mapping.select_fields(schema, ["a", "a"])


def test_primary_key_sql() -> None:
    statement = mapping.primary_key_sql("public", "t", ["a", "b"])
    assert isinstance(statement, sql.Composed)
    assert statement.as_string() == 'ALTER TABLE "public"."t" ADD PRIMARY KEY ("a", "b")'


def test_a_bad_value_is_named_by_unit_row_and_column() -> None:
    batch = pa.record_batch({"a": pa.array([1, 70_000], pa.int64())})
    with pytest.raises(PgbulkError) as e:
        encode_batch(batch, ("a",), (PgType("int2"),))
    assert getattr(e.value, "row", None) == 1 and getattr(e.value, "column", None) == "a"
    src = open_source(pa.table({"a": pa.array([1])}))
    unit = next(src.units())
    assert rejected_message(unit, 41, "a", "too big") == (
        "rows 0..0 of the table, row 41 (counting from 0): column a: too big; fix or remove that row"
    )


def test_encode_batch_is_a_whole_copy_stream() -> None:
    batch = pa.record_batch({"a": pa.array([1, None], pa.int32())})
    stream = bytes(encode_batch(batch, ("a",), (PgType("int4"),)))
    assert stream.startswith(b"PGCOPY\n\xff\r\n\x00") and stream.endswith(b"\xff\xff")
    assert b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01" in stream  # 1 field, 4 bytes, 1
    assert b"\x00\x01\xff\xff\xff\xff" in stream  # 1 field, NULL
