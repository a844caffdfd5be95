"""Every method of the benchmark comparison, at 2,000 users: it loads what it claims to.

A baseline that silently loaded nothing, other rows or no constraints would flatter
pgbulk for the wrong reason. The methods that load pgbulk's dataset must leave exactly
its rows; the server-side INSERT ... SELECT must leave the same tables by the same
law; every one must end with the same constraints, indexes and statistics.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from benchmarks import compare, scaling
from benchmarks.methods import (
    METHODS,
    TABLES,
    Context,
    MethodSkipped,
    Outcome,
    dataset_rows,
    pgbench_scale,
    python_rows,
)
from benchmarks.target import BenchServer
from pgbulk import ddl
from pgbulk.datasets import contacts
from pgbulk.generate import truncated_zipf_pmf
from tests.conftest import skip_or_fail
from tests.integration.conftest import Server

USERS = 2_000
SEED = 3
SAME_ROWS = (
    "pgbulk-2",
    "pgbulk-1",
    "pgbulk-2-1gb",
    "copy-file-1",
    "copy-file-2",
    "copy-freeze",
    "executemany",
    "write-row",
    "original",
)
SERVER_DRAWN = ("insert-select-1", "insert-select-2")


@pytest.fixture(scope="module")
def context(pg18: Server) -> Iterator[Context]:
    ctx = Context(seed=SEED, pgbench=BenchServer(pg18.dsn, pg18.embedded).pgbench())
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def expected_rows(context: Context) -> dict[str, set[tuple[str, ...]]]:
    rows: dict[str, set[tuple[str, ...]]] = {t: set() for t in TABLES}
    for chunk in context.rows(USERS):
        for table, values in python_rows(chunk).items():
            rows[table].update(tuple(str(v) for v in row) for row in values)
    return rows


def run(context: Context, name: str, dsn: str) -> Outcome:
    try:
        return METHODS[name].run(context, dsn, USERS)
    except MethodSkipped as e:
        skip_or_fail(str(e))
        raise


def table_rows(conn: psycopg.Connection, table: str) -> set[tuple[str, ...]]:
    return {tuple(str(v) for v in row) for row in conn.execute(f"SELECT * FROM {table}")}


def assert_finished(conn: psycopg.Connection, outcome: Outcome) -> None:
    """Constraints and indexes built and validated, statistics gathered, every phase timed."""
    expected = ddl.expected(contacts.dataset())
    constraints = {
        name: (table, kind, validated)
        for name, table, kind, validated in conn.execute(
            "SELECT conname, conrelid::regclass::text, contype, convalidated FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')"
        )
    }
    assert constraints == {e.name: (e.table, e.kind, True) for e in expected if e.kind != "i"}
    indexes = {
        r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    }
    assert {e.name for e in expected if e.kind == "i"} <= indexes
    analyzed = conn.execute(
        "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'public'"
        " AND last_analyze IS NOT NULL"
    ).fetchone()
    assert analyzed == (len(TABLES),)
    assert set(outcome.seconds) == {"load", "constraints", "analyze", "total"}
    assert all(s > 0 for s in outcome.seconds.values())


@pytest.mark.parametrize("name", SAME_ROWS)
def test_method_loads_exactly_the_dataset(
    context: Context, expected_rows: dict[str, set[tuple[str, ...]]], db18_dsn: str, name: str
) -> None:
    outcome = run(context, name, db18_dsn)
    assert outcome.rows == {t: len(rows) for t, rows in expected_rows.items()}
    with psycopg.connect(db18_dsn) as conn:
        for table in TABLES:
            assert table_rows(conn, table) == expected_rows[table], table
        assert_finished(conn, outcome)


@pytest.mark.parametrize("name", SERVER_DRAWN)
def test_insert_select_draws_the_same_tables(context: Context, db18_dsn: str, name: str) -> None:
    outcome = run(context, name, db18_dsn)
    pmf = truncated_zipf_pmf(context.spec.zipf_a, context.spec.max_per_user)
    with psycopg.connect(db18_dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM users")}
        assert names == {f"User {i}" for i in range(1, USERS + 1)}
        for table in ("emails", "phone_numbers"):
            counts = [
                r[0]
                for r in conn.execute(
                    f"SELECT count(c.user_id) FROM users u LEFT JOIN {table} c ON c.user_id = u.id GROUP BY u.id"
                )
            ]
            assert min(counts) >= 1 and max(counts) <= context.spec.max_per_user
            # Within 5 standard errors of the truncated Zipf law's mean and P(1).
            mean = float((pmf * range(1, len(pmf) + 1)).sum())
            assert abs(sum(counts) / USERS - mean) < 5 * 1.3 / USERS**0.5, table
            assert abs(counts.count(1) / USERS - pmf[0]) < 5 * 0.5 / USERS**0.5, table
            assert outcome.rows[table] == sum(counts)
        emails = conn.execute(
            "SELECT e.email, e.user_id::text, u.id::text FROM emails e JOIN users u"
            " ON u.id = e.user_id"
        ).fetchall()
        assert len(emails) == outcome.rows["emails"]
        pattern = re.compile(r"user([0-9a-f-]{36})_([0-4])@example\.com")
        for email, user_id, _ in emails:
            m = pattern.fullmatch(email)
            assert m is not None and m.group(1) == user_id, email
        sequences = conn.execute(
            "SELECT count(*) FROM (SELECT user_id, max(split_part(split_part(email, '_', 2),"
            " '@', 1)::int) + 1 AS top, count(*) AS n FROM emails GROUP BY user_id) s"
            " WHERE top <> n"
        ).fetchone()
        assert sequences == (0,)  # n = 0, 1, ... within each user, as the original numbered them
        phones = [r[0] for r in conn.execute("SELECT phone_number FROM phone_numbers")]
        assert all(re.fullmatch(r"[0-9]{16}", p) for p in phones)
        assert_finished(conn, outcome)


def test_pgbench_initialises_its_tables(context: Context, db18_dsn: str) -> None:
    if context.pgbench is None:
        skip_or_fail("no pgbench binary next to the server")
    outcome = run(context, "pgbench", db18_dsn)
    scale = pgbench_scale(sum(dataset_rows(context.rows(USERS)).values()))
    assert outcome.rows == {
        "pgbench_accounts": 100_000 * scale,
        "pgbench_branches": scale,
        "pgbench_tellers": 10 * scale,
    }
    assert outcome.seconds["load"] > 0 and outcome.seconds["constraints"] > 0
    with psycopg.connect(db18_dsn) as conn:
        keys = {
            r[0]
            for r in conn.execute(
                "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'p'"
            )
        }
    assert {"pgbench_accounts", "pgbench_branches", "pgbench_tellers"} <= keys


def test_compare_runs_against_a_server_given_by_dsn(pg18: Server, tmp_path: Path) -> None:
    code = compare.main(
        [
            "--users",
            str(USERS),
            "--dsn",
            pg18.dsn,
            "--reduced-users",
            "1000",
            "--methods",
            "pgbulk-2,copy-file-2,insert-select-2,executemany",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "compare-2k.json").read_text())
    lines = {ln["name"]: ln for ln in data["lines"]}
    assert [ln["status"] for ln in lines.values()] == ["ok"] * 4
    assert lines["pgbulk-2"]["ratio_to_pgbulk"]["total"] == 1.0
    many = lines["executemany"]
    assert many["extrapolated"] and many["ran_users"] == 1000
    factor = many["rows"] / sum(many["measured_rows"].values())
    assert many["seconds"]["load"] == pytest.approx(many["measured_seconds"]["load"] * factor)
    donor = lines["copy-file-2"][
        "seconds"
    ]  # same rows at full size: its constraint and ANALYZE times
    assert many["finish_from"] == "copy-file-2"
    assert (many["seconds"]["constraints"], many["seconds"]["analyze"]) == (
        donor["constraints"],
        donor["analyze"],
    )
    assert {c["what"].split(" ")[0] for c in data["checks"]} >= {"pgbulk-2", "insert-select-2"}
    markdown = (tmp_path / "compare-2k.md").read_text()
    assert "psycopg executemany, batches of 10,000 rows *" in markdown
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "compare-2k.png").stat().st_size > 10_000
    with psycopg.connect(pg18.dsn) as conn:  # every scratch database was dropped
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgbulk_bench_%'"
        ).fetchone() == (0,)


def test_compare_rounds_alternate_the_order_and_report_medians(
    pg18: Server, tmp_path: Path
) -> None:
    args = ["--users", str(USERS), "--dsn", pg18.dsn, "--rounds", "2", "--out", str(tmp_path)]
    assert compare.main([*args, "--methods", "pgbulk-2,copy-file-2"]) == 0
    data = json.loads((tmp_path / "compare-2k.json").read_text())
    assert [[ln["name"] for ln in r] for r in data["rounds"]] == [
        ["pgbulk-2", "copy-file-2"],
        ["copy-file-2", "pgbulk-2"],
    ]
    for line in data["lines"]:
        runs = [ln for r in data["rounds"] for ln in r if ln["name"] == line["name"]]
        assert line["seconds"]["load"] == pytest.approx(
            sum(ln["seconds"]["load"] for ln in runs) / 2
        )
    load = next(c for c in data["checks"] if c["what"].startswith("pgbulk-2 load rows/s"))
    assert len(load["rounds"]) == 2 and load["value"] == pytest.approx(sum(load["rounds"]) / 2)
    with pytest.raises(SystemExit):  # a method named twice: --rounds is the way to repeat
        compare.main([*args, "--methods", "pgbulk-2,pgbulk-2"])


def test_scaling_reports_each_size(pg18: Server, tmp_path: Path) -> None:
    assert (
        scaling.main(
            ["--sizes", "1000,2000", "--dsn", pg18.dsn, "--workers", "1", "--out", str(tmp_path)]
        )
        == 0
    )
    data = json.loads((tmp_path / "scaling.json").read_text())
    assert [p["users"] for p in data["points"]] == [1000, 2000]
    for point in data["points"]:
        assert point["rows"]["users"] == point["users"]
        assert point["peak_memory_bytes"] > 0 and point["load_rows_per_second"] > 0
    assert "| 2,000 |" in (tmp_path / "scaling.md").read_text()
