"""Progress on a terminal: phase, rows, rows/s, ETA. Silent when not wanted.

The loader reports through the small :class:`Progress` interface, so a library user can
plug in their own (a logger, a notebook widget) and tests can record what was said.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Receives the loader's progress. The base class ignores everything."""

    def phase(self, name: str, total_rows: int | None = None) -> None:
        """A new phase starts (``load``, ``constraints``, ``analyze``)."""

    def advance(self, rows: int) -> None:
        """More rows were committed."""

    def message(self, text: str) -> None:
        """Something worth a line of its own (a retry, an estimate)."""

    def close(self) -> None:
        """The run is over."""


class TerminalProgress(Progress):
    """One self-overwriting status line on a terminal, redrawn at most every 0.2 s."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.name = ""
        self.total: int | None = None
        self.rows = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.width = 0

    def phase(self, name: str, total_rows: int | None = None) -> None:
        self._end_line()
        self.name, self.total, self.rows, self.started = name, total_rows, 0, time.monotonic()
        self._draw(force=True)

    def advance(self, rows: int) -> None:
        self.rows += rows
        self._draw()

    def message(self, text: str) -> None:
        self._end_line()
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        self._draw(force=True)
        self._end_line()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn < 0.2:
            return
        self.drawn = now
        elapsed = max(now - self.started, 1e-9)
        line = f"{self.name}: {elapsed:6.1f} s"
        if self.total is not None:
            rate = self.rows / elapsed
            pct = min(100.0, 100.0 * self.rows / self.total) if self.total else 100.0
            line += f"  {self.rows:,}/{self.total:,} rows ({pct:5.1f}%)  {rate / 1e6:5.2f}M rows/s"
            if 0 < self.rows < self.total and rate > 0:
                line += f"  ETA {(self.total - self.rows) / rate:5.1f} s"
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def _end_line(self) -> None:
        if self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


class LineProgress(Progress):
    """Plain lines for logs (a job's output, a pipe): phases, messages, rows every 10 s."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 10.0) -> None:
        self.stream = stream
        self.every = every
        self.name = ""
        self.rows = 0
        self.started = self.printed = time.monotonic()

    def phase(self, name: str, total_rows: int | None = None) -> None:
        self.name, self.rows, self.started = name, 0, time.monotonic()
        self.printed = self.started
        self.message(f"{name}: started")

    def advance(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self.printed >= self.every:
            self.printed = now
            rate = self.rows / max(now - self.started, 1e-9)
            self.message(f"{self.name}: {self.rows:,} rows, {rate / 1e6:.2f}M rows/s")

    def message(self, text: str) -> None:
        print(f"pgbulk: {text}", file=self.stream, flush=True)


def for_terminal(quiet: bool, stream: TextIO = sys.stderr) -> Progress:
    """A progress line on a terminal, plain lines elsewhere, nothing when quiet."""
    if quiet:
        return Progress()
    return TerminalProgress(stream) if stream.isatty() else LineProgress(stream)
