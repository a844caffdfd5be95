"""The Parquet export holds exactly the rows that ``load`` puts in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.export import export_parquet
from pgbulk.load import load


@pytest.mark.parametrize("uuid_version", [4, 7])
def test_parquet_rows_equal_the_loaded_rows(db_dsn: str, tmp_path: Path, uuid_version: int) -> None:
    spec = ContactsSpec(chunk_users=1_000, uuid_version=uuid_version)  # type: ignore[arg-type]
    load(db_dsn, users=2_500, seed=17, spec=spec, workers=2)
    report = export_parquet(tmp_path, users=2_500, seed=17, spec=spec, workers=2)

    with psycopg.connect(db_dsn) as conn:
        for model in dataset(spec).tables:
            table, columns = model.name, model.column_names
            # ORDER BY a uuid sorts its bytes; sorting its lower-case hex text agrees.
            text_columns = ", ".join(f"{c}::text" for c in columns)
            loaded = conn.execute(f"SELECT {text_columns} FROM {table} ORDER BY id").fetchall()
            exported = pq.read_table(tmp_path / table).sort_by("id")
            assert list(zip(*exported.to_pydict().values(), strict=True)) == loaded, table
            assert report.rows[table] == len(loaded)
