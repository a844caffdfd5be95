"""``pgbulk ingest`` as a user meets it: TPC-H files, exit codes, one-line errors, a kill and a re-run."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.parquet as pq
import pytest

import pgbulk
from tests.conftest import skip_or_fail
from tests.integration.test_cli import assert_user_error
from tests.integration.test_cli import pgbulk as run_cli

TPCH_TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TPC-H at scale factor 0.01 as Parquet, made by tpchgen-cli (nobody here wrote it)."""
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    if not Path(exe).exists():
        skip_or_fail("tpchgen-cli is not installed (pip install tpchgen-cli)")
    out = tmp_path_factory.mktemp("tpch")
    subprocess.run([exe, "parquet", "-s", "0.01", f"--output-dir={out}"], check=True, timeout=120)
    return out


def _arrow_checksum(column: pa.ChunkedArray) -> tuple[int, str]:
    values = sorted((str(v).encode() for v in column.to_pylist() if v is not None), key=lambda b: b)
    return len(values), hashlib.md5(b"\n".join(values)).hexdigest()


def _server_checksum(conn: psycopg.Connection, table: str, column: str) -> tuple[int, str]:
    row = conn.execute(
        f'SELECT count("{column}"), md5(coalesce(string_agg("{column}"::text, E\'\\n\''
        f' ORDER BY "{column}"::text COLLATE "C"), \'\')) FROM "{table}"'
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_tpch_all_eight_tables_with_create_agree_per_column(db_dsn: str, tpch_dir: Path) -> None:
    for table in TPCH_TABLES:
        done = run_cli(
            "ingest", str(tpch_dir / f"{table}.parquet"), "--table", table,
            "--dsn", db_dsn, "--create", "--json",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        source = pq.read_table(tpch_dir / f"{table}.parquet")
        assert report["state"] == "complete" and report["rows"] == source.num_rows
        with psycopg.connect(db_dsn) as conn:
            count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            assert count == (source.num_rows,), table
            for name in source.column_names:
                assert _server_checksum(conn, table, name) == _arrow_checksum(
                    source.column(name)
                ), f"{table}.{name}"
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM lineitem").fetchone() == (60_175,)
        kinds = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'lineitem'::regclass AND attnum > 0"
            ).fetchall()
        )
    assert kinds["l_quantity"] == "numeric(15,2)" and kinds["l_shipdate"] == "date"
    assert kinds["l_comment"] == "text" and kinds["l_linenumber"] == "integer"


