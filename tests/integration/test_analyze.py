"""The analysis queries on PostgreSQL 15 and 18: right numbers, and usable from psql."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pgbulk.analyze import analyze, model_queries, queries
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.load import load
from tests.conftest import skip_or_fail
from tests.integration.conftest import DEBIAN_PG15

USERS = 2_000
ORIGINAL_QUERIES = {"live_rows", "database_size", "database_sizes"}


def test_analysis_matches_the_load(db_dsn: str) -> None:
    report = load(db_dsn, users=USERS, seed=4, spec=ContactsSpec(chunk_users=1_000))
    analysis = analyze(db_dsn)
    names = [r.name for r in analysis.results]
    assert set(names) >= ORIGINAL_QUERIES
    # Every file query ran in file order, then the dataset's own: row counts and one
    # histogram per child table.
    model = [q.name for q in model_queries(dataset())]
    assert model == ["exact_rows", "emails_per_users", "phone_numbers_per_users"]
    assert names == [q.name for q in queries()] + model

    exact = dict(
        zip(
            analysis["exact_rows"].column("table"),
            analysis["exact_rows"].column("exact_rows"),
            strict=True,
        )
    )
    assert {t: exact[t] for t in report.rows} == report.rows
    assert exact["total"] == sum(report.rows.values())

    for table in ("emails", "phone_numbers"):
        hist = analysis[f"{table}_per_users"]
        counts, users = hist.column("k"), hist.column("users")
        assert sum(users) == USERS
        assert sum(k * n for k, n in zip(counts, users, strict=True)) == report.rows[table]
        assert set(counts) <= {1, 2, 3, 4, 5}
        expected = hist.column("expected_percent")
        assert expected[0] == pytest.approx(49.09, abs=0.01)  # P(1) of Zipf(1.2) on 1..5

    indexes = set(analysis["index_sizes"].column("index"))
    assert {"users_pkey", "emails_email_key", "phone_numbers_user_id_idx"} <= indexes
    assert all(analysis["index_sizes"].column("valid"))
    tables = analysis["table_sizes"]
    assert set(tables.column("table")) == {"users", "emails", "phone_numbers"}
    assert all(b > 0 for b in tables.column("heap_bytes"))
    record = analysis["pgbulk_dataset"]
    assert record.rows[0][record.columns.index("state")] == "complete"
    assert "emails per row of users" in analysis.to_text()


def _psql() -> Path:
    found = shutil.which("psql")
    candidates = [Path(found)] if found else []
    candidates.append(DEBIAN_PG15 / "psql")
    for path in candidates:
        if path.exists():
            return path
    skip_or_fail("psql not found (apt-get install postgresql-client)")
    raise AssertionError("unreachable")


def test_every_analysis_file_runs_in_psql(db18_dsn: str) -> None:
    load(db18_dsn, users=300, seed=1, spec=ContactsSpec(chunk_users=100))
    folder = Path(__file__).parents[2] / "pgbulk" / "sql" / "analysis"
    files = sorted(folder.glob("*.sql"))
    assert len(files) == len(queries())
    files += sorted((folder.parent / "contacts").glob("*.sql"))  # the original's own queries
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for sql_file in files:
        done = subprocess.run(
            [str(_psql()), db18_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(sql_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, (sql_file.name, done.stderr)
        assert "row" in done.stdout, sql_file.name  # psql's "(N rows)" footer
