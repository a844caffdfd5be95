"""Shards: n concurrent ``pgbulk load`` processes into one database, as n tasks of a job.

Their union must be the dataset of one load, the constraints must be built exactly
once, by the shard that completes the ledger or by ``pgbulk finalize``, and a killed
finalizer must be taken over by the next one (a job engine retrying the task).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgbulk.plan import Shard, chunks_for_shard
from tests.integration import loaders
from tests.integration.loaders import CHUNKS, assert_complete, connect, load_args

SEED = 31


@pytest.fixture
def workdir() -> Iterator[Path]:
    with loaders.scratch() as path:
        yield path


def _start_shards(dsn: str, workdir: Path) -> list[loaders.Loader]:
    """Shard 0 from --shard, 1 as a Cloud Run task, 2 as a Kubernetes Indexed Job pod."""
    args = load_args(dsn, seed=SEED)
    return [
        loaders.start([*args, "--shard", "0/3"], workdir),
        loaders.start(
            args, workdir, env={"CLOUD_RUN_TASK_INDEX": "1", "CLOUD_RUN_TASK_COUNT": "3"}
        ),
        loaders.start(args, workdir, env={"JOB_COMPLETION_INDEX": "2", "PGBULK_SHARD_COUNT": "3"}),
    ]


def test_three_concurrent_shards_make_the_dataset_of_one_load(db18_dsn: str, workdir: Path) -> None:
    shards = _start_shards(db18_dsn, workdir)
    for shard in shards:
        assert shard.wait() == 0, shard.stderr
    reports = [s.report() for s in shards]

    for i, report in enumerate(reports):
        assert report["shard"] == f"{i}/3"
        assert report["chunks_loaded"] == len(chunks_for_shard(CHUNKS, Shard(i, 3)))
    builders = [r for r in reports if r["step_seconds"]]
    assert len(builders) == 1  # the constraints were built exactly once
    assert builders[0]["state"] == "complete"
    assert_complete(db18_dsn, seed=SEED)


def _shards_with_the_finalizer_killed(dsn: str, workdir: Path) -> list[tuple[str, str, int]]:
    """Run the shards, kill the one building the constraints half-way; return what it built."""
    shards = _start_shards(dsn, workdir)
    loaders.wait_for_chunks(shards[0], dsn, n=1)
    with loaders.phone_numbers_locked(dsn):
        loaders.wait_for_blocked_constraints(shards, dsn)
        for shard in shards:
            if shard.running:
                shard.signal_group(signal.SIGKILL)
            shard.wait()
        assert loaders.wait_for_no_sessions(dsn) == []
    assert loaders.ledger_state(dsn) == "finalizing"
    built = loaders.constraints(dsn)
    assert ("users_pkey", "p") in [(n, t) for n, t, _ in built]
    assert len(built) < 7
    return built


def test_finalize_builds_what_a_killed_finalizing_shard_left_then_does_nothing(
    db18_dsn: str, workdir: Path
) -> None:
    built = _shards_with_the_finalizer_killed(db18_dsn, workdir)

    finalized = loaders.run(["finalize", "--dsn", db18_dsn], workdir)
    assert finalized.proc.returncode == 0, finalized.stderr
    assert finalized.stdout == "schema public: complete\n"
    after = loaders.constraints(db18_dsn)
    assert set(built) <= set(after)  # what was built was kept, not rebuilt (same oids)
    assert_complete(db18_dsn, seed=SEED)

    with connect(db18_dsn) as conn:
        completed_at = conn.execute("SELECT completed_at FROM pgbulk.datasets").fetchone()
    again = loaders.run(["finalize", "--dsn", db18_dsn], workdir)
    assert again.proc.returncode == 0, again.stderr
    assert loaders.constraints(db18_dsn) == after
    with connect(db18_dsn) as conn:
        assert conn.execute("SELECT completed_at FROM pgbulk.datasets").fetchone() == completed_at


def test_a_retried_shard_takes_over_from_a_killed_finalizer(db18_dsn: str, workdir: Path) -> None:
    _shards_with_the_finalizer_killed(db18_dsn, workdir)

    # The job engine retries the failed task: the same command, the same shard.
    env = {"CLOUD_RUN_TASK_INDEX": "1", "CLOUD_RUN_TASK_COUNT": "3"}
    retried = loaders.start(load_args(db18_dsn, seed=SEED), workdir, env=env)
    assert retried.wait() == 0, retried.stderr
    report = retried.report()
    assert report["chunks_loaded"] == 0
    assert report["state"] == "complete"
    assert "users_pkey" not in report["step_seconds"]
    assert_complete(db18_dsn, seed=SEED)


def test_a_shard_of_another_dataset_is_refused_while_the_tables_are_still_empty(
    db18_dsn: str, workdir: Path
) -> None:
    # One task of the job was given other options (a typo, a rolling update). It starts
    # after the first shard has set up the tables but before any chunk is committed.
    first = loaders.start([*load_args(db18_dsn, seed=SEED), "--shard", "0/2"], workdir)
    loaders.wait_for_dataset(first, db18_dsn)
    first.signal_group(signal.SIGSTOP)
    try:
        args = [*load_args(db18_dsn, seed=SEED + 1), "--shard", "1/2"]
        other = loaders.run(args, workdir)
        assert other.proc.returncode == 2
        assert "holds a different pgbulk dataset (contacts seed=31 scale=50,000" in other.stderr
    finally:
        first.signal_group(signal.SIGCONT)
    assert first.wait() == 0, first.stderr

    second = loaders.run([*load_args(db18_dsn, seed=SEED), "--shard", "1/2"], workdir)
    assert second.proc.returncode == 0, second.stderr
    assert_complete(db18_dsn, seed=SEED)
