"""Fresh loads: each table written whole in one transaction, as frozen rows.

What must hold: the rows are the dataset's (the same fingerprint as a load unit by
unit), every page is frozen (``pg_visibility``), the ledger lists every unit once the
tables are in, and an interrupted fresh load — a table refused, the loader killed, a
backend terminated — keeps the tables it committed and resumes to the same dataset with
nothing twice.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgbulk import fingerprint
from pgbulk.load import load
from tests.integration import loaders
from tests.integration.loaders import CHUNKS, SPEC, TABLES, USERS, assert_complete, connect

SMALL = 5_000


@pytest.fixture
def workdir() -> Iterator[Path]:
    with loaders.scratch() as path:
        yield path


def _frozen_pages(conn: psycopg.Connection, schema: str, table: str) -> tuple[int, int]:
    """(pages holding rows, all-frozen pages) of a table. A COPY extends the file ahead of
    its rows: the pages past its last row are empty, and not marked frozen."""
    name = f'"{schema}"."{table}"'
    row = conn.execute(
        f"SELECT (SELECT count(DISTINCT (ctid::text::point)[0]) FROM {name}),"
        f" (SELECT all_frozen FROM pg_visibility_map_summary('{name}'::regclass))".encode()
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _frozen_tables(conn: psycopg.Connection, schema: str = "public") -> dict[str, int]:
    rows = conn.execute(
        "SELECT table_name, rows FROM pgbulk.frozen_tables WHERE target_schema = %s", (schema,)
    ).fetchall()
    return {str(t): int(n) for t, n in rows}


def test_a_fresh_load_writes_every_table_whole_and_frozen(db_dsn: str) -> None:
    frozen = load(db_dsn, users=SMALL, seed=5, spec=SPEC, schema_name="public")
    with connect(db_dsn) as conn:
        conn.execute("CREATE SCHEMA units")
    units = load(db_dsn, users=SMALL, seed=5, spec=SPEC, schema_name="units", freeze=False)
    assert any("COPY FREEZE" in n for n in frozen.notes)
    assert not any("COPY FREEZE" in n for n in units.notes)
    assert frozen.rows == units.rows and frozen.chunks_loaded == units.chunks_loaded == 5
    with connect(db_dsn) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_visibility")
        for table in TABLES:
            pages, all_frozen = _frozen_pages(conn, "public", table)
            assert pages > 0 and all_frozen == pages, table
            # unit by unit, the rows wait for a vacuum to be frozen
            assert _frozen_pages(conn, "units", table)[1] == 0, table
        assert _frozen_tables(conn) == frozen.rows
        assert _frozen_tables(conn, "units") == {}
        chunks = conn.execute(
            "SELECT count(*), sum((rows->>'emails')::int) FROM pgbulk.chunks"
            " WHERE target_schema = 'public'"
        ).fetchone()
    assert chunks == (5, frozen.rows["emails"])
    assert fingerprint.of_database(db_dsn) == fingerprint.of_database(db_dsn, schema_name="units")


@pytest.fixture
def loader_role(db18_dsn: str) -> Iterator[str]:
    """A DSN of the test database as a role of its own, which owns what it creates."""
    role = f"pgbulk_loader_{uuid.uuid4().hex[:8]}"
    with connect(db18_dsn) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(f"CREATE ROLE {role} LOGIN".encode())
        conn.execute(f'GRANT CREATE ON DATABASE "{db}" TO {role}'.encode())
        conn.execute(f"GRANT ALL ON SCHEMA public TO {role}".encode())
    try:
        yield f"{db18_dsn} user={role}"
    finally:
        with connect(db18_dsn) as conn:
            conn.execute(f"DROP OWNED BY {role}".encode())
            conn.execute(f'REVOKE ALL ON DATABASE "{db}" FROM {role}'.encode())
            conn.execute(f"DROP ROLE {role}".encode())


def test_a_failed_table_keeps_the_committed_ones_and_resume_completes(
    db18_dsn: str, loader_role: str, workdir: Path
) -> None:
    role = loader_role.rsplit("user=", 1)[1]
    loader = loaders.start(loaders.load_args(loader_role, seed=8, freeze=True), workdir)
    loaders.wait_for_dataset(loader, db18_dsn)
    # users is the smallest table, so the last one a writer takes: the writer that takes
    # it has committed its first table by then. Its TRUNCATE is refused.
    with connect(db18_dsn) as conn:
        conn.execute(f"REVOKE TRUNCATE ON users FROM {role}".encode())
    assert loader.wait(60) == 2  # every PgbulkError exits with 2
    assert "permission denied for table users" in loader.stderr
    assert "--if-exists resume" in loader.stderr
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    with connect(db18_dsn) as conn:
        whole = _frozen_tables(conn)
        assert whole and set(whole) <= {"emails", "phone_numbers"}
        for table in TABLES:
            n = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
            assert n == (whole.get(table, 0),), table  # a table is in whole, or not at all
    assert loaders.chunks_committed(db18_dsn) == 0

    resumed = load(loader_role, users=USERS, seed=8, spec=SPEC, if_exists="resume")
    assert resumed.chunks_loaded == CHUNKS
    assert not any("COPY FREEZE" in n for n in resumed.notes)  # unit by unit, tables left out
    assert resumed.rows_loaded < sum(resumed.rows.values())  # the kept tables were not sent
    assert_complete(db18_dsn, seed=8)


def test_sigkill_of_a_fresh_load_then_resume(db18_dsn: str, workdir: Path) -> None:
    loader = loaders.start(loaders.load_args(db18_dsn, seed=9, freeze=True), workdir)
    _wait_for_copy(loader, db18_dsn)
    loader.signal_group(signal.SIGKILL)
    loader.wait(10)
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    with connect(db18_dsn) as conn:
        whole = _frozen_tables(conn)
        for table in TABLES:
            n = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
            assert n == (whole.get(table, 0),), table
    resumed = loaders.run(["resume", "--dsn", db18_dsn, "--json"], workdir)
    assert resumed.proc.returncode == 0, resumed.stderr
    assert_complete(db18_dsn, seed=9)


def test_a_terminated_writer_writes_its_table_again(db18_dsn: str, workdir: Path) -> None:
    loader = loaders.start(loaders.load_args(db18_dsn, seed=10, freeze=True), workdir)
    _wait_for_copy(loader, db18_dsn)
    with connect(db18_dsn) as conn:
        killed = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'pgbulk writer %'"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert loader.wait() == 0, loader.stderr
    report = loader.report()
    assert report["retries"] >= 1
    assert "its transaction rolled back, retry 1 in 0.5 s" in loader.stderr
    assert_complete(db18_dsn, seed=10)


def _wait_for_copy(loader: loaders.Loader, dsn: str) -> int:
    """Until a writer is in the middle of a COPY FREEZE; its backend's pid."""
    return _wait_for_writer(loader, dsn, "query LIKE 'COPY%%FREEZE%%' AND state = 'active'")


def _wait_for_writer(loader: loaders.Loader, dsn: str, where: str, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(dsn) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                f" AND application_name LIKE 'pgbulk writer %%' AND {where}".encode()
            ).fetchone()
        if row:
            return int(row[0])
        assert loader.running, f"the loader exited ({loader.proc.returncode}): {loader.stderr}"
        time.sleep(0.01)
    raise AssertionError(f"no writer with {where} after {timeout} s")