def test_csv_and_ipc_files_load_too(db18_dsn: str, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(range(3000), pa.int64()),
            "name": pa.array([f"n{i}" for i in range(3000)]),
            "price": pa.array([i / 4 for i in range(3000)]),
        }
    )
    (tmp_path / "csv").mkdir()
    for part in range(3):
        pacsv.write_csv(table.slice(part * 1000, 1000), tmp_path / "csv" / f"p{part}.csv")
    with (
        pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink,
        paipc.new_file(sink, table.schema) as w,
    ):
        for b in table.to_batches(max_chunksize=700):
            w.write_batch(b)
    done = run_cli(
        "ingest", str(tmp_path / "csv"), "--table", "c", "--dsn", db18_dsn, "--create", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["units_total"] == 3
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE i (id integer, name varchar(10), price numeric(10,2))")
    done = run_cli("ingest", str(tmp_path / "*.arrow"), "--table", "i", "--dsn", db18_dsn, "-q")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(db18_dsn) as conn:
        for t in ("c", "i"):
            assert conn.execute(f"SELECT count(*), sum(id), sum(price) FROM {t}").fetchone() == (
                3000,
                3000 * 2999 // 2,
                sum(i / 4 for i in range(3000)),
            ), t
    # An existing table whose text column would read as numbers: parsed as its type says.
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE z (id text, name text, price text)")
    done = run_cli(
        "ingest", str(tmp_path / "csv" / "p0.csv"), "--table", "z", "--dsn", db18_dsn, "-q"
    )
    assert done.returncode == 0, done.stderr


def test_cli_errors_are_one_line_and_exit_2(db18_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": pa.array([1, 2]), "b": pa.array(["x", "y"])}), path)
    assert_user_error(
        run_cli("ingest", str(path), "--table", "t", "--dsn", db18_dsn),
        "table public.t does not exist: create it, or add --create",
    )
    assert_user_error(
        run_cli("ingest", str(tmp_path / "nope.parquet"), "--table", "t", "--dsn", db18_dsn),
        "no such file",
    )
    assert_user_error(run_cli("ingest", str(path), "--dsn", db18_dsn), "Missing option '--table'")
    assert_user_error(
        run_cli("ingest", str(path), "--table", "t", "--dsn", db18_dsn, "--if-exists", "merge"),
        "'merge' is not one of",
    )
    assert_user_error(
        run_cli(
            "ingest", str(path), "--table", "t", "--dsn", db18_dsn, "--create", "--columns", "a,zz"
        ),
        "the source has no column zz",
    )
    assert (
        run_cli("ingest", str(path), "--table", "t", "--dsn", db18_dsn, "--create", "-q").returncode
        == 0
    )
    assert_user_error(
        run_cli("ingest", str(path), "--table", "t", "--dsn", db18_dsn),
        "holds this source already",
    )
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE u (a date, b text)")
    done = run_cli("ingest", str(path), "--table", "u", "--dsn", db18_dsn)
    assert_user_error(done, "public.u.a: Arrow type int64 cannot be loaded into date")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"a": pa.array([1, 2**40]), "b": pa.array(["x", "y"])}), bad)
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE v (a integer, b text)")
    done = run_cli("ingest", str(bad), "--table", "v", "--dsn", db18_dsn)
    assert_user_error(done, "bad.parquet, row group 0, row 1 (counting from 0): column a:")
    assert [line for line in done.stderr.splitlines() if "error" in line] == [
        line for line in done.stderr.splitlines() if line.startswith("pgbulk: error: bad.parquet")
    ]


def test_a_killed_ingest_resumes_with_no_duplicate_and_no_gap(
    db18_dsn: str, tmp_path: Path
) -> None:
    n, groups = 1_600_000, 40
    path = tmp_path / "big.parquet"
    ids = pa.array(range(n), pa.int64())
    table = pa.table({"id": ids, "pad": pa.array(["x" * 40] * n)})
    pq.write_table(table, path, row_group_size=n // groups)
    args = [sys.executable, "-m", "pgbulk", "ingest", str(path), "--table", "t", "--dsn", db18_dsn,
            "--create", "--primary-key", "id", "--workers", "2", "-q"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    committed = 0
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                row = conn.execute("SELECT count(*) FROM pgbulk.ingest_units").fetchone()
                committed = int(row[0]) if row else 0
            except psycopg.errors.UndefinedTable:
                committed = 0
            if committed >= 3:
                break
            time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "interrupted by SIGTERM" in err and "missing:" in err
    with psycopg.connect(db18_dsn) as conn:
        half = conn.execute("SELECT count(*) FROM t").fetchone()
        recorded = conn.execute("SELECT coalesce(sum(rows), 0) FROM pgbulk.ingest_units").fetchone()
    assert half is not None and recorded is not None
    assert 0 < half[0] < n and half[0] == recorded[0]
    done = run_cli(*args[3:-1], "--if-exists", "append", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["units_already_loaded"] + report["units_loaded"] == groups
    assert report["rows"] == n
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM t").fetchone() == (
            n,
            n,
            n * (n - 1) // 2,
        )
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'p'"
        ).fetchone() == (1,)


def test_the_library_call_is_pgbulk_ingest() -> None:
    from pgbulk.ingestion import ingest

    assert pgbulk.ingest is ingest
