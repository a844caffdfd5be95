"""The post-load scheduler on a real server: what a step runs with."""

from __future__ import annotations

import psutil
import psycopg
from psycopg import sql

from pgbulk import constraints
from pgbulk.ddl import Step

RECORD = "INSERT INTO seen VALUES ({}, current_setting('max_parallel_maintenance_workers'))"


def _record(name: str, cost: float, table: str) -> Step:
    statement = sql.SQL(RECORD).format(sql.Literal(name))
    return Step(name, (statement,), (table,), cost=cost)


def test_a_step_that_outweighs_the_rest_gets_parallel_workers(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE seen (step text, workers text)")
    steps = [_record("big", 200.0, "a"), _record("s1", 60.0, "b"), _record("s2", 60.0, "c")]
    timings = constraints.run_steps(
        db18_dsn, "public", steps, jobs=3, settings={"max_parallel_maintenance_workers": "0"}
    )
    assert set(timings) == {"big", "s1", "s2"}
    with psycopg.connect(db18_dsn) as conn:
        seen = dict(conn.execute("SELECT step, workers FROM seen").fetchall())
    # big: one parallel worker per other connection. Of s1 and s2, the first taken has the
    # other still to do (60 is not more than 60): it keeps the session's setting. The
    # last one may run alone, and then gets workers too.
    assert seen["big"] == "2"
    assert "0" in (seen["s1"], seen["s2"])


def test_the_sessions_setting_comes_back_after_a_step_alone(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("SET max_parallel_maintenance_workers = 0")
        with constraints._parallel_maintenance(conn, 3):
            inside = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()
        after = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()
    assert inside == ("3",)
    assert after == ("0",)


MEMORY = "INSERT INTO memory VALUES ({}, current_setting('maintenance_work_mem'))"


def _memory_step(name: str, sort_mib: int, table: str) -> Step:
    statement = sql.SQL(MEMORY).format(sql.Literal(name))
    return Step(name, (statement,), (table,), sort_bytes=sort_mib * 2**20)


def test_a_build_whose_sort_needs_more_memory_gets_it_within_its_share(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE memory (step text, setting text)")
    steps = [
        _memory_step("small", 10, "a"),  # fits in the session's 64MB: left alone
        _memory_step("wide", 300, "b"),  # needs more, and gets it
        _memory_step("huge", 5000, "c"),  # needs more than a connection's share (1 GiB / 2)
    ]
    settings = {"maintenance_work_mem": "64MB", "max_parallel_maintenance_workers": "0"}
    constraints.run_steps(db18_dsn, "public", steps, jobs=2, settings=settings, memory_budget=2**30)
    constraints.run_steps(  # without a budget, every step has the session's setting
        db18_dsn, "public", [_memory_step("fixed", 300, "d")], jobs=2, settings=settings
    )
    with psycopg.connect(db18_dsn) as conn:
        seen = dict(conn.execute("SELECT step, setting FROM memory").fetchall())
    assert seen == {"small": "64MB", "wide": "300MB", "huge": "512MB", "fixed": "64MB"}


def test_the_sessions_memory_comes_back_after_a_step(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '64MB'")
        session = constraints._maintenance_work_mem(conn)
        with constraints._sort_memory(conn, 200 * 2**20, session):
            inside = conn.execute("SHOW maintenance_work_mem").fetchone()
        after = conn.execute("SHOW maintenance_work_mem").fetchone()
    assert session == 64 * 2**20
    assert inside == ("200MB",)
    assert after == ("64MB",)


def test_the_memory_budget_is_for_a_server_on_this_machine(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        budget = constraints.local_memory_budget(conn)
        local = conn.info.host.startswith("/")
    # The test server listens on a unix socket here: the budget is half the free memory.
    # Through TCP (PGBULK_TEST_DSN to another machine) pgbulk cannot see that memory.
    if local:
        assert budget is not None and 0 < budget < psutil.virtual_memory().total / 2
    else:
        assert budget is None
