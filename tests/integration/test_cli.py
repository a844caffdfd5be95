"""The CLI as a user meets it: real processes, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.integration.conftest import TEST_DSN, Server


def pgbulk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "pgbulk", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=300,
    )


def assert_user_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--users", "0"], "must be at least 1"),
        (["--users", "abc"], "is not a count"),
        (["--workers", "0"], "0 is not in the range"),
        (["--uuid", "v5"], "'v5' is not one of"),
        (["--zipf-a", "1.0"], "zipf_a"),
        (["--max-per-user", "0"], "max_per_user"),
        (["--chunk-users", "0"], "must be at least 1"),
        (["--shard", "3/3"], "shard"),
        (["--dsn", "this is not a dsn"], "DSN does not parse"),
        (
            ["--dsn", "host=/nonexistent-socket-dir port=1 connect_timeout=2"],
            "cannot connect to PostgreSQL",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: list[str], needle: str) -> None:
    assert_user_error(pgbulk("load", "--users", "100", *args), needle)


def test_load_json_then_refuse_then_replace(db18_dsn: str) -> None:
    done = pgbulk("load", "--dsn", db18_dsn, "--users", "1_500", "--chunk-users", "500", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["state"] == "complete" and report["rows"]["users"] == 1_500
    assert "password" not in done.stdout

    refused = pgbulk("load", "--dsn", db18_dsn, "--users", "2k", "--chunk-users", "500")
    assert_user_error(refused, "already hold rows")
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1_500,)

    replaced = pgbulk(
        "load",
        "--dsn",
        db18_dsn,
        "--users",
        "2k",
        "--chunk-users",
        "500",
        "--if-exists",
        "replace",
        "--quiet",
    )
    assert replaced.returncode == 0, replaced.stderr
    assert "users" in replaced.stdout and "2,000 rows" in replaced.stdout


def test_dsn_from_the_environment(db18_dsn: str) -> None:
    done = pgbulk("load", "--users", "300", "--json", env={"PGBULK_DSN": db18_dsn})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"]["users"] == 300


def test_wrong_password_is_a_clear_error_without_the_password(pg18: Server, db18_dsn: str) -> None:
    if TEST_DSN or pg18.embedded is None:
        pytest.skip("needs a server whose pg_hba.conf the suite controls")
    hba = pg18.embedded.pgdata / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("local all pgbulk_pw scram-sha-256\n" + original)
    with psycopg.connect(pg18.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("DROP ROLE IF EXISTS pgbulk_pw")
        conn.execute("CREATE ROLE pgbulk_pw LOGIN PASSWORD 'right-one'")
    try:
        done = pgbulk(
            "load",
            "--users",
            "10",
            "--dsn",
            make_conninfo(db18_dsn, user="pgbulk_pw", password="wrong-secret-value"),
        )
        assert_user_error(done, "cannot connect to PostgreSQL", "password authentication failed")
        assert "wrong-secret-value" not in done.stderr + done.stdout
    finally:
        hba.write_text(original)
        with psycopg.connect(pg18.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("DROP ROLE IF EXISTS pgbulk_pw")


@pytest.mark.parametrize("pg_bin", [None, "/usr/lib/postgresql/15/bin"])
def test_server_lifecycle(pg_bin: str | None) -> None:
    if pg_bin and not Path(pg_bin, "postgres").exists():
        from tests.conftest import skip_or_fail

        skip_or_fail(f"PostgreSQL 15 binaries not found in {pg_bin}")
    # Not under pytest's tmp_path: run as root, the server runs as another user who must
    # reach its directory, and any other pytest session of root makes pytest's root
    # private again.
    home = Path(tempfile.mkdtemp(prefix="pgbulk-cli-test-"))
    extra = ["--data-dir", str(home / "srv")] + (["--pg-bin", pg_bin] if pg_bin else [])
    try:
        started = pgbulk("server", "start", *extra)
        assert started.returncode == 0, started.stderr
        dsn = started.stdout.strip()
        status = json.loads(pgbulk("server", "status", "--json", *extra).stdout)
        assert status["running"] and status["version"].startswith("15" if pg_bin else "18")
        assert pgbulk("server", "dsn", *extra).stdout.strip() == dsn
        with psycopg.connect(dsn) as conn:
            assert conn.execute(
                "SELECT current_database(), current_setting('listen_addresses')"
            ).fetchone() == ("pgbulk", "")
            # pgbulk's own server is a load target: no checksums (see EmbeddedServer._initdb), C collation.
            assert conn.execute(
                "SELECT current_setting('data_checksums'), datcollate FROM pg_database WHERE datname = 'pgbulk'"
            ).fetchone() == ("off", "C")
        loaded = pgbulk("load", "--users", "200", "--json", *extra)
        assert loaded.returncode == 0, loaded.stderr
        assert json.loads(loaded.stdout)["rows"]["users"] == 200
    finally:
        stopped = pgbulk("server", "stop", *extra)
    try:
        assert stopped.returncode == 0
        assert json.loads(pgbulk("server", "status", "--json", *extra).stdout)["running"] is False
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_original_schema_is_for_contacts_only() -> None:
    from click.testing import CliRunner

    from pgbulk.cli import cli

    result = CliRunner().invoke(
        cli,
        ["load", "--spec", "shop", "--scale", "10", "--original-schema", "--dsn", "host=/nowhere"],
    )
    assert result.exit_code == 2
    assert "--original-schema is the contacts dataset's" in result.output
