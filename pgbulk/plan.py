"""The units of work of a dataset, and which of them a loader takes: all, or one shard's share.

A unit (the ledger's *chunk*) is ``chunk_rows`` consecutive rows of one top-level table
and every row made under them. Units are numbered through the top-level tables in
model order; shard ``i`` of ``n`` loads the units ``c`` with ``c % n == i``. Round-robin
keeps the shards' work equal (only the last unit of a table is short) and needs no
coordination: the union of the n shards is every unit exactly once, so it is the same
dataset as one load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pgbulk.errors import ParameterError
from pgbulk.model import Dataset


@dataclass(frozen=True)
class Unit:
    """Unit ``number``: rows ``first_row .. first_row + rows - 1`` of ``table``, its
    ``chunk``-th unit, and every row made under them."""

    number: int
    table: str
    chunk: int
    first_row: int
    rows: int


class Plan:
    """The units of (dataset, scale), computed on demand (a huge scale has many)."""

    def __init__(self, dataset: Dataset, scale: int) -> None:
        self.dataset = dataset
        self.scale = dataset.check_scale(scale)
        self._tables: list[tuple[str, int, int]] = []  # (table, rows, first unit number)
        units = 0
        for table in dataset.roots:
            rows = dataset.root_rows(table, scale)
            self._tables.append((table.name, rows, units))
            units += -(-rows // dataset.chunk_rows)
        self.count = units

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Unit]:
        return (self.unit(i) for i in range(self.count))

    def unit(self, number: int) -> Unit:
        if not 0 <= number < self.count:
            raise IndexError(f"unit {number} is outside 0..{self.count - 1}")
        size = self.dataset.chunk_rows
        for table, rows, first in reversed(self._tables):
            if number >= first:
                chunk = number - first
                start = chunk * size
                return Unit(number, table, chunk, start, min(size, rows - start))
        raise AssertionError("unreachable: unit numbers start at 0")

    def root_rows(self) -> dict[str, int]:
        """Rows of each top-level table."""
        return {table: rows for table, rows, _ in self._tables}


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ParameterError(
                "shard", f"{self.index}/{self.count}", "must be i/n with n >= 1 and 0 <= i < n"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise ParameterError("shard", text, "must be i/n, for example 0/3")
        return cls(int(m.group(1)), int(m.group(2)))


def shard_from_env(environ: Mapping[str, str]) -> Shard | None:
    """The shard a job engine assigned: Cloud Run Jobs, or Kubernetes Indexed Jobs.

    Cloud Run sets CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT. A Kubernetes Indexed
    Job sets JOB_COMPLETION_INDEX; its count is not in the environment, so the job spec
    passes it as PGBULK_SHARD_COUNT.
    """
    pairs = (
        ("CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT"),
        ("JOB_COMPLETION_INDEX", "PGBULK_SHARD_COUNT"),
    )
    for index_var, count_var in pairs:
        if index_var in environ:
            if count_var not in environ:
                raise ParameterError(
                    count_var, None, f"must be set when {index_var} is (the number of shards)"
                )
            return Shard(_env_int(environ, index_var), _env_int(environ, count_var))
    return None


def _env_int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise ParameterError(name, environ[name], "must be an integer") from None


def chunks_for_shard(chunks: int, shard: Shard | None) -> list[int]:
    if shard is None:
        return list(range(chunks))
    return list(range(shard.index, chunks, shard.count))
