"""The wait-event sampler on a real server: it sees a backend wait, and passes the exit status on."""

from __future__ import annotations

import sys

import pytest

from benchmarks import wait_events

_SLEEP = (
    "import sys, psycopg\n"
    "with psycopg.connect(sys.argv[1], application_name='probe') as c:\n"
    "    c.execute('SELECT pg_sleep(0.8)')\n"
    "sys.exit(3)\n"
)


def test_a_sleeping_backend_is_seen_waiting_and_the_commands_status_comes_back(
    db18_dsn: str,
) -> None:
    status, samples, seconds = wait_events.sample_while(
        db18_dsn, [sys.executable, "-c", _SLEEP, db18_dsn], 0.02
    )
    assert status == 3
    assert seconds >= 0.8
    means = wait_events.mean_backends(samples)
    # While active, the probe was in pg_sleep (its connect and query are too short to
    # be seen much); the sampler never sees itself.
    assert means[("probe", "Timeout:PgSleep")] > 0.8
    assert wait_events.active_share(samples)["probe"] > 0.3
    assert not any(who == "wait_events" for who, _ in means)


def test_main_prints_the_table_and_exits_with_the_commands_status(
    db18_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = wait_events.main(
        ["--dsn", db18_dsn, "--interval", "0.02", "--", sys.executable, "-c", _SLEEP, db18_dsn]
    )
    assert status == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(" s")
    probe = lines.index(next(line for line in lines if line.startswith("probe: active ")))
    assert lines[probe + 1].split()[1] == "Timeout:PgSleep"  # its main state comes first
