"""Connections to a server that may be restarting: which failures are retried, and when."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgbulk import dsn
from pgbulk.errors import ConnectionFailed


def test_the_backoff_doubles_up_to_8_seconds() -> None:
    assert [dsn.backoff(a) for a in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert sum(dsn.backoff(a) for a in range(1, dsn.RETRIES + 1)) == 23.5


@pytest.mark.parametrize(
    ("reason", "restarting"),
    [
        (
            'connection to server on socket "/x/.s.PGSQL.5432" failed: No such file or directory',
            True,
        ),
        ("connection failed: server closed the connection unexpectedly", True),
        ('connection to server at "127.0.0.1", port 5432 failed: Connection refused', True),
        ("connection failed: FATAL:  the database system is starting up", True),
        ("connection failed: FATAL:  the database system is shutting down", True),
        ('connection failed: FATAL:  database "nope" does not exist', False),
        ('connection failed: FATAL:  password authentication failed for user "u"', False),
    ],
)
def test_only_a_server_going_down_or_coming_up_is_retried(reason: str, restarting: bool) -> None:
    assert dsn._restarting(reason) is restarting


def test_a_server_that_stays_away_is_retried_then_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(dsn.time, "sleep", slept.append)
    told: list[float] = []
    no_server = f"host={tmp_path} port=5432 dbname=x user=x password=secret"
    with pytest.raises(ConnectionFailed) as failed:
        dsn.connect(no_server, retries=2, on_retry=lambda reason, delay: told.append(delay))
    assert told == slept == [0.5, 1.0]  # told, then waited, before each retry
    assert str(tmp_path) in str(failed.value)
    assert "secret" not in str(failed.value)
