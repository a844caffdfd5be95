"""Progress output: a redrawn line on a terminal, plain lines in logs, nothing when quiet."""

from __future__ import annotations

import io

from pgbulk.progress import LineProgress, Progress, TerminalProgress, for_terminal


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_line_shows_phase_rows_rate_and_eta() -> None:
    out = Tty()
    p = TerminalProgress(out)
    p.phase("load", total_rows=1_000)
    p.advance(250)
    p.close()
    text = out.getvalue()
    assert "\r" in text and text.endswith("\n")
    last = text.rstrip("\n").split("\r")[-1]
    assert (
        last.startswith("load:")
        and "250/1,000 rows" in last
        and "M rows/s" in last
        and "ETA" in last
    )


def test_terminal_message_starts_on_its_own_line() -> None:
    out = Tty()
    p = TerminalProgress(out)
    p.phase("load", total_rows=10)
    p.message("worker 0: retry")
    assert "\nworker 0: retry\n" in out.getvalue()


def test_choice_of_progress() -> None:
    assert type(for_terminal(quiet=True, stream=Tty())) is Progress
    assert isinstance(for_terminal(quiet=False, stream=Tty()), TerminalProgress)
    assert isinstance(for_terminal(quiet=False, stream=io.StringIO()), LineProgress)


def test_log_lines_have_no_carriage_returns() -> None:
    out = io.StringIO()
    p = LineProgress(out, every=0.0)
    p.phase("load", total_rows=100)
    p.advance(40)
    p.message("estimated size on disk: 1.00 GiB")
    lines = out.getvalue().splitlines()
    assert lines[0] == "pgbulk: load: started"
    assert lines[1].startswith("pgbulk: load: 40 rows")
    assert lines[2] == "pgbulk: estimated size on disk: 1.00 GiB"
    assert "\r" not in out.getvalue()
