"""Which chunks a loader takes: all of them, or one shard's share.

Shard ``i`` of ``n`` loads the chunks ``c`` with ``c % n == i``. Round-robin keeps the
shards' work equal (only the last chunk is short) and needs no coordination: the union
of the n shards is every chunk exactly once, so it is the same dataset as one load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pgbulk.errors import ParameterError


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
