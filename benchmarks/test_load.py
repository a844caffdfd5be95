"""End to end ``pgbulk.load`` of 100k users into a fresh database of the embedded server.

Each round loads into a newly created database; ``extra_info`` holds the median
seconds per phase, the load phase's rows/s and the peak memory of all processes.
"""

from __future__ import annotations

import statistics

import psycopg
import pytest
from psycopg import sql
from pytest_benchmark.fixture import BenchmarkFixture

import pgbulk.load
from benchmarks.target import BenchServer
from pgbulk import dsn as dsns

USERS = 100_000
ROUNDS = 3
DATABASE = "pgbulk_bench_load"


def fresh_database(server: BenchServer) -> str:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return dsns.with_dbname(server.dsn, DATABASE)


@pytest.mark.parametrize("workers", [2, 1])
def test_load(
    benchmark: BenchmarkFixture, rate_summary: list[str], bench_server: BenchServer, workers: int
) -> None:
    reports: list[pgbulk.load.LoadReport] = []

    def setup() -> tuple[tuple[str], dict[str, object]]:
        return (fresh_database(bench_server),), {}

    def run(dsn: str) -> None:
        reports.append(pgbulk.load.load(dsn, users=USERS, seed=1, workers=workers))

    try:
        benchmark.pedantic(run, setup=setup, rounds=ROUNDS)
    finally:
        with psycopg.connect(bench_server.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
            )
    assert all(r.state == "complete" and r.rows["users"] == USERS for r in reports)
    benchmark.extra_info["rows"] = reports[0].rows_loaded
    benchmark.extra_info["load_rows_per_second"] = round(
        statistics.median(r.load_rows_per_second for r in reports)
    )
    for phase in ("load", "constraints", "analyze", "total"):
        benchmark.extra_info[f"{phase}_seconds"] = round(
            statistics.median(r.seconds[phase] for r in reports), 3
        )
    benchmark.extra_info["peak_memory_mib"] = round(
        max(r.peak_memory_bytes for r in reports) / 2**20
    )
    info = benchmark.extra_info
    rate_summary.append(
        f"{benchmark.name}: load {info['load_seconds']} s ({info['load_rows_per_second'] / 1e6:.2f}M "
        f"rows/s), constraints {info['constraints_seconds']} s, analyze {info['analyze_seconds']} s, "
        f"total {info['total_seconds']} s, peak {info['peak_memory_mib']} MiB (medians)"
    )
