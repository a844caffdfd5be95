"""What load workers tell their parent, one dataclass per kind of message (sent through a queue)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loaded:
    """A unit committed, with its ledger row; ``rows``: those it sent, per table."""

    worker: int
    chunk: int
    rows: dict[str, int]
    nbytes: int
    seconds: float


@dataclass(frozen=True)
class Skipped:
    """A unit was already committed (by this worker before its connection dropped, or another)."""

    worker: int
    chunk: int


@dataclass(frozen=True)
class Retry:
    """A unit's connection failed; the worker tries again after ``delay`` seconds."""

    worker: int
    chunk: int
    attempt: int
    reason: str
    delay: float


@dataclass(frozen=True)
class Failed:
    """The worker stopped on an error; the parent stops the load."""

    worker: int
    message: str


@dataclass(frozen=True)
class Done:
    """The worker found no more units."""

    worker: int


@dataclass(frozen=True)
class TableCopied:
    """A fresh load's writer sent one unit's rows of its table (committed with the table)."""

    worker: int
    table: str
    chunk: int
    rows: int
    nbytes: int


@dataclass(frozen=True)
class TableCommitted:
    """A fresh load's writer committed its whole table, with its ledger row."""

    worker: int
    table: str
    rows: int
    nbytes: int
    already: bool = False  # committed before the connection dropped, found in the ledger


@dataclass(frozen=True)
class TableRetry:
    """A writer's connection failed: its table's transaction rolled back, and starts again."""

    worker: int
    table: str
    attempt: int
    reason: str
    delay: float


Message = Loaded | Skipped | Retry | Failed | Done | TableCopied | TableCommitted | TableRetry
