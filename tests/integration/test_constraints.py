"""The post-load scheduler on a real server: what a step runs with."""

from __future__ import annotations

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
