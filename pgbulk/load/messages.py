"""What load workers tell their parent, one dataclass per kind of message (sent through a queue)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loaded:
    """A unit committed, with its ledger row."""

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


Message = Loaded | Skipped | Retry | Failed | Done
