"""pgbulk verify, fingerprint and analyze as commands: output, --json and exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from pgbulk.cli import main
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.load import load
from tests.conftest import skip_or_fail

SPEC = ContactsSpec(chunk_users=600)


def pgbulk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def loaded(db18_dsn: str) -> str:
    load(db18_dsn, users=1_500, seed=9, spec=SPEC)
    return db18_dsn


def test_verify_exit_codes_and_json(loaded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = pgbulk(capsys, "verify", "--dsn", loaded)
    assert code == 0, out
    assert out.startswith("pgbulk verify: OK")
    code, out, _ = pgbulk(capsys, "verify", "--dsn", loaded, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and all(c["ok"] for c in data["checks"])

    with psycopg.connect(loaded) as conn:
        conn.execute("DELETE FROM users WHERE name = 'User 10'")
    code, out, _ = pgbulk(capsys, "verify", "--dsn", loaded, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    failed = [c for c in data["checks"] if not c["ok"]]
    users = next(c for c in failed if (c["name"], c["table"]) == ("row count", "users"))
    assert users["bad_rows"] == 1 and users["examples"] == ["User 10 is missing"]
    code, out, _ = pgbulk(capsys, "verify", "--dsn", loaded)
    assert code == 1
    assert "FAIL  row count" in out and "User 10 is missing" in out


def test_verify_without_a_load_exits_2_with_one_line(
    db18_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = pgbulk(capsys, "verify", "--dsn", db18_dsn)
    assert code == 2 and out == ""
    assert err.startswith("pgbulk: error: no pgbulk load is recorded for schema public")
    assert len(err.strip().splitlines()) == 1


def test_fingerprint_from_the_server_and_from_the_generator_agree(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, from_server, _ = pgbulk(capsys, "fingerprint", "--dsn", loaded, "--json")
    assert code == 0
    args = ["fingerprint", "--users", "1500", "--seed", "9", "--chunk-users", "600", "--json"]
    code, from_generator, _ = pgbulk(capsys, *args)
    assert code == 0
    assert json.loads(from_server) == json.loads(from_generator)
    code, text, _ = pgbulk(capsys, "fingerprint", "--users", "1500", "--seed", "9")
    assert code == 0 and "combined" in text
    assert json.loads(from_server)["combined"] not in text  # chunk size is part of the dataset


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seed", "3"], "--seed only apply to a generated dataset: add --users N"),
        (["--users", "10", "--dsn", "host=/x"], "drop --dsn"),
        (["--users", "0"], "must be at least 1"),
        (["--users", "10", "--zipf-a", "0.5"], "zipf_a"),
    ],
)
def test_fingerprint_bad_options_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = pgbulk(capsys, "fingerprint", *args)
    assert code == 2
    assert needle in err


def test_analyze_prints_tables_and_draws_a_plot(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        skip_or_fail("matplotlib is not installed (pip install 'pgbulk[plot]')")
    png = tmp_path / "analysis.png"
    code, out, _ = pgbulk(capsys, "analyze", "--dsn", loaded, "--plot", str(png))
    assert code == 0
    assert "emails per row of users" in out and "Index sizes" in out and "expected_percent" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000

    code, _, err = pgbulk(capsys, "analyze", "--dsn", loaded, "--plot", str(tmp_path / "a.svg"))
    assert code == 2 and "name the file *.png" in err


def test_analyze_without_a_dataset_shows_the_servers_figures(
    db18_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = pgbulk(capsys, "analyze", "--dsn", db18_dsn)
    assert code == 0
    assert "no pgbulk dataset is recorded in schema public" in out
    assert "Size of this database" in out and "Exact rows" not in out


def test_analyze_of_a_dataset_whose_table_was_dropped_exits_2(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(loaded, autocommit=True) as conn:
        conn.execute("DROP TABLE phone_numbers")
    code, _, err = pgbulk(capsys, "analyze", "--dsn", loaded)
    assert code == 2
    assert "table public.phone_numbers does not exist" in err
