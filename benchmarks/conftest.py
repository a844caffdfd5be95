"""The server for the load benchmarks: pgbulk's embedded server in a temporary directory,
started for the session and always destroyed after, or the server in ``PGBULK_BENCH_DSN``.

``make test`` never collects this directory (pytest's testpaths is ``tests``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from benchmarks.target import BenchServer
from pgbulk.server import EmbeddedServer

_RATES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RATES] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    rates = config.stash.get(_RATES, [])
    if rates:
        terminalreporter.section(
            "rows/s (also in extra_info of --benchmark-save / --benchmark-json)"
        )
        for line in rates:
            terminalreporter.write_line(line)


@pytest.fixture
def rate_summary(request: pytest.FixtureRequest) -> list[str]:
    """Lines for the end-of-run summary: pytest-benchmark's table shows times, not rows/s."""
    return request.config.stash[_RATES]


@pytest.fixture(scope="session")
def bench_server() -> Iterator[BenchServer]:
    dsn = os.environ.get("PGBULK_BENCH_DSN")
    if dsn:
        yield BenchServer(dsn)
        return
    # Not under tmp_path_factory: every pytest session that starts on this machine
    # chmods /tmp/pytest-of-<user> back to 0700, locking the server's system user out.
    server = EmbeddedServer(tempfile.mkdtemp(prefix="pgbulk-bench-"))
    try:
        server.start()
    except Exception as e:  # one loud failure, not one per benchmark
        server.destroy()
        pytest.fail(f"cannot start the embedded server ({server.bin}): {e}", pytrace=False)
    try:
        yield BenchServer(server.dsn("postgres"), server)
    finally:
        server.destroy()
