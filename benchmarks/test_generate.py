"""Generation + binary COPY encoding on one core, per table and for a whole chunk.

No database. The target (issue 2) is 4M rows/s per core across the three tables;
``extra_info["rows_per_second"]`` holds the measured rate (rows over the median round).
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import pgbulk
from pgbulk.allocator import keep_freed_memory
from pgbulk.chunks import Rows
from pgbulk.copy_format import HEADER, TRAILER
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.load.worker import encode_chunk

TABLES = dataset().table_names
USERS = ContactsSpec.chunk_users  # one chunk at the default chunk size
TARGET_ROWS_PER_SECOND = 4_000_000
ROUNDS = 20

# As in a load worker: freed chunk memory stays in the process (see pgbulk.allocator).
keep_freed_memory()


@pytest.fixture(scope="module")
def rows() -> Rows:
    return pgbulk.contacts(USERS, seed=1)


def record_rate(
    benchmark: BenchmarkFixture, summary: list[str], rows: int, *, target: bool = False
) -> None:
    benchmark.extra_info["rows"] = rows
    if target:
        benchmark.extra_info["target_rows_per_second"] = TARGET_ROWS_PER_SECOND
    if benchmark.stats is not None:  # None under --benchmark-disable
        rate = rows / benchmark.stats.stats.median
        benchmark.extra_info["rows_per_second"] = round(rate)
        goal = f" (target {TARGET_ROWS_PER_SECOND / 1e6:.0f}M)" if target else ""
        summary.append(
            f"{benchmark.name}: {rows:,} rows, {rate / 1e6:.2f}M rows/s on one core{goal}"
        )


@pytest.mark.parametrize("table", TABLES)
def test_generate_and_encode_table(
    benchmark: BenchmarkFixture, rate_summary: list[str], rows: Rows, table: str
) -> None:
    # A fresh chunk per round: its columns are cached, and the users' ids are part of
    # the emails' and phones' cost (the email text is built from them).
    stream = benchmark.pedantic(
        lambda: rows.chunk(0).copy_buffer(table), rounds=ROUNDS, warmup_rounds=1
    )
    assert bytes(stream[: len(HEADER)]) == HEADER and bytes(stream[-len(TRAILER) :]) == TRAILER
    record_rate(benchmark, rate_summary, rows.chunk(0).rows(table))


def test_generate_and_encode_chunk(
    benchmark: BenchmarkFixture, rate_summary: list[str], rows: Rows
) -> None:
    """The three tables of one chunk: what a load worker's producer thread does."""
    chunk = benchmark.pedantic(lambda: encode_chunk(rows, 0), rounds=ROUNDS, warmup_rounds=1)
    assert chunk.rows["users"] == USERS
    record_rate(benchmark, rate_summary, sum(chunk.rows.values()), target=True)
