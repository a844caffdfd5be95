"""The wait-event sampler's arithmetic and its command line (no server needed)."""

from __future__ import annotations

import pytest

from benchmarks import wait_events

SAMPLES = [
    [("pgbulk writer 0", "CPU")],
    [("pgbulk constraints", "CPU"), ("pgbulk constraints", "IO:DataFileExtend")],
    [("pgbulk constraints", "CPU"), ("pgbulk constraints", "CPU")],
    [],  # nothing active: counts in the shares, in nobody's means
]


def test_a_groups_means_are_over_the_samples_in_which_it_was_active() -> None:
    assert wait_events.mean_backends(SAMPLES) == {
        ("pgbulk constraints", "CPU"): 1.5,
        ("pgbulk constraints", "IO:DataFileExtend"): 0.5,
        ("pgbulk writer 0", "CPU"): 1.0,
    }
    assert wait_events.active_share(SAMPLES) == {"pgbulk constraints": 0.5, "pgbulk writer 0": 0.25}
    assert wait_events.mean_backends([]) == {}


def test_the_table_gives_each_group_its_active_seconds_then_its_states() -> None:
    lines = list(wait_events.table(SAMPLES, 8.0))
    assert lines == [
        "4 samples over 8.0 s",
        "pgbulk constraints: active 4.0 s, 2.00 backends on average",
        "   1.500  CPU",
        "   0.500  IO:DataFileExtend",
        "pgbulk writer 0: active 2.0 s, 1.00 backends on average",
        "   1.000  CPU",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dsn", "x"], "give the command to run after --"),
        (["--dsn", "x", "--"], "give the command to run after --"),
        (["--dsn", "x", "--interval", "0", "--", "true"], "--interval must be more than 0"),
    ],
)
def test_a_bad_command_line_is_refused_before_anything_runs(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        wait_events.main(args)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        wait_events.main(["--dsn", "host=/nonexistent-dir port=1 connect_timeout=2", "--", "true"])
    assert e.value.code == 2
    assert "cannot reach the server" in capsys.readouterr().err
