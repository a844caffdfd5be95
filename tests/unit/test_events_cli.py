"""``pgbulk events`` and ``pgbulk relay``: help for every command, and the secret's rules
(checked before any connection, so no database is needed here)."""

from __future__ import annotations

import pytest

from pgbulk.cli import cli, main


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["events"],
        ["events", "install"],
        ["events", "uninstall"],
        ["events", "status"],
        ["events", "requeue"],
        ["events", "purge"],
        ["relay"],
    ],
)
def test_every_command_explains_itself(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: pgbulk {' '.join(argv)}")
    command = cli.get_command(None, argv[0])  # type: ignore[arg-type]
    for name in argv[1:]:
        command = command.get_command(None, name)  # type: ignore[union-attr, arg-type]
    assert command is not None and command.help


def test_the_relay_takes_no_secret_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["relay", "--dsn", "dbname=none", "--url", "http://127.0.0.1:1/", "--secret", "s3cret"]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "No such option '--secret'" in err and "s3cret" not in err


def test_the_relay_without_a_secret_says_where_to_put_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PGBULK_EVENTS_SECRET", raising=False)
    assert _run(["relay", "--dsn", "dbname=none", "--url", "http://127.0.0.1:1/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "pgbulk: error: no events secret: set the environment variable PGBULK_EVENTS_SECRET"
    )
    assert len(err.strip().splitlines()) == 1


def test_one_secret_source_only(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["relay", "--dsn", "dbname=none", "--url", "http://127.0.0.1:1/"]
    assert _run([*argv, "--secret-env", "A", "--secret-file", "/dev/null"]) == 2
    assert "not both" in capsys.readouterr().err


def test_force_needs_drop_outbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["events", "uninstall", "--dsn", "dbname=none", "--force"]) == 2
    assert "--force only applies with --drop-outbox" in capsys.readouterr().err


def test_the_health_endpoint_answers_while_the_relay_runs() -> None:
    import urllib.error
    import urllib.request

    from pgbulk.events.health import HealthServer

    alive = [True]
    with HealthServer("127.0.0.1", 0, lambda: alive[0]) as server:
        url = f"http://127.0.0.1:{server.port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200
        alive[0] = False
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=5)
        assert e.value.code == 503
        e.value.close()
