"""Shards: parsing ``i/n``, reading a job engine's environment, splitting the chunks."""

from __future__ import annotations

import pytest

from pgbulk.errors import ParameterError
from pgbulk.plan import Shard, chunks_for_shard, shard_from_env

CLOUD_RUN_COUNT = "CLOUD_RUN_TASK_COUNT"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0/3", Shard(0, 3)), ("2/3", Shard(2, 3)), (" 1 / 2 ", Shard(1, 2)), ("0/1", Shard(0, 1))],
)
def test_parse_reads_index_and_count(text: str, expected: Shard) -> None:
    assert Shard.parse(text) == expected
    assert Shard.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3/3", "0 <= i < n"),
        ("5/3", "0 <= i < n"),
        ("0/0", "n >= 1"),
        ("-1/3", "for example 0/3"),
        ("1", "for example 0/3"),
        ("1/2/3", "for example 0/3"),
        ("a/b", "for example 0/3"),
        ("", "for example 0/3"),
    ],
)
def test_parse_refuses_what_is_not_a_shard(text: str, why: str) -> None:
    with pytest.raises(ParameterError, match="invalid shard") as e:
        Shard.parse(text)
    assert why in str(e.value)


def test_no_job_engine_means_no_shard() -> None:
    assert shard_from_env({}) is None
    assert shard_from_env({"PGBULK_SHARD_COUNT": "3"}) is None  # a count alone names no shard


def test_cloud_run_task_index_and_count() -> None:
    env = {"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "3"}
    assert shard_from_env(env) == Shard(2, 3)


def test_kubernetes_indexed_job_with_the_count_passed_by_the_job_spec() -> None:
    env = {"JOB_COMPLETION_INDEX": "4", "PGBULK_SHARD_COUNT": "5"}
    assert shard_from_env(env) == Shard(4, 5)


def test_cloud_run_wins_when_both_engines_are_set() -> None:
    env = {
        "CLOUD_RUN_TASK_INDEX": "1",
        "CLOUD_RUN_TASK_COUNT": "2",
        "JOB_COMPLETION_INDEX": "0",
        "PGBULK_SHARD_COUNT": "7",
    }
    assert shard_from_env(env) == Shard(1, 2)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"CLOUD_RUN_TASK_INDEX": "0"}, "CLOUD_RUN_TASK_COUNT"),
        ({"JOB_COMPLETION_INDEX": "0"}, "PGBULK_SHARD_COUNT"),
    ],
)
def test_an_index_without_its_count_is_an_error_naming_the_count(
    env: dict[str, str], names: str
) -> None:
    with pytest.raises(ParameterError, match=f"invalid {names}=None: must be set when"):
        shard_from_env(env)


@pytest.mark.parametrize(
    ("env", "bad"),
    [
        ({"CLOUD_RUN_TASK_INDEX": "one", CLOUD_RUN_COUNT: "3"}, "CLOUD_RUN_TASK_INDEX='one'"),
        ({"CLOUD_RUN_TASK_INDEX": "0", CLOUD_RUN_COUNT: "three"}, "CLOUD_RUN_TASK_COUNT='three'"),
        ({"JOB_COMPLETION_INDEX": "", "PGBULK_SHARD_COUNT": "3"}, "JOB_COMPLETION_INDEX=''"),
        ({"JOB_COMPLETION_INDEX": "0", "PGBULK_SHARD_COUNT": "3x"}, "PGBULK_SHARD_COUNT='3x'"),
    ],
)
def test_a_non_integer_is_reported_under_its_own_name(env: dict[str, str], bad: str) -> None:
    with pytest.raises(ParameterError, match=f"invalid {bad}: must be an integer"):
        shard_from_env(env)


def test_an_index_outside_the_count_is_refused() -> None:
    with pytest.raises(ParameterError, match="invalid shard='3/3'"):
        shard_from_env({"CLOUD_RUN_TASK_INDEX": "3", "CLOUD_RUN_TASK_COUNT": "3"})


def test_no_shard_takes_every_chunk_in_order() -> None:
    assert chunks_for_shard(5, None) == [0, 1, 2, 3, 4]
    assert chunks_for_shard(0, None) == []


def test_shard_takes_the_chunks_congruent_to_its_index() -> None:
    assert chunks_for_shard(10, Shard(1, 3)) == [1, 4, 7]
    assert chunks_for_shard(2, Shard(2, 3)) == []  # more shards than chunks: nothing to load


@pytest.mark.parametrize("chunks", [0, 1, 2, 7, 30, 100, 101])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 16, 200])
def test_shards_split_the_chunks_exactly_once_and_evenly(chunks: int, count: int) -> None:
    shares = [chunks_for_shard(chunks, Shard(i, count)) for i in range(count)]
    flat = [c for share in shares for c in share]
    assert sorted(flat) == list(range(chunks))  # the union is every chunk, none twice
    assert len(flat) == len(set(flat))
    sizes = [len(s) for s in shares]
    assert max(sizes) - min(sizes) <= 1
    assert all(share == sorted(share) for share in shares)
