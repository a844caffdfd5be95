"""Several rounds of the benchmark comparison: medians per method, medians of paired ratios."""

from __future__ import annotations

import pytest

from benchmarks import report
from benchmarks.compare import Comparison, Line, borrow_finish, median_line

ROWS = 1_000


def run(name: str, load: float, *, total: float | None = None, memory: int | None = None) -> Line:
    total = load + 1.0 if total is None else total
    seconds = {"load": load, "constraints": 0.9, "analyze": 0.1, "total": total}
    return Line(
        name,
        name,
        "ok",
        ran_users=100,
        rows=ROWS,
        seconds=dict(seconds),
        measured_seconds=dict(seconds),
        peak_memory_bytes=memory,
        notes=[f"{name} note"],
    )


def comparison(rounds: list[list[Line]]) -> Comparison:
    c = Comparison(
        users=100,
        seed=0,
        dataset_rows={"users": ROWS},
        server={"version": "18", "embedded": True, "settings": {"fsync": "on"}},
        machine_before={"load_average": [0.0], "cpus": 2, "memory_gib": 24, "pgbulk": "0"},
        rounds=rounds,
    )
    names = [ln.name for ln in rounds[0]]
    c.lines = [median_line([ln for r in rounds for ln in r if ln.name == n]) for n in names]
    return c


def test_a_method_over_rounds_is_its_median_per_phase_and_its_largest_memory() -> None:
    line = median_line(
        [run("pgbulk-2", 3.0, memory=10), run("pgbulk-2", 1.0, memory=30), run("pgbulk-2", 2.0)]
    )
    assert line.seconds["load"] == 2.0 and line.measured_seconds["total"] == 3.0
    assert line.peak_memory_bytes == 30
    assert line.notes[0] == "median of 3 rounds; load s in each: 3.00, 1.00, 2.00"
    assert line.notes.count("pgbulk-2 note") == 1


def test_a_method_that_failed_in_any_round_is_reported_failed() -> None:
    failed = Line("pgbulk-2", "pgbulk-2", "failed", reason="server went away")
    assert median_line([run("pgbulk-2", 1.0), failed, run("pgbulk-2", 2.0)]) is failed


def test_each_ratio_is_the_median_of_the_ratios_of_each_round() -> None:
    # Round by round the ceiling/pgbulk ratio is 0.5, 0.9, 1.0: the median 0.9 passes,
    # although the ratio of the medians (2.0/2.5 = 0.8) would sit on the edge.
    c = comparison(
        [
            [run("pgbulk-2", 4.0), run("copy-file-2", 2.0)],
            [run("copy-file-2", 1.8), run("pgbulk-2", 2.0)],
            [run("pgbulk-2", 2.5), run("copy-file-2", 2.5)],
        ]
    )
    load = next(k for k in c.checks() if k.what.startswith("pgbulk-2 load rows/s"))
    assert load.rounds == pytest.approx([0.5, 0.9, 1.0])
    assert load.value == pytest.approx(0.9) and load.passed
    assert load.what.endswith("median of 3 rounds")
    total = next(k for k in c.checks() if k.what.startswith("pgbulk-2 total s"))
    assert total.rounds == pytest.approx([5.0 / 3.0, 3.0 / 2.8, 1.0])
    assert total.value == pytest.approx(3.0 / 2.8) and total.passed
    markdown = report.comparison_markdown(c)
    assert "median of 3 rounds" in markdown and "(rounds: 0.50, 0.90, 1.00)" in markdown


def test_a_median_below_the_target_fails() -> None:
    c = comparison(
        [
            [run("pgbulk-2", 3.0), run("copy-file-2", 2.0)],
            [run("copy-file-2", 2.0), run("pgbulk-2", 2.0)],
            [run("pgbulk-2", 2.6), run("copy-file-2", 2.0)],
        ]
    )
    load = next(k for k in c.checks() if k.what.startswith("pgbulk-2 load rows/s"))
    assert load.value == pytest.approx(2.0 / 2.6) and not load.passed


def test_reduced_runs_borrow_the_finish_of_their_own_round() -> None:
    donor, reduced = run("copy-file-2", 2.0), run("executemany", 50.0)
    reduced.extrapolated = True
    donor.seconds["constraints"] = 7.0
    borrow_finish([donor, reduced])
    assert reduced.seconds["constraints"] == 7.0 and reduced.finish_from == "copy-file-2"
    assert reduced.seconds["total"] == pytest.approx(50.0 + 7.0 + 0.1)


def test_a_saved_run_with_rounds_renders_again() -> None:
    c = comparison(
        [
            [run("pgbulk-2", 2.0), run("copy-file-2", 1.8)],
            [run("copy-file-2", 1.9), run("pgbulk-2", 2.2)],
        ]
    )
    again = Comparison.from_dict(c.to_dict())
    assert [[ln.seconds for ln in r] for r in again.rounds] == [
        [ln.seconds for ln in r] for r in c.rounds
    ]
    assert [k.value for k in again.checks()] == [k.value for k in c.checks()]
