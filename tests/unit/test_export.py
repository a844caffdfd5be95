"""Parquet export without a database: layout, types, content, and the directory rules."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pgbulk
from pgbulk.arrow import chunk_table, string_array
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.errors import ParameterError, PgbulkError, TargetNotEmpty
from pgbulk.export import MANIFEST, export_parquet, part_name
from pgbulk.generate import Text
from tests.copy_stream import decode_stream

TABLES = ("users", "emails", "phone_numbers")
SMALL: dict[str, Any] = {"users": 2_500, "seed": 5, "spec": ContactsSpec(chunk_users=1_000)}


def _as_text(field: bytes | None, type_name: str) -> str | None:
    if field is None:
        return None
    return str(uuid.UUID(bytes=field)) if type_name == "uuid" else field.decode()


def test_string_array_packs_fixed_and_variable_widths() -> None:
    fixed = Text(np.frombuffer(b"abcdefghi", dtype=np.uint8).reshape(3, 3))
    assert string_array(fixed).to_pylist() == ["abc", "def", "ghi"]
    ragged = Text(
        np.frombuffer(b"ab------wxyz", dtype=np.uint8).reshape(3, 4),
        np.array([2, 0, 4], dtype=np.int32),
    )
    array = string_array(ragged)
    array.validate(full=True)
    assert array.to_pylist() == ["ab", "", "wxyz"]
    assert string_array(Text(np.zeros((0, 5), dtype=np.uint8))).to_pylist() == []


@pytest.mark.parametrize("uuid_version", [4, 7])
def test_chunk_tables_hold_the_rows_the_loader_copies(uuid_version: int) -> None:
    ds = pgbulk.contacts(1_500, seed=9, chunk_users=1_000, uuid_version=uuid_version)
    for chunk in ds:
        for table in TABLES:
            # What the loader sends, read back from its COPY stream by the tests' own decoder.
            copied = decode_stream(bytes(chunk.copy_buffer(table)))
            columns = ds.dataset.table(table).columns
            want = {
                c.name: [_as_text(row[i], c.type.name) for row in copied]
                for i, c in enumerate(columns)
            }
            assert chunk_table(chunk, table).to_pydict() == want


def test_export_layout_types_and_content(tmp_path: Path) -> None:
    out = tmp_path / "export"
    report = export_parquet(out, workers=1, **SMALL)
    ds = pgbulk.contacts(2_500, seed=5, chunk_users=1_000)

    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "emails", "phone_numbers", "users"]
    for table in TABLES:
        assert sorted(p.name for p in (out / table).iterdir()) == [part_name(c) for c in range(3)]
        for chunk in ds:
            path = out / table / part_name(chunk.index)
            meta = pq.ParquetFile(path).metadata
            assert meta.num_row_groups == 1
            assert meta.num_rows == chunk.rows(table)
            for col in range(meta.num_columns):
                assert meta.row_group(0).column(col).compression == "ZSTD"
            written = pq.read_table(path)
            model = ds.dataset.table(table)
            assert written.schema.names == list(model.column_names)
            types = [f.metadata[b"pgbulk.type"].decode() for f in written.schema]
            assert types == [c.type.sql for c in model.columns]
            assert all(f.type == pa.string() and not f.nullable for f in written.schema)
            assert written.equals(chunk_table(chunk, table))
            provenance = json.loads(written.schema.metadata[b"pgbulk"])
            assert provenance["seed"] == 5 and provenance["chunk"] == chunk.index
        # Each table directory reads as one table, as BigQuery and DuckDB read it.
        assert pq.read_table(out / table).num_rows == report.rows[table]
        assert report.bytes[table] == sum(p.stat().st_size for p in (out / table).iterdir())

    assert report.rows == {t: sum(c.rows(t) for c in ds) for t in TABLES}
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["dataset"] == ContactsSpec(chunk_users=1_000).to_dict()
    assert (manifest["seed"], manifest["scale"], manifest["chunks"]) == (5, 2_500, 3)
    assert manifest["pgbulk_version"] == pgbulk.__version__
    assert {t: v["rows"] for t, v in manifest["tables"].items()} == report.rows
    assert manifest["tables"]["emails"]["columns"] == {
        "id": "uuid",
        "user_id": "uuid",
        "email": "text",
    }


def test_the_pool_writes_the_same_files_as_one_process(tmp_path: Path) -> None:
    one = export_parquet(tmp_path / "one", workers=1, **SMALL)
    two = export_parquet(tmp_path / "two", workers=2, **SMALL)
    assert two.workers == 2
    assert (one.rows, one.bytes) == (two.rows, two.bytes)
    for table in TABLES:
        for c in range(3):
            name = f"{table}/{part_name(c)}"
            assert pq.read_table(tmp_path / "one" / name).equals(
                pq.read_table(tmp_path / "two" / name)
            )
    assert (tmp_path / "one" / MANIFEST).read_text() == (tmp_path / "two" / MANIFEST).read_text()


def test_a_non_empty_directory_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_parquet(out, users=10, seed=1, workers=1)
    with pytest.raises(TargetNotEmpty, match="--overwrite"):
        export_parquet(out, users=20, seed=1, workers=1)
    report = export_parquet(out, users=20, seed=1, workers=1, overwrite=True)
    assert report.rows["users"] == 20
    assert pq.read_table(out / "users").num_rows == 20
    assert json.loads((out / MANIFEST).read_text())["scale"] == 20


def test_overwrite_replaces_only_a_pgbulk_export(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "users").mkdir()
    with pytest.raises(TargetNotEmpty, match=r"not part of a pgbulk export \(notes\.txt\)"):
        export_parquet(tmp_path, users=10, workers=1, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "users").is_dir()


def test_bad_parameters_say_what_is_valid(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"workers=0: must be an integer in 1\.\.64"):
        export_parquet(tmp_path / "a", users=10, workers=0)
    with pytest.raises(ParameterError, match="users=0"):
        export_parquet(tmp_path / "b", users=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(PgbulkError, match="is a file"):
        export_parquet(tmp_path / "file", users=10)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
